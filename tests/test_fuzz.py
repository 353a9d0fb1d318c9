"""The Hypothesis state machine and ``vmafuzz run``."""

import json
import textwrap

import pytest

import fuzz.run_cmd as run_cmd
from fuzz.cli import main
from fuzz.corpus import collect, load, replay, resolve_variant
from fuzz.machine import PROFILE_CI, fuzz
from models.scenario import Scenario
from models.variants import BY_NAME


def test_shrunk_counterexample_replays_without_hypothesis():
    v = BY_NAME["A-no-recheck"]
    r = fuzz(v, Scenario.default_for(v), max_examples=500, profile=PROFILE_CI, database=None)
    assert r.verdict == "violated"
    f = r.failure
    assert f.steps == f.execution.steps <= 40
    from fuzz.corpus import entry_for
    e = entry_for(v, r.scenario, f.violation, f.execution)
    back = replay(e, v)
    assert back.reproduces, back.reason


def test_holding_variant_runs_its_budget():
    v = BY_NAME["B"]
    r = fuzz(v, Scenario.default_for(v), max_examples=40, profile=PROFILE_CI, database=None)
    assert r.verdict == "holds" and r.failure is None
    assert r.examples >= 40 and r.steps > 40 and r.lookups >= 40


def test_seconds_budget_stops_generation():
    v = BY_NAME["A"]
    r = fuzz(v, Scenario.default_for(v), max_examples=10**6, seconds=1.0, profile=PROFILE_CI,
             database=None)
    assert r.verdict == "holds" and r.budget_spent and r.seconds < 5


def test_run_violation_exit_1_saves_corpus(tmp_path, capsys):
    rc = main(["run", "A-no-recheck", "--seed", "1", "--profile", "ci", "--json",
               "--corpus", str(tmp_path)])
    assert rc == 1
    obj = json.loads(capsys.readouterr().out)
    assert obj["verdict"] == "violated" and obj["rule"] and obj["steps"] >= 1
    assert obj["examples"] >= 1 and obj["seconds"] >= 0
    files = collect([tmp_path])
    assert [str(p) for p in files] == [obj["corpus_file"]]
    e = load(files[0])
    assert replay(e, resolve_variant(e, "f")).reproduces


def test_run_again_keeps_the_corpus_as_is(tmp_path, capsys):
    args = ["run", "A-no-recheck", "--seed", "1", "--profile", "ci", "--corpus", str(tmp_path)]
    assert main(args) == 1
    first = collect([tmp_path])
    capsys.readouterr()
    assert main(args[:3] + ["2"] + args[4:]) == 1          # another seed, the same bug
    assert collect([tmp_path]) == first
    assert "not saved: the corpus already has a counterexample as short" in capsys.readouterr().out


def test_no_lookup_finished_is_no_verdict(capsys, tmp_path):
    # A lookup takes about 19 operations: with 5 nothing is ever checked.
    rc = main(["run", "A-no-recheck", "--steps", "5", "--max-examples", "30", "--profile", "ci",
               "--corpus", str(tmp_path), "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert rc == 3 and obj["verdict"] == "inconclusive" and obj["lookups_checked"] == 0


def test_run_holds_exit_0_text(capsys, tmp_path):
    rc = main(["run", "B", "--max-examples", "30", "--profile", "ci", "--corpus", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "HOLDS over" in out and "examples" in out and "steps" in out and "lookups checked" in out


def test_ctrl_c_keeps_what_was_found(monkeypatch, tmp_path, capsys):
    real = run_cmd.fuzz

    def interrupted(variant, scenario, recorder=None, **kw):
        real(variant, scenario, recorder=recorder, **dict(kw, shrink=False))
        assert recorder.best is not None
        raise KeyboardInterrupt

    monkeypatch.setattr(run_cmd, "fuzz", interrupted)
    rc = main(["run", "A-no-recheck", "--profile", "ci", "--corpus", str(tmp_path)])
    assert rc == 130
    out = capsys.readouterr().out
    assert "interrupted" in out and "VIOLATION" in out and "not fully shrunk" in out
    assert len(collect([tmp_path])) == 1


@pytest.mark.parametrize("argv", [
    ["run", "A-nope"], ["run", "A", "--max-examples", "0"], ["run", "A", "--steps", "0"],
    ["run", "A", "--cycles", "0"], ["run", "A", "--seconds", "-1"], ["run", "A", "--seconds", "nan"],
    ["run", "A", "--seconds", "inf"], ["run", "A", "--vmas", "100000"], ["run", "A", "--readers", "9"],
    ["run", "A", "--cycles", "513", "--writers", "2"], ["run", "A", "--lookups", "9", "--readers", "8"],
    ["run", "A", "--width", "65"], ["explore", "B", "--spare-files", "5000"],
])
def test_bad_input_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err


def test_user_variant_file(tmp_path, capsys):
    f = tmp_path / "mine.py"
    f.write_text(textwrap.dedent('''
        from models.protocols import ProtocolA

        class NoRecheck(ProtocolA):
            name = "my-no-recheck"
            description = "skips the recheck"
            expected = "violated"

            def recheck(self, vma, sv):
                return True
                yield
    '''))
    rc = main(["run", f"{f}:my-no-recheck", "--profile", "ci", "--max-examples", "500",
               "--json", "--corpus", str(tmp_path / "c")])
    assert rc == 1
    path = json.loads(capsys.readouterr().out)["corpus_file"]
    e = load(path)
    assert e.variant_file == str(f) and e.variant_name == "my-no-recheck"
    assert replay(e, resolve_variant(e, path)).reproduces


def test_campaign_table_and_exit_status(tmp_path, capsys):
    # one worker: the variants finish in the order given (parallel runs: test_campaign_parallel.py)
    rc = main(["campaign", "A-no-recheck", "B", "--profile", "ci", "--max-examples", "60",
               "--corpus", str(tmp_path), "--workers", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "A-no-recheck" in out and "violated" in out and "all as expected" in out
    # captured stdout is no terminal: a progress line per finished variant, in order
    assert "[1/2] A-no-recheck: violated after" in out and "[2/2] B: holds after" in out
    assert out.index("[1/2]") < out.index("[2/2]") < out.index("all as expected")
    assert len(collect([tmp_path])) == 1
    assert main(["campaign", "no-such-variant"]) == 2


def test_a_long_run_is_cut_into_hypothesis_runs_and_stays_seeded(monkeypatch):
    """Memory (issue 14): Hypothesis's tree of tried choices is per Hypothesis run, so
    a long fuzz run is several of them; a seeded run is still the same run."""
    import fuzz.machine as machine
    monkeypatch.setattr(machine, "CHUNK_EXAMPLES", 20)
    calls = []
    real = machine.run_state_machine_as_test
    monkeypatch.setattr(machine, "run_state_machine_as_test",
                        lambda f, settings: (calls.append(settings.max_examples), real(f, settings=settings)))
    v = BY_NAME["B"]
    a, b = (fuzz(v, Scenario.default_for(v), max_examples=50, seed=4, database=None, guided=False)
            for _ in range(2))
    assert calls == [20, 20, 10] * 2
    assert a.verdict == "holds" and a.examples >= 50 and (a.examples, a.steps) == (b.examples, b.steps)
    # the chunks draw different examples, also in the derandomized profile
    assert len({machine._chunk_seed(v, None, PROFILE_CI, k) for k in range(1, 4)}) == 3
    assert machine._chunk_seed(v, 4, PROFILE_CI, 0) == 4
