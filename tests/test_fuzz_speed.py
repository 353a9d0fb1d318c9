"""Issue 14's fuzzer-speed changes keep what a run does: the option draws straight
from the ConjectureData are Hypothesis's own ``st.integers`` draws (a seeded run,
generation and shrinking, is the same run), and a kept schedule's first new pair
is where its reads-from pairs say."""

import random

from hypothesis import strategies as st

import fuzz.machine as machine
from fuzz.guided import GuidedSearch, rf_pairs, rf_pairs_at
from fuzz.oracle import Oracle
from models.engine import Execution, Picked
from models.scenario import Scenario, build
from models.variants import BY_NAME


def test_direct_draws_are_the_strategy_draws(monkeypatch):
    v = BY_NAME["A-no-wmb"]
    sc = Scenario.default_for(v)
    fast = machine.fuzz(v, sc, max_examples=150, seed=5, guided=False, database=None)
    monkeypatch.setattr(machine, "_index_drawer", lambda data: (lambda hi: data.draw(st.integers(0, hi))))
    slow = machine.fuzz(v, sc, max_examples=150, seed=5, guided=False, database=None)
    assert (fast.verdict, fast.examples, fast.steps) == (slow.verdict, slow.examples, slow.steps)
    assert fast.failure.execution.path == slow.failure.execution.path


def test_kept_schedules_record_the_step_of_their_first_new_pair():
    v = BY_NAME["C"]
    world = build(v, Scenario.default_for(v))
    search = GuidedSearch(world, Oracle(world), 90, random.Random(1))
    for _ in range(60):
        assert search.run() is None
    assert len(search.kept) == len(search.kept_new) > 2
    covered = set()
    for schedule, at in zip(search.kept[1:], search.kept_new[1:]):
        ex = Execution(world.threads)
        for tid, i in schedule:
            ex.schedule(ex.runnable(), tid)
            ex.step(tid, Picked(i))
        pairs = rf_pairs_at(ex)
        assert set(pairs) == rf_pairs(ex)
        new = set(pairs) - covered
        assert new and at == min(pairs[p] for p in new) and 0 <= at < len(schedule)
        covered |= new


def _guided(name, seed, runs, snapshots, monkeypatch):
    import fuzz.guided as guided
    monkeypatch.setattr(guided, "SNAPSHOTS", snapshots)
    v = BY_NAME[name]
    world = build(v, Scenario.default_for(v))
    oracle = Oracle(world)
    races = []
    search = GuidedSearch(world, oracle, 2 * machine.sc_length(world) + 20, random.Random(seed),
                          on_race=(lambda r, ex: races.append((r.first, r.second, ex.steps, tuple(ex.path))))
                          if oracle.races_modelled else None)
    f = None
    for _ in range(runs):
        f = search.run()
        if f is not None:
            break
    return (search.runs, search.steps, search.lookups, search.window_cuts, search.kept, search.kept_new, races,
            None if f is None else (f.execution.path, f.violation.rule)), len(search.snapshots)


def test_runs_from_a_snapshot_are_the_runs_a_replayed_prefix_makes(monkeypatch):
    """A run whose parent has a snapshot forks it instead of replaying the prefix:
    the same runs, counts, kept schedules, races and failure as without snapshots."""
    for name, seed in (("C-foreign-mm-put", 0), ("B-as-merged", 1), ("A-no-wmb", 2)):
        without, none = _guided(name, seed, 400, 0, monkeypatch)
        with_, taken = _guided(name, seed, 400, 256, monkeypatch)
        assert none == 0 and taken > 0, name
        assert with_ == without, name
        if name == "C-foreign-mm-put":
            assert with_[-1] is not None         # found in those runs
        if name == "B-as-merged":
            assert with_[6]                      # and races seen, before the prefix's end too
