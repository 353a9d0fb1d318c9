"""The model-aware shrinking pass (fuzz/minimize.py) on a saved counterexample:
the same bug one writer cycle later than it needs to be."""

from pathlib import Path

import pytest

from fuzz import minimize as minimize_mod
from fuzz.corpus import entry_for, load, replay, resolve_variant
from fuzz.exhaustive import check_variant
from fuzz.minimize import minimize
from models.scenario import build

LATER = Path(__file__).resolve().parent / "data" / "b-acquire-retry-later-cycle.json"


@pytest.fixture(scope="module")
def later():
    entry = load(LATER)
    variant = resolve_variant(entry, str(LATER))
    r = replay(entry, variant)
    assert r.reproduces, r.reason
    return entry, variant, r


def test_the_saved_run_reads_a_later_cycle(later):
    entry, _, r = later
    assert entry.scenario.cycles == 3 and r.execution.steps == 40
    cycles = {r.execution.events[c.source].ghost.cycle for c in r.violation.consumed
              if c.source is not None and r.execution.events[c.source].ghost is not None
              and r.execution.events[c.source].ghost.writer >= 0}
    assert 1 in cycles


def test_one_cycle_earlier_reaches_the_explorers_shortest(later):
    entry, variant, r = later
    world = build(variant, entry.scenario)
    v, ex = minimize(world, r.violation, r.execution)
    assert ex.steps == check_variant(variant, entry.scenario).shortest_steps == 20
    assert v.rule == r.violation.rule
    # the shorter run is an ordinary one: it replays to the same violation
    again = replay(entry_for(variant, entry.scenario, v, ex), variant)
    assert again.reproduces, again.reason


def test_without_the_cycle_shift_the_run_stays_long(later, monkeypatch):
    entry, variant, r = later
    monkeypatch.setattr(minimize_mod, "_one_cycle_earlier", lambda *a: None)
    _, ex = minimize(build(variant, entry.scenario), r.violation, r.execution)
    assert ex.steps == 40


def test_a_long_run_is_shrunk_within_its_step_budget(monkeypatch):
    """A-narrow-seq's 8-bit wrap (4,872 steps): the reader's loads are tried first,
    each against its nearest other stores, and the pass stops at its budget (a few
    trials here) with a shorter run that replays."""
    import random

    import attrs

    from fuzz.guided import GuidedSearch
    from fuzz.machine import sc_length
    from fuzz.oracle import Oracle
    from models.scenario import Scenario
    from models.variants import BY_NAME

    v = BY_NAME["A-narrow-seq"]
    sc = attrs.evolve(Scenario.default_for(v), width=8, cycles=256)
    world = build(v, sc)
    search = GuidedSearch(world, Oracle(world), 2 * sc_length(world) + 20, random.Random(0))
    f = search.run()
    assert f is not None and f.execution.steps == 4872
    trials = []
    lazily = minimize_mod._replay_lazily
    monkeypatch.setattr(minimize_mod, "_replay_lazily", lambda *a, **k: trials.append(1) or lazily(*a, **k))
    monkeypatch.setattr(minimize_mod, "LONG_TRY_STEPS", 8 * 4872)
    got_v, ex = minimize(world, f.violation, f.execution)
    assert len(trials) <= 1 + 8
    # shorter than the lazy replay alone (4,867): one of the reader's loads moved
    assert ex.steps < 4867 and got_v.rule == "torn version"
    again = replay(entry_for(v, sc, got_v, ex), v)
    assert again.reproduces, again.reason
