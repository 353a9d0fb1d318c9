"""The memory model itself (models/memory.py) against herd7 on the current LKMM.

``tests/data/model/NAME.litmus`` are small tests written for the rules the model
took from the current linux-kernel.cat / .bell (plain accesses and data races,
plain-coherence, SRCU, fully ordered RMWs as Mb tags, failed RMWs); next to each,
``NAME.herd7.out`` is herd7 7.58's output on ``../shared/oracle/lkmm`` (regenerate
with ``tests/data/model/regen`` where herd7 is installed; the tests never need it).
Every test must give herd7's states, Observation and flags. The rest are unit tests
on hand-built graphs and engine runs: the axiom that breaks, the racing pairs, the
events each primitive makes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import models.memory as memory
from models import litmus, ops
from models.engine import Execution, ThreadSpec
from models.events import MB, ONCE, PLAIN, RMW, SRCU_LOCK, SRCU_UNLOCK, Event, Loc
from models.explore import ExploreStats, explore

DATA = Path(__file__).parent / "data" / "model"
FILES = sorted(DATA.glob("*.litmus"))


def test_there_is_a_reference_for_every_model_test():
    assert len(FILES) >= 25
    assert all(f.with_suffix(".herd7.out").is_file() for f in FILES)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_same_states_observation_and_flags_as_herd7(path):
    result = litmus.run(litmus.parse_file(str(path)))
    herd = litmus.read_herd_output(path.with_suffix(".herd7.out").read_text())
    assert litmus.state_lines(result) == herd.states
    assert result.observation == herd.observation
    assert set(result.flags) == set(herd.flags)


def test_extension_check_agrees_with_full_check_on_model_tests(monkeypatch):
    """check_extension (the engine's incremental check) must give the full check's
    verdict on every candidate of these tests too: plain-coherence, SRCU (whose
    srcu-rscsi edges run against po), Mb-tagged RMWs."""
    seen = []
    original = memory.check_extension

    def both(g, new, cache=None):
        fast = original(g, new, cache)
        full = memory.check(g)
        seen.append(full)
        assert (fast is None) == (full is None), (fast, full)
        return fast

    monkeypatch.setattr(memory, "check_extension", both)
    for f in FILES:
        if f.stem == "rcu-gp-inside-own-section":
            continue   # its grace period makes the graph inconsistent before any candidate
        litmus.run(litmus.parse_file(str(f)))
    assert {"plain-coherence", "rcu", "propagation"} <= set(seen)


# --------------------------------------------------------------------------
# Hand-built graphs: which axiom, which races
# --------------------------------------------------------------------------

X, Y = Loc("x"), Loc("y")


def _ev(eid, tid, kind, loc, value, *tags, **kw):
    return Event(eid, tid, kind, loc, value, frozenset(tags), **kw)


def _mp_plain(fences: bool, r1_reads_init: bool) -> memory.Graph:
    """MP: P0 *x=1; [wmb]; WRITE_ONCE(y,1)  P1 r0=READ_ONCE(y)=1; [rmb]; r1=*x."""
    evs = [_ev(0, -1, "W", X, 0, ONCE), _ev(1, -1, "W", Y, 0, ONCE),
           _ev(2, 0, "W", X, 1, PLAIN), _ev(3, 0, "F", None, None, "wmb" if fences else "barrier"),
           _ev(4, 0, "W", Y, 1, ONCE),
           _ev(5, 1, "R", Y, 1, ONCE), _ev(6, 1, "F", None, None, "rmb" if fences else "barrier"),
           _ev(7, 1, "R", X, 0 if r1_reads_init else 1, PLAIN)]
    rf = {5: 4, 7: 0 if r1_reads_init else 2}
    return memory.Graph(evs, rf, {X: [0, 2], Y: [1, 4]}, [[2, 3, 4], [5, 6, 7]])


def test_stale_plain_read_after_wmb_rmb_breaks_plain_coherence():
    # rw-incoh: the plain store is visible to the plain load (wr-vis), which may not
    # read the store before it. Without the plain-coherence axiom it would pass.
    assert memory.check(_mp_plain(fences=True, r1_reads_init=True)) == "plain-coherence"
    assert memory.check(_mp_plain(fences=True, r1_reads_init=False)) is None


def test_stale_plain_read_without_fences_is_a_race_not_an_inconsistency():
    g = _mp_plain(fences=False, r1_reads_init=True)
    assert memory.check(g) is None
    # rw-race (7 fr 2) and wr-race (0 rf... only the init: not a race, IW is marked)
    assert memory.data_races(g) == [(7, 2)]
    assert "data-race" in memory.flags(g)


def test_ordered_plain_accesses_do_not_race():
    g = _mp_plain(fences=True, r1_reads_init=False)
    assert memory.data_races(g) == []
    assert "data-race" not in memory.flags(g)


def _lb(p0_fence: bool, p1_ctrl: bool, rf: dict) -> memory.Graph:
    """LB: P0 r0=READ_ONCE(x); [smp_mb()]; WRITE_ONCE(y,1)  P1 r1=READ_ONCE(y); [if (r1)] WRITE_ONCE(x,1)."""
    evs = [_ev(0, -1, "W", X, 0, ONCE), _ev(1, -1, "W", Y, 0, ONCE),
           _ev(2, 0, "R", X, 1, ONCE), _ev(3, 0, "F", None, None, "mb" if p0_fence else "barrier"),
           _ev(4, 0, "W", Y, 1, ONCE),
           _ev(5, 1, "R", Y, 1, ONCE),
           _ev(6, 1, "W", X, 1, ONCE, ctrl=frozenset({5}) if p1_ctrl else frozenset())]
    return memory.Graph(evs, rf, {X: [0, 6], Y: [1, 4]}, [[2, 3, 4], [5, 6]])


def test_check_does_not_need_rf_for_every_read_nor_rf_forward():
    """Load buffering: a read with no source yet (so no fr edge), and a po|rf cycle
    with an rf edge to a later event."""
    assert memory.check(_lb(True, True, {5: 4})) is None             # 2 has no rf yet
    assert memory.check(_lb(False, False, {2: 6, 5: 4})) is None     # LB+poonceonces
    assert memory.check(_lb(True, False, {2: 6, 5: 4})) is None
    # LB+fencembonceonce+ctrlonceonce: the cycle is in hb
    assert memory.check(_lb(True, True, {2: 6, 5: 4})) == "happens-before"


# --------------------------------------------------------------------------
# Events the primitives make (linux-kernel.def / .bell)
# --------------------------------------------------------------------------

def _run_first(*bodies):
    """The sequentially consistent run (every choice 0) of these thread bodies."""
    from models.engine import FirstChooser
    ex = Execution([ThreadSpec(f"P{i}", b) for i, b in enumerate(bodies)])
    return ex.run(FirstChooser())


def test_fully_ordered_rmw_is_an_mb_tagged_read_and_write():
    z = Loc("z")

    def p0():
        yield ops.xchg(z, 1)
        yield ops.cmpxchg(z, 7, 2)        # fails: z is 1
        yield ops.cmpxchg_relaxed(z, 1, 3)

    ex = _run_first(p0)
    kinds = [(e.kind, e.tags) for e in ex.events if e.tid == 0]
    assert all(k != "F" for k, _ in kinds)                  # no smp_mb() events of their own
    (r1, t1), (w1, u1), (r2, t2), (r3, t3), (w3, u3) = kinds
    assert (r1, w1, r2, r3, w3) == ("R", "W", "R", "R", "W")
    assert MB in t1 and MB in u1 and RMW in t1 and RMW in u1
    assert MB not in t2 and RMW in t2                       # FailedRMW: no Mb, still RMW
    assert MB not in t3 and MB not in u3 and RMW in t3


def test_srcu_primitives_events():
    s = Loc("s")

    def p0():
        idx = yield ops.srcu_read_lock(s)
        yield ops.srcu_read_unlock(s, idx)
        yield ops.synchronize_srcu(s)
        yield ops.smp_mb__after_srcu_read_unlock()

    ex = _run_first(p0)
    lock, unlock, gp, fence = [e for e in ex.events if e.tid == 0]
    assert (lock.kind, lock.loc, SRCU_LOCK in lock.tags) == ("R", s, True)
    assert (unlock.kind, unlock.loc, SRCU_UNLOCK in unlock.tags) == ("W", s, True)
    assert unlock.data == frozenset({lock.eid})              # srcu-rscs follows data
    assert (gp.kind, gp.loc, "sync-srcu" in gp.tags) == ("F", s, True)
    assert fence.tags == frozenset({"after-srcu-read-unlock"})


# --------------------------------------------------------------------------
# SRCU through the engine (threads as generators, as the protocols build them)
# --------------------------------------------------------------------------

def _outcomes(bodies, keys):
    """Every final (r0, r1) of the reader over every execution."""
    ex = Execution([ThreadSpec(f"P{i}", b) for i, b in enumerate(bodies)])
    out = set()
    for done in explore(ex, ExploreStats()):
        out.add(tuple(done.threads[0].result[k] for k in keys))
    return out


def _srcu_reader(s, x, y, down_up=False):
    def reader():
        idx = yield (ops.srcu_down_read(s) if down_up else ops.srcu_read_lock(s))
        r0 = yield ops.READ_ONCE(x)
        r1 = yield ops.READ_ONCE(y)
        yield (ops.srcu_up_read(s, idx) if down_up else ops.srcu_read_unlock(s, idx))
        return {"r0": r0.v, "r1": r1.v}
    return reader


def _srcu_updater(s, x, y, expedited=False):
    def updater():
        yield ops.WRITE_ONCE(y, 1)
        yield (ops.synchronize_srcu_expedited(s) if expedited else ops.synchronize_srcu(s))
        yield ops.WRITE_ONCE(x, 1)
        return {}
    return updater


@pytest.mark.parametrize("down_up", [False, True])
@pytest.mark.parametrize("expedited", [False, True])
def test_srcu_grace_period_waits_for_a_reader_of_the_same_struct(down_up, expedited):
    # herd7: srcu-gp-reader.litmus is Never for (r0, r1) = (1, 0)
    s, x, y = Loc("s"), Loc("x"), Loc("y")
    got = _outcomes([_srcu_reader(s, x, y, down_up), _srcu_updater(s, x, y, expedited)], ("r0", "r1"))
    assert got == {(0, 0), (0, 1), (1, 1)}


def test_srcu_grace_period_of_another_struct_does_not_wait():
    # herd7: srcu-gp-reader-other-struct.litmus is Sometimes
    s, t, x, y = Loc("s"), Loc("t"), Loc("x"), Loc("y")
    got = _outcomes([_srcu_reader(s, x, y), _srcu_updater(t, x, y)], ("r0", "r1"))
    assert (1, 0) in got


def test_rcu_grace_period_does_not_wait_for_an_srcu_reader():
    s, x, y = Loc("s"), Loc("x"), Loc("y")

    def updater():
        yield ops.WRITE_ONCE(y, 1)
        yield ops.synchronize_rcu()
        yield ops.WRITE_ONCE(x, 1)
        return {}

    got = _outcomes([_srcu_reader(s, x, y), updater], ("r0", "r1"))
    assert (1, 0) in got


def test_srcu_flags_unmatched_lock():
    s = Loc("s")

    def p0():
        yield ops.srcu_read_lock(s)
        return {}

    ex = _run_first(p0)
    assert memory.flags(ex.graph()) == frozenset({"unmatched-srcu-lock"})
