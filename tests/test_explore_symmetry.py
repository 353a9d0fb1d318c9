"""Issue 14: the exhaustive explorer's reductions (models/explore.py, fuzz/exhaustive.py).

* symmetry: of two states that differ only by which of two identical readers did
  what, one is explored;
* readers alone: read-only readers are explored one at a time.

Both must leave every verdict, rule and shortest trace length as the full search
gives them, explore fewer states, and leave scenarios whose readers differ (or
write) to the full search.
"""

from __future__ import annotations

import pytest

from fuzz.exhaustive import check_variant, interchangeable, readers_alone
from fuzz.oracle import Oracle
from models.engine import Execution, FirstChooser, ReplayChooser, ThreadSpec
from models.events import Obj
from models.explore import NotAlone, explore, permutations, permuted_key
from models.ops import READ_ONCE, WRITE_ONCE
from models.scenario import Scenario, build
from models.variants import SHIPPED

BY_NAME = {v.name: v for v in SHIPPED}


def _check(name, reduce_, **scenario):
    v = BY_NAME[name]
    return check_variant(v, Scenario.default_for(v, **scenario), symmetry=reduce_, alone=reduce_)


def _outcome(r):
    return (r.verdict, r.violation.rule if r.violation else None, r.shortest_steps, r.race is not None)


# Violated and holding variants of every family whose readers the explorer swaps,
# with two readers (the scenarios the reductions change).
CASES = [
    ("A-no-wmb", {"readers": 2}),
    ("A-no-recheck", {"readers": 2}),
    ("A-skip-vma-lock", {"readers": 2}),
    ("B-read-locked-change", {"readers": 2}),
    ("B-unlock-only-count", {"readers": 2}),
    ("seqlock", {"readers": 2, "cycles": 2}),
    ("seqlock-no-retry", {"readers": 2}),
    ("seqlock-no-begin-wmb", {"readers": 3}),
    ("seqlock-no-end-wmb", {"readers": 2, "lookups": 2}),
]


@pytest.mark.parametrize("name,scenario", CASES, ids=[c[0] for c in CASES])
def test_same_verdict_rule_and_shortest_with_fewer_states(name, scenario):
    full = _check(name, False, **scenario)
    reduced = _check(name, True, **scenario)
    assert full.symmetric == () and full.alone == ()
    assert reduced.symmetric and reduced.alone
    assert _outcome(reduced) == _outcome(full)
    assert reduced.stats.states < full.stats.states
    if full.verdict == "violated":
        assert full.shortest_steps is not None


def test_symmetry_alone_keeps_verdicts_and_reduces():
    """Symmetry without readers alone, on a holding and a violated variant."""
    for name in ("A-no-rmb", "seqlock"):
        v = BY_NAME[name]
        sc = Scenario.default_for(v, readers=2)
        full = check_variant(v, sc, symmetry=False, alone=False)
        sym = check_variant(v, sc, symmetry=True, alone=False)
        assert sym.symmetric and not sym.alone
        assert _outcome(sym) == _outcome(full)
        assert sym.stats.states < full.stats.states


def test_holding_protocols_hold_with_two_readers():
    """A and B hold with two readers, full search and reduced alike; the reduced
    search is the one-reader search in states."""
    for name in ("A", "B"):
        full = _check(name, False, readers=2)
        reduced = _check(name, True, readers=2)
        one = _check(name, False, readers=1)
        assert full.verdict == reduced.verdict == "holds"
        assert reduced.stats.states <= one.stats.states < full.stats.states
        assert "identical readers swapped, readers one at a time" in reduced.bound()


def test_violation_path_replays():
    """The reduced search's shortest trace replays to the same violation."""
    v = BY_NAME["A-no-wmb"]
    sc = Scenario.default_for(v, readers=2, lookups=2)
    r = check_variant(v, sc)
    assert r.verdict == "violated" and r.alone
    world = build(v, sc)
    ex = Execution(world.threads)
    ex.run(ReplayChooser(r.execution.path), max_steps=r.execution.steps)
    assert ex.steps == r.execution.steps
    again = Oracle(world).check(ex)
    assert again is not None and again.rule == r.violation.rule


def test_permuted_key_matches_the_mirrored_run():
    """The key of a run with the two readers' schedules swapped is the permuted key."""
    v = BY_NAME["A"]
    world = build(v, Scenario.default_for(v, readers=2))
    w, r0, r1 = 0, *world.readers
    first = FirstChooser()

    def run(schedule):
        ex = Execution(world.threads)
        for tid in schedule:
            ex.step(tid, first)
        return ex

    sched = [r0, r0, w, w, r1, w, r0, w, w, r1]
    a = run(sched)
    b = run([{r0: r1, r1: r0}.get(t, t) for t in sched])
    perm = [0, r1, r0] if (r0, r1) == (1, 2) else None
    assert perm is not None
    assert a.key() != b.key()
    assert permuted_key(a.key(), perm) == b.key()
    assert permuted_key(permuted_key(a.key(), perm), perm) == a.key()


def test_permutations():
    assert permutations([], 3) == []
    assert permutations([(1,)], 3) == []
    assert permutations([(1, 2)], 3) == [(0, 2, 1)]
    assert len(permutations([(0, 1, 2)], 3)) == 5
    assert len(permutations([(0, 1), (2, 3)], 4)) == 3
    # a large group is cut so that at most MAX_PERMUTATIONS are tried
    assert 0 < len(permutations([tuple(range(8))], 8)) < 120


def test_readers_that_differ_are_not_swapped():
    """Two VMAs: reader 0 looks up VMA 0 then 1, reader 1 the other way round."""
    v = BY_NAME["A"]
    w2 = build(v, Scenario.default_for(v, vmas=2, readers=2))
    assert interchangeable(w2) == ()
    w3 = build(v, Scenario.default_for(v, vmas=2, readers=3))
    assert interchangeable(w3) == ((w3.readers[0], w3.readers[2]),)
    # one reader: nothing to reduce
    assert interchangeable(build(v, Scenario.default_for(v))) == ()
    assert readers_alone(build(v, Scenario.default_for(v))) == ()


def test_variant_with_its_own_reader_is_not_reduced():
    base = BY_NAME["A"]

    class OwnReader(base):
        def reader(self, rid, lookups):
            yield from base.reader(self, rid, lookups)

    world = build(OwnReader, Scenario.default_for(OwnReader, readers=2))
    assert interchangeable(world) == () and readers_alone(world) == ()
    r = check_variant(OwnReader, Scenario.default_for(OwnReader, readers=2))
    assert r.symmetric == () and r.alone == ()


def test_protocol_c_readers_swapped_not_alone():
    """Protocol C's readers take the VMA read lock (an RMW): identical, but not read-only."""
    v = BY_NAME["C-no-mm-check"]
    world = build(v, Scenario.default_for(v, readers=2))
    assert interchangeable(world) == (tuple(world.readers),)
    assert readers_alone(world) == ()


def test_a_storing_thread_explored_alone_is_refused():
    o = Obj("o", "obj", x=0, y=0)

    def writer():
        yield WRITE_ONCE(o.x, 1)

    def reader():
        yield READ_ONCE(o.x)

    def storer():
        yield READ_ONCE(o.x)
        yield WRITE_ONCE(o.y, 1)

    threads = [ThreadSpec("w", writer), ThreadSpec("r", reader), ThreadSpec("s", storer)]
    with pytest.raises(NotAlone):
        list(explore(Execution(threads), breadth_first=True, alone=(1, 2)))
    # readers that only read: at most one of them steps
    threads = [ThreadSpec("w", writer), ThreadSpec("r", reader), ThreadSpec("r2", reader)]
    for ex in explore(Execution(threads), breadth_first=True, alone=(1, 2)):
        assert not (1 in ex.step_tids and 2 in ex.step_tids)


def test_plain_accesses_fall_back_to_the_full_search():
    """B-as-merged has plain accesses (a data race): explored without readers alone,
    with the same outcome as the full search."""
    name = "B-as-merged"
    if name not in BY_NAME:
        pytest.skip("no B-as-merged")
    full = _check(name, False, readers=2)
    reduced = _check(name, True, readers=2)
    assert reduced.alone == ()
    assert _outcome(reduced) == _outcome(full)


def test_protocol_c_symmetry_keeps_the_shortest_violation():
    full = _check("C-no-seq-check", False, readers=2)
    reduced = _check("C-no-seq-check", True, readers=2)
    assert reduced.symmetric and not reduced.alone
    assert _outcome(reduced) == _outcome(full)
    assert full.verdict == "violated"
    assert reduced.stats.states < full.stats.states


def test_explore_no_reduction_switch(capsys):
    """`vmafuzz explore --no-reduction` explores every state: the same verdict and
    shortest trace as with the reductions, in more states, and a bound that names
    no reduction."""
    import json

    from fuzz.cli import main

    out = {}
    for extra in ([], ["--no-reduction"]):
        code = main(["explore", "A-no-wmb", "--readers", "2", "--cycles", "1", "--json", *extra])
        out[bool(extra)] = (code, json.loads(capsys.readouterr().out))
    (c1, reduced), (c2, full) = out[False], out[True]
    assert c1 == c2 == 1
    assert reduced["verdict"] == full["verdict"] == "violated"
    assert reduced["shortest_steps"] == full["shortest_steps"]
    assert reduced["bound"]["symmetric_threads"] == [[1, 2]] and reduced["bound"]["readers_alone"] == [1, 2]
    assert full["bound"]["symmetric_threads"] == [] and full["bound"]["readers_alone"] == []
    assert "swapped" not in full["bound"]["text"] and "one at a time" not in full["bound"]["text"]
    assert full["bound"]["states"] > reduced["bound"]["states"]
