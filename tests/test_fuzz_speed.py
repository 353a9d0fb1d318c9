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
