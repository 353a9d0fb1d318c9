"""Parallel and sharded campaigns (issue 10): workers give the verdicts of one
process, shards split the variant list exactly, a shared example database (a
directory, or a real redis-server on the loopback address), and corpus saves from
many processes at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from fuzz.corpus import Entry, Expected, collect, load, save
from models.engine import Decision
from models.scenario import Scenario
from models.variants import BY_NAME

SAVERS = 6


def _entry(i: int) -> Entry:
    """A corpus entry; ``i`` picks one of several distinct traces (save never replays)."""
    v = BY_NAME["A-no-recheck"]
    decisions = tuple(Decision("thread", -1, 2, (i >> k) & 1) for k in range(3))
    return Entry(v.name, None, Scenario.default_for(v), decisions,
                 Expected("uncommitted (in-lock) read", 3, 1, 0), f"saver {i}")


def _save_at_once(root: str, barrier, results, i: int) -> None:
    barrier.wait()
    shared = save(_entry(0), Path(root), "A")          # every process saves this one
    own = save(_entry(1 + i), Path(root), "A")         # and one of its own
    results.put((i, str(shared[0]), shared[1], str(own[0]), own[1]))


def test_corpus_saves_from_many_processes_at_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(SAVERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_save_at_once, args=(str(tmp_path), barrier, results, i))
             for i in range(SAVERS)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    # the trace every process saved: one file, and exactly one process says it is new
    assert len({g[1] for g in got}) == 1
    assert sum(g[2] for g in got) == 1
    # each process's own trace: its own file, new
    assert all(g[4] for g in got) and len({g[3] for g in got}) == SAVERS
    files = collect([tmp_path])
    assert len(files) == SAVERS + 1
    assert {load(f).decisions for f in files} == {_entry(i).decisions for i in range(SAVERS + 1)}
    assert not [f for f in tmp_path.rglob("*") if f.name.startswith(".tmp-")]
