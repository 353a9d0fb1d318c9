"""The chooser: the same decisions always give the same run; replay refuses to guess."""

from __future__ import annotations

import random

import pytest

from models import litmus
from models.engine import (Decision, Execution, FirstChooser, RandomChooser, ReplayChooser,
                           ReplayDivergence)

IRIW = """C iriw
{}
P0(int *x) { WRITE_ONCE(*x, 1); }
P1(int *y) { WRITE_ONCE(*y, 1); }
P2(int *x, int *y) { int r0; int r1; r0 = READ_ONCE(*x); r1 = READ_ONCE(*y); }
P3(int *x, int *y) { int r0; int r1; r0 = READ_ONCE(*y); r1 = READ_ONCE(*x); }
exists (2:r0=1 /\\ 2:r1=0 /\\ 3:r0=1 /\\ 3:r1=0)
"""


def fresh() -> Execution:
    specs, _ = litmus.build(litmus.parse(IRIW))
    return Execution(specs)


def outcome(ex: Execution):
    # repr: a register may hold a pointer, a location of this build (identity equality)
    return ex.key(), [repr(t.result) for t in ex.threads]


@pytest.mark.parametrize("seed", range(8))
def test_same_decisions_same_run(seed):
    first = fresh().run(RandomChooser(random.Random(seed)))
    assert first.finished
    again = fresh().run(ReplayChooser(first.path))
    assert outcome(again) == outcome(first)
    assert again.path == first.path


def test_random_runs_differ():
    """Not vacuous: different seeds reach different executions."""
    keys = {fresh().run(RandomChooser(random.Random(s))).key() for s in range(30)}
    assert len(keys) > 3


def test_first_chooser_is_deterministic():
    assert outcome(fresh().run(FirstChooser())) == outcome(fresh().run(FirstChooser()))


def test_replay_divergence_raises():
    path = fresh().run(RandomChooser(random.Random(3))).path
    assert path
    d = path[0]
    bad = [Decision(d.kind, d.tid, d.n + 1, d.index), *path[1:]]
    with pytest.raises(ReplayDivergence):
        fresh().run(ReplayChooser(bad))


def test_replay_runs_out_of_decisions():
    path = fresh().run(RandomChooser(random.Random(5))).path
    with pytest.raises(ReplayDivergence):
        fresh().run(ReplayChooser(path[:-1]))
