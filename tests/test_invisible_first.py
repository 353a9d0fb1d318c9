"""The explorer's invisible-steps-first reduction (models/explore.py, ``invisible_first``;
fuzz/exhaustive.py, ``check_variant(invisible=True)``).

It decides the verdict in fewer states; a violation it finds is searched for again
without it, so the rule and the shortest trace are the full search's. These tests
run both searches on the same scenarios and compare, and check the three ways the
reduction steps aside (a store outside the lock it was told protects a location, a
step that records a ghost, a plain access)."""

from __future__ import annotations

import pytest

from fuzz.exhaustive import _check, _protected, _read_only, check_variant, readers_alone
from models.explore import NotInvisible, NotProtected
from models.ops import READ_ONCE, smp_store_release
from models.scenario import Scenario, build
from models.variants import BY_NAME, SHIPPED
from models.vma.protocols import ProtocolA

FAMILIES = ("A", "B", "seqlock")
CASES = [(v.name, Scenario.default_for(v)) for v in SHIPPED if v.family in FAMILIES]
CASES += [(name, Scenario.default_for(BY_NAME[name], **extra)) for name, extra in (
    ("A", {"writers": 2}), ("B", {"cycles": 2}), ("B-no-end-wmb", {"writers": 2}),
    ("A-relaxed-mm-seq", {"cycles": 2}), ("seqlock-no-retry", {"writers": 2}))]


def _key(r):
    return (r.verdict, r.violation.rule if r.violation else None, r.shortest_steps,
            r.race is not None)


@pytest.mark.parametrize("name,scenario", CASES, ids=[f"{n}-{s.describe(BY_NAME[n])}" for n, s in CASES])
def test_same_verdict_rule_and_shortest_as_without_it(name, scenario):
    v = BY_NAME[name]
    with_it = check_variant(v, scenario)
    without = check_variant(v, scenario, invisible=False)
    assert _key(with_it) == _key(without)
    if with_it.verdict == "holds":
        assert with_it.invisible and "invisible steps first" in with_it.bound()
        assert with_it.bound_json()["invisible_first"] is True
        assert with_it.stats.states <= without.stats.states
    else:
        # the shortest trace comes from the breadth-first search without it
        assert not with_it.invisible and with_it.shortest_known


@pytest.mark.parametrize("name", ["A", "B"])
def test_two_writers_hold_in_far_fewer_states(name):
    """The reduction's point: two writers, where the full search is large."""
    v = BY_NAME[name]
    scenario = Scenario.default_for(v, writers=2)
    with_it = check_variant(v, scenario)
    without = check_variant(v, scenario, invisible=False)
    assert with_it.verdict == without.verdict == "holds"
    assert with_it.stats.states * 4 < without.stats.states


class _NoMmapLock(ProtocolA):
    """A writer that changes the VMA without mmap_write_lock(): it breaks what the
    family's ``protected_by`` vouches for."""

    name = "A-test-no-mmap-lock"

    def mmap_write_lock(self, cyc):
        cyc.seq = yield READ_ONCE(self.mm.mm_lock_seq)

    def mmap_write_unlock(self, cyc):
        yield cyc.commit()
        nv, g = cyc.counter(cyc.seq, 1)
        yield smp_store_release(self.mm.mm_lock_seq, nv, ghost=g)


def test_a_store_outside_the_lock_voids_the_reduction_and_the_full_search_decides():
    scenario = Scenario.default_for(_NoMmapLock, writers=2)
    world = build(_NoMmapLock, scenario)
    assert _protected(world)
    with pytest.raises(NotProtected):
        _check(_NoMmapLock, scenario, world, None, None, True, readers_alone(world), first=True)
    with_it = check_variant(_NoMmapLock, scenario)
    without = check_variant(_NoMmapLock, scenario, invisible=False)
    assert _key(with_it) == _key(without)
    assert not with_it.invisible


def test_a_ghost_recorded_with_a_reduced_step_voids_the_reduction():
    """Protocol C's writer records its unlock (a ghost) with a memory step: the
    order of ghost records may matter to its invariant, so the full search decides."""
    v = BY_NAME["C"]
    scenario = Scenario.default_for(v)
    world = build(v, scenario)
    with pytest.raises(NotInvisible):
        _check(v, scenario, world, None, None, True, (), first=True)
    r = check_variant(v, scenario)
    assert not r.invisible and r.verdict == check_variant(v, scenario, invisible=False).verdict


def test_plain_accesses_are_judged_without_it():
    """B-as-merged's plain accesses can race: races are judged by the full search."""
    v = BY_NAME["B-as-merged"]
    scenario = Scenario.default_for(v)
    with_it = check_variant(v, scenario)
    assert not with_it.invisible
    assert _key(with_it) == _key(check_variant(v, scenario, invisible=False))


def test_readers_are_read_only_only_for_families_that_say_so():
    assert _read_only(build(BY_NAME["A"], Scenario.default_for(BY_NAME["A"])))
    c = BY_NAME["C"]
    assert not _read_only(build(c, Scenario.default_for(c)))


def test_out_of_states_falls_back_to_the_search_without_it():
    v = BY_NAME["A"]
    scenario = Scenario.default_for(v, writers=2)
    r = check_variant(v, scenario, max_states=50)
    assert r.verdict == "incomplete" and not r.invisible


def test_no_reduction_in_the_cli_turns_it_off(capsys):
    from fuzz.cli import main
    assert main(["explore", "A", "--cycles", "2", "--json"]) == 0
    import json
    on = json.loads(capsys.readouterr().out)
    assert main(["explore", "A", "--cycles", "2", "--json", "--no-reduction"]) == 0
    off = json.loads(capsys.readouterr().out)
    assert on["verdict"] == off["verdict"] == "holds"
    assert on["bound"]["invisible_first"] is True and off["bound"]["invisible_first"] is False
    assert on["states"] < off["states"]



def test_a_stale_window_cut_voids_the_reduction(monkeypatch):
    """The engine lets a load read only among the newest stores of a location
    (models/engine.py, STALE_WINDOW). The reduction makes loads later, so it could
    lose a source the full search still reaches: B-narrow-seq's wrap needs a count
    store many stores old. With the window made small, the reduced search would
    say holds; it steps aside and the full search decides (and says the window cut)."""
    import models.engine as engine
    monkeypatch.setattr(engine, "STALE_WINDOW", 3)
    v = BY_NAME["B-narrow-seq"]
    scenario = Scenario.default_for(v)
    with_it = check_variant(v, scenario)
    without = check_variant(v, scenario, invisible=False)
    assert _key(with_it) == _key(without) and with_it.verdict == "violated"
    assert not with_it.invisible and with_it.window_cut
    assert "stale window" in with_it.bound() and with_it.bound_json()["stale_window_cut"] is True


def test_no_window_cut_at_the_default_scenarios():
    for name in ("A", "B", "A-narrow-seq", "B-narrow-seq"):
        v = BY_NAME[name]
        r = check_variant(v, Scenario.default_for(v))
        assert not r.window_cut and "stale window" not in r.bound()
