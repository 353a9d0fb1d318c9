"""Load buffering (docs/memory-model.md, "Load buffering"): promises in the engine,
the passes that find their values, and the same mechanism under replay and in
protocol runs."""

from __future__ import annotations

import random

from models import litmus
from models.engine import Execution, RandomChooser, ReplayChooser, Speculation, ThreadSpec
from models.events import Loc
from models.explore import StoreLog, explore, explore_load_buffering
from models.ops import READ_ONCE, WRITE_ONCE, smp_load_acquire, smp_store_release
from models.scenario import Scenario, build, with_promises
from models.variants import BY_NAME
from fuzz.exhaustive import check_variant

X, Y = Loc("x"), Loc("y")


def lb(load0=READ_ONCE, store1=WRITE_ONCE):
    """LB: P0 reads x then writes y; P1 reads y then writes x."""
    def p0():
        r0 = yield load0(X)
        yield WRITE_ONCE(Y, 1)
        return {"r0": r0.v}

    def p1():
        r1 = yield READ_ONCE(Y)
        yield store1(X, 1)
        return {"r1": r1.v}
    return [ThreadSpec("P0", p0), ThreadSpec("P1", p1)]


def outcomes(specs, speculation=None):
    root = Execution(specs, speculation=speculation)
    return {(ex.threads[0].result["r0"], ex.threads[1].result["r1"]) for ex in explore(root)}


def test_without_promises_no_po_rf_cycle():
    assert (1, 1) not in outcomes(lb())


def test_promises_give_the_lb_outcome():
    spec = Speculation({X: {0: (1,)}, Y: {1: (1,)}})
    assert outcomes(lb(), spec) == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_ordering_on_both_sides_refuses_the_cycle():
    # LB+poacquireonce+pooncerelease: acquire then store, load then release: hb cycle.
    spec = Speculation({X: {0: (1,)}, Y: {1: (1,)}})
    assert (1, 1) not in outcomes(lb(smp_load_acquire, smp_store_release), spec)
    # one side ordered is not enough (herd7: Sometimes)
    assert (1, 1) in outcomes(lb(smp_load_acquire, WRITE_ONCE), spec)


def test_unfulfilled_promises_are_not_executions():
    # P1 never stores 2 to x: a promise of 2 can never be fulfilled.
    spec = Speculation({X: {0: (2,)}, Y: {1: (1,)}})
    found = outcomes(lb(), spec)
    assert all(r0 != 2 for r0, _ in found)


def test_passes_find_the_values_and_threads():
    log = StoreLog()
    for ex in explore(Execution(lb())):
        log.add(ex)
    spec = log.speculation()
    assert spec.threads == frozenset({0, 1})
    assert spec.values[X] == {0: (1,)} and spec.values[Y] == {1: (1,)}
    runs = list(explore_load_buffering(lambda s: Execution(lb(), speculation=s)))
    assert {n for n, _ in runs} == {0, 1}          # one pass without, one with promises
    last = {(ex.threads[0].result["r0"], ex.threads[1].result["r1"]) for n, ex in runs if n == 1}
    assert (1, 1) in last


def test_no_cycle_no_second_pass():
    # MP: P1 only loads, so no thread loads and stores on both sides of a cycle.
    text = """C MP
{}
P0(int *x, int *y) { WRITE_ONCE(*x, 1); WRITE_ONCE(*y, 1); }
P1(int *x, int *y) { int r0; int r1; r0 = READ_ONCE(*y); r1 = READ_ONCE(*x); }
exists (1:r0=1 /\\ 1:r1=0)
"""
    specs, _ = litmus.build(litmus.parse(text))
    passes = {n for n, _ in explore_load_buffering(lambda s: Execution(specs, speculation=s))}
    assert passes == {0}


def test_out_of_thin_air_is_refused():
    """r0 = x; y = r0 || r1 = y; x = r1: even with 1 forced into the value domain,
    the promise of 1 can only be fulfilled by a store whose value came from the
    promise itself, a cycle of data dependencies and rfe: an hb cycle, refused."""
    def p0():
        r0 = yield READ_ONCE(X)
        yield WRITE_ONCE(Y, r0)
        return {"r0": r0.v}

    def p1():
        r1 = yield READ_ONCE(Y)
        yield WRITE_ONCE(X, r1)
        return {"r1": r1.v}
    specs = [ThreadSpec("P0", p0), ThreadSpec("P1", p1)]
    spec = Speculation({X: {0: (1,)}, Y: {1: (1,)}})
    assert outcomes(specs, spec) == {(0, 0)}
    # The same with no dependency (stores of the constant 1) is allowed: the
    # refusal above comes from the dependencies, not from the domain.
    assert (1, 1) in outcomes(lb(), spec)


def test_replay_reproduces_a_load_buffering_run():
    spec = Speculation({X: {0: (1,)}, Y: {1: (1,)}})
    for seed in range(200):
        ex = Execution(lb(), speculation=spec)
        ex.run(RandomChooser(random.Random(seed)))
        if ex.finished and ex.threads[0].result["r0"] == 1 and ex.threads[1].result["r1"] == 1:
            break
    else:
        raise AssertionError("no random run found the LB outcome in 200 seeds")
    again = Execution(lb(), speculation=spec)
    again.run(ReplayChooser(ex.path))
    assert again.key() == ex.key() and again.finished


def test_threads_carry_their_promises():
    specs = with_promises(lb())
    assert specs[0].promises == {X: (1,)} and specs[1].promises == {Y: (1,)}
    assert (1, 1) in outcomes(specs)          # Execution builds the Speculation itself


def test_protocol_b_has_no_cycle_so_opting_in_changes_nothing():
    """B's readers never store: no po|rf cycle, no promise, the same exploration."""
    base = BY_NAME["B"]
    lb_b = type("B_lb", (base,), {"name": "B-lb", "load_buffering": True})
    scenario = Scenario.default_for(base)
    world = build(lb_b, scenario)
    assert all(t.promises is None for t in world.threads)
    a, b = check_variant(base, scenario), check_variant(lb_b, scenario)
    assert (a.verdict, a.stats.states) == (b.verdict, b.stats.states)


# ---- a protocol whose bug needs load buffering (docs/examples/lb_hint.py) ----

EXAMPLE = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "examples" / "lb_hint.py")


def _variant(name):
    from models.variants import resolve
    return resolve(f"{EXAMPLE}:{name}")


def test_explorer_finds_the_bug_only_with_load_buffering():
    lb_v, plain_v = _variant("B-lb-hint"), _variant("B-lb-hint-no-lb")
    scenario = Scenario.default_for(lb_v)
    found = check_variant(lb_v, scenario)
    assert found.verdict == "violated"
    ex = found.execution
    # the counterexample really has a po|rf cycle: some read takes a store added after it
    assert any(w > r for r, w in ex.rf.items() if ex.events[r].tid >= 0)
    assert check_variant(plain_v, scenario).verdict == "holds"


def test_fuzzer_finds_shrinks_and_replays_it():
    from fuzz.corpus import entry_for, replay
    from fuzz.machine import fuzz
    v = _variant("B-lb-hint")
    scenario = Scenario.default_for(v)
    result = fuzz(v, scenario, max_examples=3000, seconds=120, seed=1)
    assert result.verdict == "violated"
    shortest = check_variant(v, scenario).shortest_steps
    assert result.shrunk_steps == shortest      # the model-aware pass keeps promises
    f = result.failure
    again = replay(entry_for(v, scenario, f.violation, f.execution), v)
    assert again.reproduces
