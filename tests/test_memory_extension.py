"""memory.check_extension (the engine's incremental check, with its verdict
cache) must agree with the full memory.check on every candidate the engine asks
about."""

from pathlib import Path

import pytest

import models.memory as memory
from models.scenario import Scenario
from models.variants import BY_NAME
from fuzz.exhaustive import check_variant

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def compared(monkeypatch):
    calls = []
    original = memory.check_extension

    def both(g, new, cache=None):
        fast = original(g, new, cache)   # with the engine's verdict cache, as in real runs
        full = memory.check(g)
        calls.append((fast, full))
        assert (fast is None) == (full is None), f"extension check says {fast}, full check {full}"
        return fast

    monkeypatch.setattr(memory, "check_extension", both)
    return calls


def test_agrees_on_our_litmus_tests(compared):
    from models import litmus
    files = sorted((ROOT / "tests" / "litmus").glob("*.litmus"))
    assert files
    kernel = ROOT.parent / "shared" / "litmus" / "kernel"
    files += sorted(kernel.glob("*.litmus"))
    for f in files:
        litmus.run(litmus.parse_file(str(f)))
    assert any(fast is not None for fast, _ in compared)   # some candidates were refused


@pytest.mark.parametrize("name", ["A", "A-no-wmb", "B", "B-no-end-wmb", "B-early-rcu-unlock"])
def test_agrees_on_protocol_exploration(compared, name):
    v = BY_NAME[name]
    check_variant(v, Scenario.default_for(v), max_states=3000)
    assert any(fast is not None for fast, _ in compared)


def _long_world(cycles: int, lookups: int):
    """Protocol A with one writer x ``cycles`` and one reader x ``lookups``, built
    directly (past the scenario bounds when asked, as bench/scaling.py does)."""
    import attrs

    from models.scenario import build
    sc = object.__new__(Scenario)
    for a in attrs.fields(Scenario):
        object.__setattr__(sc, a.name, {"cycles": cycles, "lookups": lookups}.get(a.name, a.default))
    return build(BY_NAME["A"], sc)


def _scanned_floor(ex, tid, loc) -> int:
    """The engine's observed floor, from scratch (what _observed_floor keeps)."""
    order = ex.co[loc]
    floor = 0
    for eid in ex.threads[tid].events:
        e = ex.events[eid]
        if e.loc is not loc:
            continue
        w = eid if e.kind == "W" else ex.rf.get(eid)
        if w is not None and (e.kind != "W" or e.rmw not in ex.floating):
            floor = max(floor, order.index(w))
    return floor


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_on_a_long_random_run(compared, monkeypatch, seed):
    """A long run (8 writer cycles, 8 lookups racing): the incremental check, its
    local search for the events to check (against the whole-graph one), and the
    engine's kept coherence floors agree with their from-scratch versions on every
    candidate and at every step."""
    import random

    from models.engine import Execution, RandomChooser

    local = memory._kept_local
    kept_calls = []

    def kept_both(g, new):
        fast = local(g, new)
        full = list(memory.bits(memory._kept_full(g, new)))
        if fast is None:
            # no old event on a cycle through the new ones: the full search keeps
            # only the new events and the stores they read
            assert set(full) <= set(new) | {g.rf[r] for r in new if r in g.rf}
            assert memory.check(g) is None
        else:
            assert fast == full
        kept_calls.append(fast)
        return fast

    monkeypatch.setattr(memory, "_kept_local", kept_both)
    world = _long_world(8, 8)
    ex = Execution(world.threads, {})
    rng = random.Random(seed)
    chooser = RandomChooser(rng)
    while True:
        ready = ex.runnable()
        if not ready:
            break
        for t in ex.threads:
            for loc in ex.co:
                assert ex._observed_floor(t, loc) == _scanned_floor(ex, t.tid, loc)
        tid = ready[rng.randrange(len(ready))]
        ex.schedule(ready, tid)
        ex.step(tid, chooser)
    assert ex.finished and ex.steps > 150
    assert any(k is None for k in kept_calls) and any(k is not None for k in kept_calls)
    assert any(fast is not None for fast, _ in compared)
