"""The coverage-guided runs between Hypothesis's examples (fuzz/guided.py) and the
shrinking of what they find (docs/fuzzing.md)."""

import random

from fuzz.corpus import entry_for, replay
from fuzz.exhaustive import check_variant
from fuzz.guided import GuidedSearch, rf_pairs
from fuzz.machine import PROFILE_CI, fuzz, sc_run
from fuzz.minimize import schedule_of
from fuzz.oracle import Oracle
from models.engine import Execution, Picked, RandomChooser, ReplayChooser
from models.scenario import Scenario, build
from models.variants import BY_NAME

HARD = BY_NAME["C-foreign-mm-put"]


def test_the_guided_runs_find_and_shrink_what_hypothesis_alone_does_not():
    sc = Scenario.default_for(HARD)
    alone = fuzz(HARD, sc, max_examples=60, seed=3, guided=False, database=None)
    assert alone.verdict == "holds" and alone.guided_runs == 0
    r = fuzz(HARD, sc, max_examples=2000, seed=3, database=None)
    assert r.verdict == "violated" and r.found_by == "guided"
    assert r.failure.violation.rule == "use after free"
    assert 0 < r.guided_to_first <= r.guided_runs
    # shrunk to the explorer's shortest, and it replays with no Hypothesis and no search
    assert r.failure.steps == check_variant(HARD, sc).shortest_steps == 43
    e = entry_for(HARD, r.scenario, r.failure.violation, r.failure.execution)
    assert replay(e, HARD).reproduces
    assert "coverage-guided run" in r.bound(HARD)


def test_a_seeded_run_is_the_same_run():
    v = BY_NAME["C-no-range-check"]
    sc = Scenario.default_for(v)
    a, b = (fuzz(v, sc, max_examples=300, seed=11, database=None) for _ in range(2))
    assert a.found_by == b.found_by and a.guided_to_first == b.guided_to_first
    assert a.failure.execution.path == b.failure.execution.path


def test_ci_profile_seeds_the_guided_runs_from_the_variant():
    v = BY_NAME["A-no-wmb"]
    sc = Scenario.default_for(v)
    a, b = (fuzz(v, sc, max_examples=300, profile=PROFILE_CI, database=None, shrink=False)
            for _ in range(2))
    assert a.verdict == b.verdict == "violated"
    assert a.failure.execution.path == b.failure.execution.path


def test_coverage_is_reads_from_pairs_by_thread_and_place():
    v = BY_NAME["seqlock"]
    world = build(v, Scenario.default_for(v))
    ex = sc_run(world)
    pairs = rf_pairs(ex)
    assert len(pairs) == len(ex.rf)
    for read, write in pairs:
        assert read[0] >= 0 and ex.events[ex.threads[read[0]].events[read[1]]].kind in ("R", "RMW")
        assert write[0] == "init" or 0 <= write[0] < len(ex.threads)


def test_a_run_that_reaches_new_pairs_is_kept_and_replays():
    v = BY_NAME["B"]
    world = build(v, Scenario.default_for(v))
    search = GuidedSearch(world, Oracle(world), 200, random.Random(5))
    for _ in range(50):
        assert search.run() is None         # B holds
    assert 1 < len(search.kept) <= 51 and search.covered and search.lookups >= 50
    # a kept schedule, run again step by step, reaches the same pairs it was kept for
    for schedule in search.kept[1:4]:
        ex = Execution(world.threads)
        for tid, i in schedule:
            ready = ex.runnable()
            ex.schedule(ready, tid)
            ex.step(tid, Picked(i))
        assert rf_pairs(ex) <= search.covered


def test_schedule_of_replays_the_same_decisions():
    v = BY_NAME["C-no-mm-check"]
    world = build(v, Scenario.default_for(v))
    ex = Execution(world.threads)
    ex.run(RandomChooser(random.Random(2)), max_steps=40)
    sched = schedule_of(ex)
    assert [t for t, _ in sched] == ex.step_tids
    again = Execution(world.threads)
    again.run(ReplayChooser(ex.path), max_steps=ex.steps)
    assert again.path == ex.path


# --- long scenarios (issue 14): a counter that wraps only after hundreds of cycles

NARROW = BY_NAME["A-narrow-seq"]


def _wrap_world():
    """A-narrow-seq with 8-bit counts over 256 writer cycles: one wrap in the whole run."""
    import attrs
    return build(NARROW, attrs.evolve(Scenario.default_for(NARROW), width=8, cycles=256))


def _search_to_failure(world, seed, runs):
    from fuzz.machine import sc_length
    search = GuidedSearch(world, Oracle(world), 2 * sc_length(world) + 20, random.Random(seed))
    for _ in range(runs):
        f = search.run()
        if f is not None:
            return search, f
    return search, None


def test_a_long_scenario_draws_half_its_runs_in_the_aba_mode():
    import fuzz.guided as guided
    long = dict((m, w) for m, w in guided.LONG_MODES)
    aba = sum(w for m, w in long.items() if m.aba)
    assert aba * 2 == sum(long.values())
    # the short scenarios keep their table: ABA is 1 weight in 7
    assert sum(w for m, w in guided.MODES if m.aba) * 7 == sum(w for _, w in guided.MODES)
    # which table a run draws from is the run's length: the default scenario is short
    assert guided.LONG_STEPS > 2 * 200 + 20


def test_the_8_bit_wrap_is_found_by_the_long_scenario_modes(monkeypatch):
    import fuzz.guided as guided
    world = _wrap_world()
    search, f = _search_to_failure(world, 0, 3)
    assert f is not None and f.violation.rule == "torn version"
    assert search.runs <= 3 and f.execution.steps > 4800
    # the short-scenario table (ABA 1 in 7, no fresh starts) does not, in as many runs
    monkeypatch.setattr(guided, "LONG_STEPS", 10**9)
    _, f = _search_to_failure(world, 0, 3)
    assert f is None


def test_the_guided_shrinking_runs_fresh_searches(monkeypatch):
    """After the first failure the guided runs look for a shorter one as fresh
    searches (no kept schedule, no coverage), again every GUIDED_SHRINK_RESTART runs."""
    import fuzz.machine as machine
    monkeypatch.setattr(machine, "GUIDED_SHRINK_RUNS", 250)
    monkeypatch.setattr(machine, "GUIDED_SHRINK_FACTOR", 1)
    monkeypatch.setattr(machine, "GUIDED_SHRINK_RESTART", 100)
    restarts = []
    real = GuidedSearch.restart

    def restart(self):
        restarts.append((self.runs, len(self.kept)))
        real(self)
        assert self.kept == [()] and not self.covered and not self.snapshots
    monkeypatch.setattr(GuidedSearch, "restart", restart)
    v = BY_NAME["A-no-wmb"]
    r = fuzz(v, Scenario.default_for(v), max_examples=300, seed=1, database=None)
    assert r.verdict == "violated" and r.found_by == "guided"
    first, runs = r.guided_to_first, max(250, r.guided_to_first)
    assert [n for n, _ in restarts] == list(range(first, first + runs, 100))
    assert restarts[0][1] > 1          # the finding search had kept schedules
