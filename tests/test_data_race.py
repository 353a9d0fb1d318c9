"""Data races as a finding of protocol runs (rule "data race"), and B-as-merged.

Two kinds of tests. Those about B-as-merged and B judge races with the model's own
``memory.data_races`` (skipped, and saying so, in a checkout without it). Those
about the plumbing (the explorer, the fuzzer, the corpus, the reports) inject
``any_plain_conflict``, a deliberately crude finder of the same signature, so that
they test what the drivers do with a race whatever the model decides; it is a test
double, never a definition of a race.
"""

import json
import re
from pathlib import Path

import pytest

from fuzz.cli import main
from fuzz.corpus import (CorpusError, collect, entries_from_explorer, entry_for, load, parse, replay,
                         resolve_variant, save)
from fuzz.exhaustive import check_variant
from fuzz.machine import PROFILE_CI, fuzz
from fuzz.oracle import DATA_RACE, TORN, DataRace, Oracle, matches_expected
from fuzz.report import race_accesses, render_race, render_trace
from models import memory
from models.engine import Execution, FirstChooser
from models.events import PLAIN
from models.ops import plain_read
from models.protocols import ProtocolB
from models.scenario import Scenario, build
from models.variants import BY_NAME

MODEL = getattr(memory, "data_races", None)
needs_model = pytest.mark.skipif(MODEL is None, reason="models/memory.py has no data_races in this checkout")

MERGED = BY_NAME["B-as-merged"]
PLAIN_FIELDS = {"vm_pgoff", "vm_start", "f_inode"}


def any_plain_conflict(g):
    """Test double: every pair of conflicting accesses of two threads, one of them
    plain, ordered or not."""
    evs = [e for e in g.events if e.kind in "RW" and e.tid >= 0]
    return [(a.eid, b.eid) for a in evs for b in evs
            if a.eid < b.eid and a.loc is b.loc and a.tid != b.tid and "W" in (a.kind, b.kind)
            and (PLAIN in a.tags or PLAIN in b.tags)]


class RacyPeek(ProtocolB):
    """Protocol B plus a plain read of mm_lock_seq whose value is never used: it
    races with the writer's count stores and cannot change any lookup's outcome."""

    name = "test-racy-peek"
    expected = DATA_RACE

    def try_begin(self):
        yield plain_read(self.mm.mm_lock_seq)
        return (yield from super().try_begin())


def assert_both_accesses(race, ex):
    acc = race_accesses(race, ex)
    assert len(acc) == 2
    a, b = acc
    assert a["location"] == b["location"]
    assert a["tid"] != b["tid"]
    assert "write" in (a["access"], b["access"])
    assert a["plain"] or b["plain"]
    assert 1 <= a["step"] <= b["step"] <= ex.steps
    return acc


# ---------------------------------------------------------------- B-as-merged, with the model

@needs_model
def test_b_as_merged_exploration_reports_the_race_with_both_accesses():
    r = check_variant(MERGED, Scenario.default_for(MERGED))
    assert r.race is not None
    acc = assert_both_accesses(r.race, r.race_execution)
    field = acc[0]["location"].split("->")[1]
    assert field in PLAIN_FIELDS
    # the plain access is the merged code's: one of the plain fields, a "plain" primitive
    assert any(a["plain"] and a["primitive"].startswith("plain") for a in acc)
    assert matches_expected(MERGED.expected, r.verdict, True)
    # the race is one the model flags on the graph where it was found
    ex = r.race_execution
    assert (r.race.first, r.race.second) in {tuple(sorted(p)) for p in MODEL(ex.graph())}
    assert "data-race" in memory.flags(ex.graph())


@needs_model
def test_b_with_marked_accesses_has_no_race():
    b = BY_NAME["B"]
    r = check_variant(b, Scenario.default_for(b))
    assert r.verdict == "holds" and r.race is None
    assert r.to_json()["data_race"] is None


@needs_model
def test_a_race_that_changes_nothing_is_still_found():
    r = check_variant(RacyPeek, Scenario.default_for(RacyPeek))
    assert r.violation is None and r.verdict == DATA_RACE
    acc = assert_both_accesses(r.race, r.race_execution)
    assert acc[0]["location"] == "mm->mm_lock_seq"


@needs_model
def test_explore_cli_prints_the_race_and_exits_1(capsys):
    assert main(["explore", "B-as-merged", "--json"]) == 1
    obj = json.loads(capsys.readouterr().out)
    assert obj["data_race"] is not None and len(obj["data_race"]["accesses"]) == 2
    assert main(["explore", "B-as-merged", "--no-trace"]) == 1
    out = capsys.readouterr().out
    assert "DATA RACE:" in out and "(plain)" in out
    assert main(["explore", "B", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data_race"] is None


# ---------------------------------------------------------------- the drivers, with a test double

def test_a_race_never_hides_an_intact_violation():
    # B-no-rmb breaks the invariant; made plain, every run of it "races" for the
    # double, from the first lookup on. The explorer still finds the violation.
    class PlainNoRmb(BY_NAME["B-no-rmb"]):
        name = "test-plain-no-rmb"
        plain_fields = frozenset(PLAIN_FIELDS)

    r = check_variant(PlainNoRmb, Scenario.default_for(PlainNoRmb), data_races=any_plain_conflict)
    assert r.verdict == "violated" and r.violation is not None
    assert r.race is not None
    assert r.race_execution.steps <= r.execution.steps    # found first, reported second
    assert r.to_json()["rule"] == r.violation.rule
    assert not matches_expected("holds", r.verdict, True)


def test_matches_expected():
    assert matches_expected(DATA_RACE, "violated", True)
    assert matches_expected(DATA_RACE, DATA_RACE, True)
    assert not matches_expected(DATA_RACE, "holds", False)
    assert not matches_expected("holds", DATA_RACE, True)
    assert matches_expected("violated", "violated", True)


def test_a_graph_without_plain_accesses_is_not_asked():
    asked = []
    world = build(BY_NAME["B"], Scenario())
    ex = Execution(world.threads).run(FirstChooser())
    assert Oracle(world, lambda g: asked.append(g) or [(1, 2)]).race(ex) is None
    assert not asked


def test_race_report_names_both_accesses_threads_and_steps():
    r = check_variant(MERGED, Scenario.default_for(MERGED), data_races=any_plain_conflict)
    text = render_race(r.race, r.race_execution)
    lines = text.splitlines()
    assert lines[0].startswith("DATA RACE: ")
    steps = [line.split()[0] for line in lines if line.strip().startswith("#")]
    acc = race_accesses(r.race, r.race_execution)
    assert steps == [f"#{a['step']}" for a in acc]
    assert all(a["thread"] in text for a in acc)


def test_race_trace_saves_and_replays_to_the_same_race(tmp_path):
    entries = entries_from_explorer(RacyPeek, Scenario.default_for(RacyPeek),
                                    data_races=any_plain_conflict)
    (race_entry,) = [e for e in entries if e.expected.rule == DATA_RACE]
    assert race_entry.expected.reader is None and len(race_entry.expected.accesses) == 2
    path, new = save(race_entry, tmp_path, "B")
    assert new and load(path) == race_entry
    doc = json.loads(path.read_text())
    assert set(doc["expected"]) == {"rule", "steps", "accesses"}
    back = replay(load(path), RacyPeek, data_races=any_plain_conflict)
    assert back.reproduces, back.reason
    assert back.race is not None
    # another recorded pair does not reproduce, and says why
    (t1, s1), (t2, s2) = race_entry.expected.accesses
    import attrs
    other = attrs.evolve(race_entry, expected=attrs.evolve(race_entry.expected,
                                                           accesses=((t1, s1), (t2, s2 - 1))))
    again = replay(other, RacyPeek, data_races=any_plain_conflict)
    assert not again.reproduces and "a different data race" in again.reason
    # without a race finder a race entry cannot reproduce, and says so
    none = replay(race_entry, RacyPeek, data_races=lambda g: [])
    assert not none.reproduces and "no data race" in none.reason


@pytest.mark.parametrize("accesses,msg", [
    ([[0, 1]], "two [thread, step] pairs"),
    ([[0, 1], [1, 999]], "1 <= step <= steps"),
    ([[0, "1"], [1, 2]], "two [thread, step] pairs"),
])
def test_bad_race_entries_are_one_line(accesses, msg):
    e = entry_for(MERGED, Scenario(), DataRace(0, 1), _tiny_run())
    doc = json.loads(json.dumps(e.body()))
    doc["expected"]["accesses"] = accesses
    with pytest.raises(CorpusError, match="accesses") as info:
        parse(json.dumps(doc), "x.json")
    assert msg in str(info.value) and "\n" not in str(info.value)
    doc["expected"] = {"rule": DATA_RACE, "steps": 3, "reader": 1, "lookup": 0}
    with pytest.raises(CorpusError, match="exactly rule, steps, accesses"):
        parse(json.dumps(doc), "x.json")


def _tiny_run():
    world = build(MERGED, Scenario())
    ex = Execution(world.threads)
    ex.run(FirstChooser(), max_steps=3)
    return ex


def test_fuzzer_reports_a_race_only_variant_and_its_trace_replays(tmp_path):
    v = RacyPeek
    r = fuzz(v, Scenario.default_for(v), max_examples=60, profile=PROFILE_CI, database=None,
             data_races=any_plain_conflict)
    assert r.failure is None and r.verdict == DATA_RACE
    assert r.race is not None and r.races >= 1
    assert_both_accesses(r.race.race, r.race.execution)
    assert r.race.steps == r.race.execution.steps
    e = entry_for(v, r.scenario, r.race.race, r.race.execution)
    back = replay(e, v, data_races=any_plain_conflict)
    assert back.reproduces, back.reason


def test_fuzzer_with_a_violation_reports_it_and_the_race():
    v = MERGED
    r = fuzz(v, Scenario.default_for(v), max_examples=300, profile=PROFILE_CI, database=None,
             data_races=any_plain_conflict)
    assert r.verdict == "violated" and r.failure is not None
    assert r.race is not None
    assert matches_expected(v.expected, r.verdict, True)


def test_explorer_entries_are_the_violation_then_the_race(tmp_path):
    e = entries_from_explorer(MERGED, Scenario.default_for(MERGED), data_races=any_plain_conflict)
    rules = [x.expected.rule for x in e]
    assert rules[-1] == DATA_RACE and (len(rules) == 1 or rules[0] == TORN)
    path, _ = save(e[-1], tmp_path, "B")
    assert resolve_variant(load(path), str(path)) is MERGED


@needs_model
def test_a_race_in_a_partial_run_stays_in_its_newest_first_completion():
    # Oracle.race judges the graph built so far; its docstring argues that a race
    # found there is a race of the complete execution in which every later load
    # reads the newest store and every later store lands last in co. Check it on
    # every partial run of B-as-merged's exploration where a race is found.
    from models.explore import explore
    world = build(MERGED, Scenario.default_for(MERGED))
    oracle = Oracle(world)
    checked = []

    def prune(ex):
        r = oracle.race(ex)
        if r is not None and not ex.finished and len(checked) < 40:
            done = ex.fork().run(FirstChooser())
            assert done.finished
            assert (r.first, r.second) in {tuple(sorted(p)) for p in MODEL(done.graph())}
            checked.append(r)
        return len(checked) >= 40

    for _ in explore(Execution(world.threads), prune=prune, breadth_first=True):
        pass
    assert checked



CORPUS = Path(__file__).resolve().parent.parent / "corpus"
RACE_FILES = [p for p in collect([CORPUS]) if load(p).expected.rule == DATA_RACE]


@needs_model
@pytest.mark.parametrize("path", RACE_FILES, ids=lambda p: p.parent.name)
def test_shipped_race_traces_replay_and_print_both_accesses(path):
    e = load(path)
    r = replay(e, resolve_variant(e, str(path)))
    assert r.reproduces, r.reason
    lines = render_trace(r.execution).splitlines()[1:]
    labels = [int(m.group(1)) for ln in lines if (m := re.match(r"\s*#(\d+) ", ln))]
    assert labels == list(range(1, r.execution.steps + 1))
    text = render_race(r.race, r.execution)
    for tid, step in e.expected.accesses:
        assert re.search(rf"#{step}\s+{r.execution.threads[tid].spec.name}\s", text), text


def test_the_pair_complete_first_is_reported_and_the_rest_counted():
    world = build(MERGED, Scenario())
    ex = Execution(world.threads).run(FirstChooser())
    plain = [e.eid for e in ex.events if PLAIN in e.tags]
    assert len(plain) >= 3
    a, b, c = plain[:3]
    # in the relation's direction, repeated, out of order: normalised and ordered
    found = Oracle(world, lambda g: [(c, a), (b, a), (a, b), (c, b)]).race(ex)
    assert (found.first, found.second, found.more) == (a, b, 2)
    assert found.rule == DATA_RACE and found.at == len(ex.events)
