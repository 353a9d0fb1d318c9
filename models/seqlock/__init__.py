"""The classic seqlock (include/linux/seqlock.h): a protocol family in one screen,
written against the public API only (models/protocol.py, models/ops.py).

Writer: seq++, smp_wmb(), a = v, b = v, smp_wmb(), seq++ (one writer: a seqcount_t).
Reader: read seq; odd: retry (bail after ``tries``); smp_rmb(); read a and b;
smp_rmb(); re-read seq; changed: retry. Invariant: a read that succeeds never
returns a torn pair (a == b). Each variant drops one piece.
"""

from __future__ import annotations

from typing import Any

import attrs

from models.events import Obj, raw
from models.ops import READ_ONCE, WRITE_ONCE, smp_rmb, smp_wmb
from models.protocol import Observation, Protocol, Violation, observe

TORN_PAIR = "torn pair"


@attrs.frozen(slots=True)
class ReadEnd(Observation):
    """A read side ended: ``success`` with the pair it returns, or ``bail``."""

    a: Any = None
    b: Any = None


@attrs.frozen(slots=True)
class TornPair(Violation):
    reads: tuple = ()            # (name, value, load eid) of a and b

    def report_lines(self, ex, trace, width=None):
        out = ["  values returned, and the stores they came from:"]
        for name, value, eid in self.reads:
            out.append(f"    {name} = {value!r:<6} read at #{trace.step_of(eid)}, "
                       f"from {trace.describe_store(ex.rf[eid])}")
        return out


class Seqlock(Protocol):
    name = "seqlock"
    family = "seqlock"
    description = "seqcount writer (seq++, wmb, a=, b=, wmb, seq++) and retrying reader"
    rules = (TORN_PAIR,)
    scenario_options = frozenset({"cycles", "readers", "lookups"})
    nouns = {"writer": "writer", "cycle": "write", "reader": "reader", "lookup": "read"}
    tries = 2                    # read attempts before the reader gives up (bails)

    def __init__(self):
        self.s = Obj("sl", "seqcount_t", seq=0, a=0, b=0)

    # ---- writer: write_seqcount_begin(); a = b = v; write_seqcount_end() ----
    def writer(self, wid, cycles):
        for c in range(cycles):
            yield from self.write_begin()
            yield WRITE_ONCE(self.s.a, c + 1)
            yield WRITE_ONCE(self.s.b, c + 1)
            yield from self.write_end()

    def write_begin(self):
        seq = yield READ_ONCE(self.s.seq)         # the only writer: its own last store
        yield WRITE_ONCE(self.s.seq, seq + 1)
        yield smp_wmb()

    def write_end(self):
        yield smp_wmb()
        seq = yield READ_ONCE(self.s.seq)
        yield WRITE_ONCE(self.s.seq, seq + 1)

    # ---- reader: do { seq = read_seqbegin(); a, b } while (read_seqretry(seq)) ----
    def reader(self, rid, reads):
        for n in range(reads):
            got = yield from self.read()
            yield observe(ReadEnd(n, "bail") if got is None else ReadEnd(n, "success", *got))

    def read(self):
        for _ in range(self.tries):
            seq = yield from self.read_begin()
            if seq is None:
                continue                          # odd: a write is in progress
            a = yield READ_ONCE(self.s.a)
            b = yield READ_ONCE(self.s.b)
            if not (yield from self.read_retry(seq)):
                return a, b
        return None

    def read_begin(self):
        seq = yield READ_ONCE(self.s.seq)
        if seq & 1:
            return None
        yield smp_rmb()
        return seq

    def read_retry(self, seq):
        yield smp_rmb()
        now = yield READ_ONCE(self.s.seq)
        return now != seq

    # ---- the invariant: a success returns a == b ----
    def check(self, ex):
        for tid, rec, at in ex.ghosts:
            if isinstance(rec, ReadEnd) and rec.outcome == "success" and raw(rec.a) != raw(rec.b):
                reads = tuple((n, raw(v), max(v.deps)) for n, v in (("a", rec.a), ("b", rec.b)))
                return TornPair(TORN_PAIR, tid, rec.index,
                                f"returned a = {raw(rec.a)} and b = {raw(rec.b)}: a torn pair", at, reads)
        return None


class NoBeginWmb(Seqlock):
    name = "seqlock-no-begin-wmb"
    description = "drop the writer's smp_wmb after the odd increment"
    expected = "violated"

    def write_begin(self):
        seq = yield READ_ONCE(self.s.seq)
        yield WRITE_ONCE(self.s.seq, seq + 1)


class NoEndWmb(Seqlock):
    name = "seqlock-no-end-wmb"
    description = "drop the writer's smp_wmb before the even increment"
    expected = "violated"

    def write_end(self):
        seq = yield READ_ONCE(self.s.seq)
        yield WRITE_ONCE(self.s.seq, seq + 1)


class NoBeginRmb(Seqlock):
    name = "seqlock-no-begin-rmb"
    description = "drop the reader's smp_rmb after reading seq"
    expected = "violated"

    def read_begin(self):
        seq = yield READ_ONCE(self.s.seq)
        return None if seq & 1 else seq


class NoRetryRmb(Seqlock):
    name = "seqlock-no-retry-rmb"
    description = "drop the reader's smp_rmb before re-reading seq"
    expected = "violated"

    def read_retry(self, seq):
        now = yield READ_ONCE(self.s.seq)
        return now != seq


class NoOddCheck(Seqlock):
    name = "seqlock-no-odd-check"
    description = "the reader does not retry on an odd seq (a write in progress)"
    expected = "violated"

    def read_begin(self):
        seq = yield READ_ONCE(self.s.seq)
        yield smp_rmb()
        return seq


class NoRetry(Seqlock):
    name = "seqlock-no-retry"
    description = "the reader never re-reads seq (no read_seqretry)"
    expected = "violated"

    def read_retry(self, seq):
        return False
        yield
