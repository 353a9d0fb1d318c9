"""Long runs (issue 14): the scenario bounds allow 1,024 writer cycles, a thread that
waits is not asked about every old store at every step, and a late load looks at most
``engine.STALE_WINDOW`` stores back, exactly the newest part of what it could read."""

import random

import pytest

from models import engine
from models.engine import Execution, FirstChooser, RandomChooser
from models.scenario import MAX_WRITER_WORK, Scenario, ScenarioError, build
from models.variants import BY_NAME, SHIPPED


def _world(name, **fields):
    v = BY_NAME[name]
    return build(v, Scenario.default_for(v, **fields))


def test_scenario_bounds_allow_1024_writer_cycles():
    assert MAX_WRITER_WORK >= 1024
    Scenario(cycles=1024)
    with pytest.raises(ScenarioError):
        Scenario(cycles=1025)
    with pytest.raises(ScenarioError):
        Scenario(writers=2, cycles=513)


@pytest.mark.parametrize("name", ["A", "B-no-end-wmb", "seqlock", "C", "C-foreign-mm-put"])
def test_runnable_is_the_threads_with_an_option(name):
    # runnable() no longer computes every waiting thread's options: it must still
    # name exactly the threads whose option list is not empty, and leave the graph
    # (event numbers included) as computing them would.
    v = BY_NAME[name]
    world = build(v, Scenario.default_for(v))
    for seed in range(8):
        rng = random.Random(seed)
        ex = Execution(world.threads)
        twin = Execution(world.threads)
        while True:
            ready = ex.runnable()
            full = [t.tid for t in twin.threads if not t.done and twin.options(t.tid)]
            assert ready == full
            assert [(e.eid, e.loc) for e in ex.events] == [(e.eid, e.loc) for e in twin.events]
            if not ready:
                break
            tid = rng.choice(ready)
            i = rng.randrange(len(ex.options(tid)))
            for x in (ex, twin):
                x.schedule(ready, tid)
                x.step(tid, engine.Picked(i))
        assert ex.path == twin.path


def _late_reader(cycles, seed):
    """A world of A whose writer runs all its cycles before the reader starts."""
    world = _world("A", cycles=cycles)
    ex = Execution(world.threads)
    writer = next(t.tid for t in ex.threads if t.spec.name.startswith("writer"))
    while writer in ex.runnable():
        ex.schedule(ex.runnable(), writer)
        ex.step(writer, FirstChooser())
    return ex, random.Random(seed)


def test_window_keeps_the_newest_options_exactly():
    k = engine.STALE_WINDOW
    ex, rng = _late_reader(40, 0)
    reader = next(t.tid for t in ex.threads if t.spec.name.startswith("reader"))
    compared = cut = 0
    while reader in ex.runnable():
        full_ex = ex.fork()
        full_ex.stale_window = None
        full = full_ex.options(reader)
        windowed = ex.options(reader)
        if windowed and windowed[0].kind == "rf" and windowed[0].src is not None:
            order = ex.co[ex.events[windowed[0].src].loc]
            newest = set(order[-k:])
            kept = [o for o in full if o.src in newest]
            assert windowed == (kept or full)
            assert len(windowed) <= k or not kept
            compared += 1
            cut += len(full) > len(windowed)
        else:
            assert windowed == full or len(windowed) <= len(full)
        ex.schedule(ex.runnable(), reader)
        ex.step(reader, RandomChooser(rng))
    assert compared >= 3
    assert cut >= 1 and ex.window_cuts >= cut      # 40 cycles: well past the window


def test_no_window_means_every_store():
    ex, _ = _late_reader(40, 1)
    reader = next(t.tid for t in ex.threads if t.spec.name.startswith("reader"))
    # step the reader to its first load that has more stores than the window
    while reader in ex.runnable():
        full_ex = ex.fork()
        full_ex.stale_window = None
        if len(full_ex.options(reader)) > engine.STALE_WINDOW:
            assert len(ex.options(reader)) <= engine.STALE_WINDOW
            return
        ex.schedule(ex.runnable(), reader)
        ex.step(reader, FirstChooser())
    pytest.fail("no load of the late reader had more options than the window")


@pytest.mark.parametrize("v", SHIPPED, ids=lambda v: v.name)
def test_window_never_cuts_a_shipped_default_scenario(v):
    # The window only bounds the long runs: at every shipped variant's default
    # scenario, no location gets more stores than the window (the fuzzer's and the
    # explorer's results there are those of the unwindowed model).
    world = build(v, Scenario.default_for(v))
    for seed in range(20):
        ex = Execution(world.threads)
        ex.run(RandomChooser(random.Random(seed)), max_steps=2000)
        assert ex.window_cuts == 0
        assert max(len(order) for order in ex.co.values()) <= engine.STALE_WINDOW


def test_a_1024_cycle_run_finishes():
    world = _world("A", cycles=1024)
    ex = Execution(world.threads)
    ex.run(RandomChooser(random.Random(0)))
    assert ex.finished
    assert ex.steps > 19_000



def test_litmus_runs_have_no_window():
    # herd7's counts need every store: a reader that runs after more stores to one
    # location than the window still reads the oldest (nothing orders its loads).
    from models import litmus
    n = engine.STALE_WINDOW + 3
    stores = "\n".join(f"\tWRITE_ONCE(*x, {i});" for i in range(1, n + 1))
    text = f"""C many-stores
{{ }}
P0(int *x, int *y)
{{
{stores}
\tWRITE_ONCE(*y, 1);
}}
P1(int *x, int *y)
{{
\tint r0;
\tint r1;
\tr0 = READ_ONCE(*y);
\tr1 = READ_ONCE(*x);
}}
exists (1:r0=1 /\\ 1:r1=0)
"""
    result = litmus.run(litmus.parse(text, "many-stores.litmus"))
    assert result.observation == "Sometimes"
    k0, k1 = result.keys.index("1:r0"), result.keys.index("1:r1")
    assert {int(s[k1]) for s in result.states if int(s[k0]) == 1} == set(range(n + 1))


def test_endless_thread_limit_grows_with_the_scenario():
    from models import limits
    small = _world("A")
    assert all(t.max_operations is None for t in small.threads)   # the default, caught early
    big = _world("A", cycles=1024)
    assert all(t.max_operations >= limits.MAX_THREAD_OPERATIONS + 1024 * 19 for t in big.threads)
