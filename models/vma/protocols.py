"""The two speculative-lookup protocols, step by step as the kernel writes them.

Protocol A (``ProtocolA``): the per-VMA sequence check proposed in the LKML
thread (``../shared/seed/uprobe-speculative-lookup-thread.txt``), never merged.
Protocol B (``ProtocolB``): the mm-wide seqcount that landed in v6.14
(``mmap_lock_speculate_try_begin`` / ``mmap_lock_speculate_retry``).

Every barrier, acquire and release is its own step, in its own method named
after the kernel function, so a variant (``models/variants.py``) is a subclass
that overrides one method or flips one class attribute.

A writer cycle is the mission's four steps: mmap write-lock, VMA write-lock
(``vma_start_write``) of every VMA, file replacement (new ``vm_file``, new
``vm_pgoff``/``vm_start``, ``fput`` of the old file), mmap write-unlock.
A lookup is one ``uprobe`` speculative lookup of one address; its outcome goes
to the oracle (``fuzz/oracle.py``) through a ghost step.
"""

from __future__ import annotations

from typing import ClassVar

from ..engine import ThreadSpec
from ..events import raw
from ..ops import (READ_ONCE, WRITE_ONCE, down_write, plain_read, plain_write, rcu_read_lock,
                   rcu_read_unlock, smp_load_acquire, smp_mb, smp_rmb, smp_store_release, smp_wmb,
                   up_write)
from ..protocol import Protocol, ProtocolError, observe
from .invariant import INTACT_RULES, IntactVMA
from .kernel import PAGE_SIZE, Cycle, Kernel, LookupEnd


class SpeculativeLookup(Protocol):
    """Base class of protocols A and B: the writer and reader threads, built from
    overridable steps, and the intact-VMA invariant (``models/vma/invariant.py``)."""

    name: ClassVar[str] = "?"
    protocol: ClassVar[str] = "?"          # "A" or "B" (the family: same as ``family``)
    description: ClassVar[str] = ""
    expected: ClassVar[str] = "holds"      # the LKMM verdict of protocols.md section 5, for
                                           # comparison only: verdicts come from exploration
    # The smallest scenario that shows the variant's behaviour (see models/scenario.py).
    default_scenario: ClassVar[dict] = {}
    scenario_options = frozenset({"vmas", "writers", "cycles", "readers", "lookups", "width",
                                  "spare_files", "slab"})
    grows = ("cycles", "vmas", "readers")
    nouns = {"writer": "writer", "cycle": "cycle", "reader": "reader", "lookup": "lookup"}
    file_slab: ClassVar[str] = "typesafe"
    counter_width: ClassVar[int | None] = None   # bits of the sequence counters; None: unbounded
    full_barriers: ClassVar[bool] = False  # *-full-barriers: every fence is an smp_mb
    # VMA and file fields the code reads and writes with plain C accesses (``r = vma->vm_pgoff``,
    # ``vma->vm_pgoff = v``) instead of READ_ONCE/WRITE_ONCE (B-as-merged). LKMM leaves plain
    # accesses out of its ordering relations and flags a race on them (see fuzz/oracle.py).
    plain_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, kernel: Kernel, slab: str | None = None):
        self.k = kernel
        self.mm = kernel.mm
        self.slab = slab or self.file_slab

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "protocol" in cls.__dict__:
            cls.family = cls.protocol

    # ---- the protocol API (models/protocol.py) ----
    rules = INTACT_RULES

    @classmethod
    def setup(cls, scenario) -> "SpeculativeLookup":
        width = scenario.width if scenario.width is not None else cls.counter_width
        spares = scenario.spare_files if scenario.spare_files is not None \
            else scenario.writers * scenario.cycles * scenario.vmas
        return cls(Kernel(scenario.vmas, spares, width), slab=scenario.slab)

    def threads(self, scenario) -> list[ThreadSpec]:
        out = []
        for w in range(scenario.writers):
            pool = tuple(self.k.spares[w::scenario.writers])
            out.append(ThreadSpec(f"writer{w}", self.writer, (w, scenario.cycles, pool)))
        for r in range(scenario.readers):
            out.append(ThreadSpec(f"reader{r}", self.reader, (r, scenario.lookups)))
        return out

    def check(self, ex):
        return IntactVMA(self).check(ex)

    def protected_by(self) -> dict:
        """The locations only the holder of mmap_lock stores to: the VMA's fields a
        writer cycle changes, its vm_lock_seq and vm_lock (vma_start_write() runs
        under mmap_write_lock()) and mm_lock_seq (changed only with mmap_lock held
        for writing, include/linux/mm_types.h). The explorer takes a lock holder's
        accesses to them first (``models/explore.py``, ``invisible_first``) and
        checks every store against this."""
        lock = self.mm.mmap_lock
        out = {self.mm.mm_lock_seq: lock}
        for vma in self.k.vmas:
            for name in ("vm_file", "vm_pgoff", "vm_start", "vm_lock_seq", "vm_lock"):
                out[vma.field(name)] = lock
        return out

    # ---- field accesses, so that a variant can make some of them plain ----
    def read_field(self, loc, field: str):
        return plain_read(loc) if field in self.plain_fields else READ_ONCE(loc)

    def write_field(self, loc, field: str, value, ghost=None):
        if field in self.plain_fields:
            return plain_write(loc, value, ghost=ghost)
        return WRITE_ONCE(loc, value, ghost=ghost)

    # ---- fences, so that *-full-barriers can turn each into smp_mb ----
    def wmb(self):
        return smp_mb() if self.full_barriers else smp_wmb()

    def rmb(self):
        return smp_mb() if self.full_barriers else smp_rmb()

    # ---- threads ----
    def writer(self, wid: int, cycles: int, spares: tuple):
        pool = list(spares)           # thread-local: a replay starts again from the tuple
        for c in range(cycles):
            cyc = Cycle(self.k, wid, c, pool)
            yield from self.writer_cycle(cyc)
            if not cyc.committed:
                raise ProtocolError(
                    f"{self.name}: writer cycle {c} ended without `yield cyc.commit()`: every "
                    f"writer cycle must commit its version (take the commit step where the "
                    f"write side ends, as mmap_write_unlock() does), or every read of its "
                    f"values is judged uncommitted")

    def writer_cycle(self, cyc: Cycle):
        yield from self.mmap_write_lock(cyc)
        for vma in self.k.vmas:
            yield from self.vma_start_write(cyc, vma)
        old_files = []
        for i, vma in enumerate(self.k.vmas):
            old = yield from self.replace_file(cyc, i, vma)
            old_files.append(old)
        yield from self.mmap_write_unlock(cyc)
        # The old file's reference is dropped after the unlock, as remove_vma()'s fput()
        # does (and its __fput runs later still, from task_work). Dropping it inside the
        # lock would add fput's full barrier (atomic_long_dec_and_test) before the unlock
        # and hide a missing smp_wmb there (B-no-end-wmb).
        for old in old_files:
            yield from self.fput(cyc, old)

    def reader(self, rid: int, lookups: int):
        for n in range(lookups):
            i = (rid + n) % len(self.k.vmas)
            result = yield from self.lookup(i)
            outcome, consumed = result if result is not None else ("bail", {})
            yield observe(LookupEnd(n, outcome, rid, consumed))

    # ---- the file replacement, shared by both protocols ----
    def replace_file(self, cyc: Cycle, i: int, vma):
        """vma->vm_file = new file, new vm_pgoff, vm_start moved down a page.
        Returns the old file, which the cycle fput()s after mmap_write_unlock."""
        old = yield self.read_field(vma.vm_file, "vm_file")
        start = yield self.read_field(vma.vm_start, "vm_start")
        pgoff = yield self.read_field(vma.vm_pgoff, "vm_pgoff")
        new, inc = yield from cyc.alloc_file(i)
        new_start = raw(start) - PAGE_SIZE
        new_pgoff = raw(pgoff) + 7       # a new file: any offset; distinct per cycle
        yield self.write_field(vma.vm_file, "vm_file", new, cyc.ghost)
        yield self.write_field(vma.vm_pgoff, "vm_pgoff", new_pgoff, cyc.ghost)
        yield self.write_field(vma.vm_start, "vm_start", new_start, cyc.ghost)
        cyc.record(vma, vm_file=new, vm_pgoff=new_pgoff, vm_start=new_start, incarnation=inc)
        return old

    def fput(self, cyc: Cycle, f):
        yield from self.k.fput(cyc, f, self.slab)

    # ---- the reader ----
    def lookup(self, i: int):
        """One uprobe lookup of VMA ``i``'s address: under rcu_read_lock() only.
        Returns None (bail out to the mmap_lock slow path) or what succeeded."""
        yield rcu_read_lock()
        result = yield from self.speculative_lookup(i)
        yield rcu_read_unlock()
        return result

    # ---- the success of a lookup: what the oracle is shown ----
    @staticmethod
    def success(vma, f, inode, pgoff, start):
        return ("success", {"vma": vma, "vm_file": f, "f_inode": inode,
                            "vm_pgoff": pgoff, "vm_start": start})

    def read_vma_fields(self, vma):
        """f = READ_ONCE(vma->vm_file); inode = f->f_inode (address dependency);
        then vm_pgoff and vm_start for the offset."""
        f = yield self.read_field(vma.vm_file, "vm_file")
        if raw(f) is None:
            return None
        inode = yield self.read_field(f.f_inode, "f_inode")
        pgoff = yield self.read_field(vma.vm_pgoff, "vm_pgoff")
        start = yield self.read_field(vma.vm_start, "vm_start")
        return f, inode, pgoff, start


class ProtocolA(SpeculativeLookup):
    """Section 3: per-VMA sequence check (vm_lock_seq against mm_lock_seq)."""

    name = "A"
    protocol = "A"
    description = "per-VMA sequence check as proposed in the thread (smp_wmb in vma_start_write)"
    default_scenario = {"cycles": 1}
    wmb_in_vma_start_write: ClassVar[bool] = True

    def mmap_write_lock(self, cyc: Cycle):
        yield down_write(self.mm.mmap_lock)
        cyc.seq = yield READ_ONCE(self.mm.mm_lock_seq)   # stable: only changed under mmap_lock

    def vma_start_write(self, cyc: Cycle, vma):
        seq = yield READ_ONCE(vma.vm_lock_seq)
        if seq == cyc.seq:
            return                                        # already write-locked this cycle
        yield down_write(vma.vm_lock)
        yield WRITE_ONCE(vma.vm_lock_seq, cyc.seq, ghost=cyc.counter_ghost)
        if self.wmb_in_vma_start_write:
            # up_write is only a release: a later vm_file store could pass the
            # vm_lock_seq store without this (the thread's fix).
            yield self.wmb()
        yield up_write(vma.vm_lock)

    def mmap_write_unlock(self, cyc: Cycle):
        yield cyc.commit()
        nv, g = cyc.counter(cyc.seq, 1)
        # Unlocks every VMA locked in this cycle: vm_lock_seq != mm_lock_seq again.
        yield smp_store_release(self.mm.mm_lock_seq, nv, ghost=g)
        yield up_write(self.mm.mmap_lock)

    def speculative_lookup(self, i: int):
        vma = yield from self.k.find_vma(i)
        if raw(vma) is None:
            return None
        sv, sm = yield from self.read_seqs(vma)
        if sv == sm:
            return None                                   # VMA write-locked now
        got = yield from self.read_vma_fields(vma)
        if got is None:
            return None
        if not (yield from self.recheck(vma, sv)):
            return None
        return self.success(vma, *got)

    def read_seqs(self, vma):
        # Read first: pairs with smp_wmb() in vma_start_write().
        sv = yield smp_load_acquire(vma.vm_lock_seq)
        # Pairs with the release at unlock.
        sm = yield smp_load_acquire(self.mm.mm_lock_seq)
        return sv, sm

    def recheck(self, vma, sv):
        yield self.rmb()      # orders the speculative loads before the recheck
        seq = yield READ_ONCE(vma.vm_lock_seq)
        return seq == sv


class ProtocolB(SpeculativeLookup):
    """Section 4: mm-wide seqcount (v6.14 mmap_lock_speculate_try_begin/retry)."""

    name = "B"
    protocol = "B"
    description = "mm-wide mm_lock_seq seqcount, as merged in v6.14"
    default_scenario = {"cycles": 1}

    def mmap_write_lock(self, cyc: Cycle):
        yield down_write(self.mm.mmap_lock)
        seq = yield READ_ONCE(self.mm.mm_lock_seq)
        yield from self.seq_begin(cyc, seq)

    def seq_begin(self, cyc: Cycle, seq):
        nv, g = cyc.counter(seq, 1)                      # now odd
        yield WRITE_ONCE(self.mm.mm_lock_seq, nv, ghost=g)
        cyc.seq = nv
        yield self.wmb()

    def vma_start_write(self, cyc: Cycle, vma):
        # v6.14 still write-locks the VMA (for per-VMA locking); B does not rely on it.
        seq = yield READ_ONCE(vma.vm_lock_seq)
        if seq == cyc.seq:
            return
        yield down_write(vma.vm_lock)
        yield WRITE_ONCE(vma.vm_lock_seq, cyc.seq, ghost=cyc.counter_ghost)
        yield up_write(vma.vm_lock)

    def mmap_write_unlock(self, cyc: Cycle):
        yield cyc.commit()
        yield from self.seq_end(cyc)
        yield up_write(self.mm.mmap_lock)

    def seq_end(self, cyc: Cycle):
        yield self.wmb()
        nv, g = cyc.counter(cyc.seq, 1)                  # even again
        yield WRITE_ONCE(self.mm.mm_lock_seq, nv, ghost=g)

    def speculative_lookup(self, i: int):
        s = yield from self.try_begin()
        if s is None:
            return None
        vma = yield from self.k.find_vma(i)
        if raw(vma) is None:
            return None
        got = yield from self.read_vma_fields(vma)
        if got is None:
            return None
        if not (yield from self.retry_ok(s)):
            return None
        return self.success(vma, *got)

    def try_begin(self):
        """mmap_lock_speculate_try_begin(): None when a writer holds the lock."""
        s = yield smp_load_acquire(self.mm.mm_lock_seq)
        if s & 1:
            return None
        return s

    def retry_ok(self, s):
        """not mmap_lock_speculate_retry(): smp_rmb(), then the count is unchanged."""
        yield self.rmb()
        now = yield READ_ONCE(self.mm.mm_lock_seq)
        return now == s
