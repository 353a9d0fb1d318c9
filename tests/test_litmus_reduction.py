"""The stores-first reduction of litmus runs (``explore.finals_only``, issue 14):
the same executions as every interleaving, in fewer states, and the may-store
sets it rests on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models import litmus
from models.engine import Execution
from models.explore import ExploreStats, explore_load_buffering, finals_only

ROOT = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("VMAFUZZ_SHARED", ROOT.parent.parent / "shared"))
BENCH = SHARED / "litmus" / "bench"


def _outcome(r: litmus.LitmusResult) -> tuple:
    # Locations are compared by name: each run builds its own Loc objects.
    return (repr(r.states), r.positive, r.negative, r.flags, r.ok, r.observation, r.executions)


def _sample() -> list[Path]:
    """Tests of every kind the suite holds: load buffering with promises, SRCU and
    RCU, locks, RMWs, plain accesses and races, pointers, the kernel's own."""
    files = sorted((ROOT / "litmus").glob("*.litmus")) + sorted((ROOT / "litmus-forms").glob("*.litmus"))
    files += sorted((ROOT / "herd" / "lb").glob("*.litmus"))[::4]
    files += sorted((ROOT / "herd" / "lkmm").glob("*.litmus"))[::4]
    files += sorted((ROOT / "data" / "model").glob("*.litmus"))[::3]
    files += sorted((SHARED / "litmus" / "kernel").glob("*.litmus"))
    return files


SAMPLE = _sample()


@pytest.mark.parametrize("path", SAMPLE, ids=[f"{p.parent.name}/{p.stem}" for p in SAMPLE])
def test_reduced_run_has_every_execution(path):
    prog = litmus.parse_file(str(path))
    try:
        full = litmus.run(prog, max_states=200_000, reduce=False)
    except litmus.LitmusError as exc:
        with pytest.raises(type(exc)):
            litmus.run(prog, max_states=200_000, reduce=True)
        return
    reduced = litmus.run(prog, max_states=200_000, reduce=True)
    assert _outcome(reduced) == _outcome(full)


def _states(prog, reduce: bool) -> tuple[int, int]:
    specs, locs = litmus.build(prog)
    stats = ExploreStats()
    runs = explore_load_buffering(
        lambda spec: Execution(specs, speculation=spec, stale_window=None), stats,
        static_stores=litmus.static_stores(prog, locs), static_loads=litmus.static_loads(prog, locs),
        persistent=finals_only(litmus.may_store(prog, locs)) if reduce else None)
    n = sum(1 for _ in runs)
    return n, stats.states


@pytest.mark.skipif(not BENCH.is_dir(), reason="../shared/litmus/bench not beside the checkout")
def test_seqcount_2c2r_in_under_a_third_of_the_states():
    prog = litmus.parse_file(str(BENCH / "seqcount-2c2r.litmus"))
    n_full, full = _states(prog, reduce=False)
    n_red, red = _states(prog, reduce=True)
    assert n_full == n_red == 1521              # herd7's count
    assert red * 3 < full, (red, full)      # 2,489 against 9,035


def _parse(body: str) -> litmus.Program:
    return litmus.parse(f"C t\n{{}}\n{body}\nexists (0:r0=0)\n")


def test_may_store_sets():
    prog = _parse("""
P0(int *x, int *y, atomic_t *z)
{
    int r0;
    r0 = READ_ONCE(*x);
    WRITE_ONCE(*y, 1);
    atomic_inc(z);
}
P1(int *x, int *y)
{
    int r0;
    r0 = smp_load_acquire(x);
    r0 = READ_ONCE(*y);
}
P2(int **p, int *x)
{
    int *r0;
    r0 = READ_ONCE(*p);
    WRITE_ONCE(*r0, 1);
}
P3(int *x)
{
    *x = 2;
}
""")
    specs, locs = litmus.build(prog)
    sets = litmus.may_store(prog, locs)
    names = [None if s is None else sorted(loc.name for loc in s) for s in sets]
    assert names == [["y", "z"], [], None, ["x"]]


def test_a_register_named_like_a_location_is_a_pointer():
    # P1's y is a register holding a pointer (to x): its store may go anywhere.
    prog = _parse("""
P0(int *x, int *y)
{
    int r0;
    r0 = READ_ONCE(*x);
}
P1(int *x, int *y)
{
    int *r1;
    r1 = x;
    WRITE_ONCE(*r1, 1);
}
""")
    specs, locs = litmus.build(prog)
    sets = litmus.may_store(prog, locs)
    assert sets[0] == frozenset() and sets[1] is None


def test_a_late_store_by_another_thread_is_still_read():
    # P0 reads x before P1 has stored: rule 2 must not make P0's read early (P1 may
    # store x), or the r0=1 outcome would be lost.
    prog = _parse("""
P0(int *x)
{
    int r0;
    r0 = READ_ONCE(*x);
}
P1(int *y, int *x)
{
    int r1;
    r1 = READ_ONCE(*y);
    WRITE_ONCE(*x, 1);
}
""")
    r = litmus.run(prog)
    assert sorted(s[0] for s in r.states) == [0, 1]
