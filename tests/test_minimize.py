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
