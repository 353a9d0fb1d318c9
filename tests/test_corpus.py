"""The corpus format: strict loading, atomic content-named files, replay."""

import json

import attrs
import pytest

from fuzz.corpus import (FORMAT, VERSION, CorpusError, Entry, Expected, as_short_in_corpus,
                         entry_from_explorer, load, parse, replay, resolve_variant, save)
from models.engine import Decision
from models.scenario import Scenario
from models.variants import BY_NAME
from models.variants import resolve as resolve_variant_spec


@pytest.fixture(scope="module")
def entry():
    v = BY_NAME["A-no-recheck"]
    e = entry_from_explorer(v, Scenario.default_for(v))
    assert e is not None
    return e


def test_save_is_content_named_and_never_overwrites(entry, tmp_path):
    p1, new1 = save(entry, tmp_path, "A")
    p2, new2 = save(entry, tmp_path, "A")
    assert new1 and not new2 and p1 == p2
    assert p1.parent == tmp_path / "A" / "A-no-recheck"
    assert p1.stem == entry.digest()
    assert not [q for q in p1.parent.iterdir() if q.name.startswith(".tmp-")]
    assert load(p1) == entry


def test_round_trip_and_replay(entry, tmp_path):
    p, _ = save(entry, tmp_path, "A")
    back = load(p)
    assert back == entry
    r = replay(back, resolve_variant(back, str(p)))
    assert r.reproduces, r.reason
    assert r.execution.steps == entry.expected.steps


def _longer(entry):
    """A copy recorded as reaching the violation 5 steps later (only the length
    comparison reads it)."""
    return attrs.evolve(entry, expected=attrs.evolve(entry.expected, steps=entry.expected.steps + 5))


def test_as_short_trace_in_corpus_makes_a_new_one_redundant(entry, tmp_path):
    assert as_short_in_corpus(entry, tmp_path, "A") is None          # empty corpus
    p, _ = save(entry, tmp_path, "A")
    assert as_short_in_corpus(entry, tmp_path, "A") == p               # as short
    assert as_short_in_corpus(_longer(entry), tmp_path, "A") == p      # longer
    other_rule = attrs.evolve(entry, expected=attrs.evolve(entry.expected, rule="use after free"))
    assert as_short_in_corpus(other_rule, tmp_path, "A") is None
    bigger = attrs.evolve(entry, scenario=attrs.evolve(entry.scenario, readers=2))
    assert as_short_in_corpus(bigger, tmp_path, "A") is None


def test_a_longer_saved_trace_does_not_stop_a_shorter_one(entry, tmp_path):
    folder = tmp_path / "A" / entry.variant_name
    folder.mkdir(parents=True)
    longer = _longer(entry)
    (folder / "x.json").write_text(json.dumps(longer.body()))
    assert as_short_in_corpus(entry, tmp_path, "A") is None


def test_a_saved_trace_that_no_longer_reproduces_does_not_count(entry, tmp_path):
    ds = list(entry.decisions)
    i = next(k for k, d in enumerate(ds) if d.kind == "rf" and d.index > 0)
    ds[i] = Decision(ds[i].kind, ds[i].tid, ds[i].n, 0)
    broken = attrs.evolve(entry, decisions=tuple(ds))
    save(broken, tmp_path, "A")
    (tmp_path / "A" / entry.variant_name / "junk.json").write_text("{")
    assert as_short_in_corpus(entry, tmp_path, "A") is None


def test_an_extra_decision_after_the_violation_does_not_reproduce(entry):
    extra = attrs.evolve(entry, decisions=entry.decisions + (Decision("rf", 1, 2, 0),))
    r = replay(extra, BY_NAME[entry.variant_name])
    assert r.violation is not None and not r.reproduces
    assert "1 recorded decisions unused" in r.reason


def test_a_changed_decision_no_longer_reproduces(entry):
    ds = list(entry.decisions)
    i = next(k for k, d in enumerate(ds) if d.kind == "rf" and d.index > 0)
    ds[i] = Decision(ds[i].kind, ds[i].tid, ds[i].n, 0)   # read the newest store instead
    changed = Entry(entry.variant_name, None, entry.scenario, tuple(ds), entry.expected)
    r = replay(changed, BY_NAME[entry.variant_name])
    assert not r.reproduces and r.reason


def _doc(entry):
    return json.loads(json.dumps(entry.body()))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(version=2), "format version 2 is not supported"),
    (lambda d: d.update(format="other"), "not a vmafuzz corpus file"),
    (lambda d: d["variant"].update(name="A-no-such"), "unknown variant 'A-no-such'"),
    (lambda d: d["scenario"].update(cycles="2"), "scenario: cycles must be an integer"),
    (lambda d: d["scenario"].update(cycles=0), "scenario:"),
    (lambda d: d["scenario"].update(colour=1), "scenario: unknown field 'colour'"),
    (lambda d: d["scenario"].update(vmas=10_000_000), "scenario: --vmas must be at most 1024"),
    (lambda d: d["decisions"].append(["rf", 1, 2, 5]), "out of range"),
    (lambda d: d["decisions"].append(["jump", 1, 2, 0]), "kind 'jump'"),
    (lambda d: d["decisions"].append(["thread", 0, 2, 0]), "does not fit"),
    (lambda d: d["decisions"].append(["rf", True, 2, 0]), "must be integers"),
    (lambda d: d["expected"].update(rule="bad luck"), "expected.rule"),
    (lambda d: d["expected"].update(steps=0), "expected.steps"),
    (lambda d: d.pop("decisions"), "missing field 'decisions'"),
    (lambda d: d.update(extra=1), "unknown field 'extra'"),
])
def test_bad_fields_are_one_line_errors(entry, mutate, message):
    doc = _doc(entry)
    mutate(doc)
    with pytest.raises(CorpusError) as info:
        parse(json.dumps(doc), "x.json")
    text = str(info.value)
    assert text.startswith("x.json: ") and message in text and "\n" not in text


def test_truncated_json_names_the_position(entry):
    text = json.dumps(entry.body(), indent=1)
    with pytest.raises(CorpusError) as info:
        parse(text[: len(text) // 2], "cut.json")
    assert "cut.json: line " in str(info.value) and "column" in str(info.value)


def test_duplicate_keys_and_nan_are_rejected(entry):
    with pytest.raises(CorpusError, match="duplicate key"):
        parse('{"format": 1, "format": 2}', "d.json")
    with pytest.raises(CorpusError, match="NaN"):
        parse('{"format": NaN}', "n.json")


def test_format_constants():
    assert FORMAT == "vmafuzz-corpus" and VERSION == 1
    assert Expected("torn version", 3, 1, 0) == Expected("torn version", 3, 1, 0)


# A user's variant file: protocol A without the final vm_lock_seq recheck.
NO_RECHECK = (
    "from models.protocols import ProtocolA\n\n"
    "class NoRecheck(ProtocolA):\n"
    "    name = 'my-no-recheck'\n"
    "    def recheck(self, vma, sv):\n"
    "        return True\n"
    "        yield\n")


def test_a_user_variant_file_is_found_from_above_the_corpus_file(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / "mine").mkdir(parents=True)
    (checkout / "mine" / "v.py").write_text(NO_RECHECK)
    monkeypatch.chdir(checkout)
    v = resolve_variant_spec("mine/v.py:my-no-recheck")
    e = entry_from_explorer(v, Scenario.default_for(v))
    assert e.variant_file == "mine/v.py"
    path, _ = save(e, checkout / "corpus", v.protocol)
    monkeypatch.chdir(tmp_path)                       # elsewhere: mine/v.py is not here
    back = load(path)
    assert replay(back, resolve_variant(back, str(path))).reproduces
    (checkout / "mine" / "v.py").unlink()
    with pytest.raises(CorpusError, match="mine/v.py: no such file"):
        resolve_variant(back, str(path))


def test_replay_never_runs_a_protocol_file_a_corpus_file_names(tmp_path, monkeypatch, capsys):
    """Data never chooses code to run (issue 11, item 1): a corpus file naming a .py
    file is refused in one line unless the user names that file (--variant-file)."""
    from fuzz.cli import main
    mine = tmp_path / "mine"
    mine.mkdir()
    marker = tmp_path / "ran"
    # The file records that it ran (as a hostile file would do worse): it must not.
    (mine / "v.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n" + NO_RECHECK)
    monkeypatch.chdir(tmp_path)
    v = resolve_variant_spec("mine/v.py:my-no-recheck")
    path, _ = save(entry_from_explorer(v, Scenario.default_for(v)), tmp_path / "corpus", v.protocol)
    marker.unlink()
    save(entry_from_explorer(BY_NAME["A-no-wmb"], Scenario.default_for(BY_NAME["A-no-wmb"])),
         tmp_path / "corpus", "A")
    assert main(["replay", "--no-trace", str(tmp_path / "corpus")]) == 2
    err = capsys.readouterr()
    assert not marker.exists(), "replay imported a file that a corpus file named"
    lines = [line for line in err.err.splitlines() if line]
    assert len(lines) == 1 and "names the protocol file mine/v.py" in lines[0] and "Traceback" not in err.err
    assert "REPRODUCES" in err.out                    # the shipped-variant file still replayed
    assert main(["replay", "--no-trace", "--variant-file", "mine/v.py", str(path)]) == 0
    assert marker.exists()                            # named by the user: it runs
