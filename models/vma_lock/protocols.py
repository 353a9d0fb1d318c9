"""Protocol C step by step, as the kernel writes it (v6.15+, with the 2025 fix).

Reader (``lock_vma_under_rcu``): walk the mm's tree under RCU, ``vma_start_read``
(early sequence check, ``refcount_inc_not_zero_limited_acquire``, the
``vm_mm != mm`` check that pins the other mm, the sequence check after the
increment), then the range check; on success the caller holds the VMA's read
lock and drops it with ``vma_end_read``.

Writers, one per process (a process's mmap_lock has one holder in the model, so
the rwsem itself is left out; its seqcount ``mm_lock_seq`` is kept, as in
protocol B): ``writer0`` is the reader's own process (cycle 0 unmaps the VMA and
frees its slot; cycle 1 maps another range, reusing the slot); ``writer1`` is
another process (maps, reusing the freed slot; unmaps, write-locking the VMA and
waiting for readers; exits, and its last mmdrop frees its mm); ``writer2``... are
more such processes, each with its own mm.

Every kernel function is a method, so a variant (``variants.py``) overrides one.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import attrs

from ..engine import ThreadSpec
from ..events import raw
from ..ops import (READ_ONCE, WRITE_ONCE, Rmw, mmdrop_dec, mmgrab, raw_read_seqcount, rcu_dereference,
                   rcu_read_lock, rcu_read_unlock, rcuwait_wait_event, rcuwait_wake_up,
                   refcount_add_not_zero, refcount_dec_and_test, refcount_dec_and_test_oldcnt,
                   refcount_inc_not_zero_limited_acquire, refcount_read, refcount_set_release,
                   refcount_sub_and_test, smp_store_release, smp_wmb)
from ..protocol import Protocol, ghost_event, observe
from .invariant import RULES, LockEnd, VmaLockInvariant
from .kernel import (ADDR, OTHER_END, OTHER_START, VM_REFCNT_EXCLUDE_READERS_FLAG, VMA_END,
                     VMA_REF_LIMIT, VMA_START, Freed, Kernel, MmFree, RefGhost, SlabGhost,
                     WriteUnlock, is_vma_writer_only)

X = VM_REFCNT_EXCLUDE_READERS_FLAG


class Outcome(enum.Enum):
    """Why the reader's increment gave up (vma_start_read() then returns
    ERR_PTR(-EAGAIN) or NULL)."""

    EAGAIN = "EAGAIN"            # the count was 0: detached under us, walk again
    LIMIT = "LIMIT"              # the count was >= the limit: a writer excludes readers


@attrs.frozen(slots=True)
class LockResult:
    """lock_vma_under_rcu()'s answer, inside the reader thread."""

    vma: Any = None              # the VMA (a loaded value) on success, else None


@attrs.frozen(slots=True)
class Cycle:
    """A writer cycle's identity, for the ghosts its stores carry."""

    writer: int                  # thread id
    cycle: int

    @property
    def seq(self) -> int:
        """mm_lock_seq while this cycle holds the mmap lock (odd). Each writer is its
        mm's only one, and its cycles are numbered from 0, so the count is known
        without loading it (the count it would load is its own last store)."""
        return 2 * self.cycle + 1

    def ref(self, kind) -> RefGhost:
        return RefGhost(kind, self.writer, self.cycle)



class VmaLock(Protocol):
    """Protocol C as in mainline with the fix ("mm: fix a UAF when vma->mm is freed
    after vma->vm_refcnt got dropped")."""

    name = "C"
    family = "C"
    description = "per-VMA read lock (vm_refcnt) on SLAB_TYPESAFE_BY_RCU VMAs, as in mainline with the 2025 fix"
    expected = "holds"
    rules = RULES
    # writers: 1 = the reader's own process only, 2 = and another process (3: two others);
    # cycles: the own process's (1: munmap; 2: and mmap elsewhere, reusing the slot;
    # then munmap and mmap in turn).
    scenario_options = frozenset({"writers", "cycles", "readers", "lookups"})
    grows = ("cycles", "readers")
    nouns = {"writer": "writer", "cycle": "own-mm cycle", "reader": "reader", "lookup": "lookup"}
    # The real race: a reader, its own process unmapping, another process mapping the
    # freed slot, unmapping and exiting.
    default_scenario: ClassVar[dict] = {"writers": 2, "cycles": 1}
    walks: ClassVar[int] = 2             # tree walks: the first and one retry after EAGAIN
    # refcount_add_not_zero's ordering: refcount.h builds it on a relaxed cmpxchg loop
    # ("once"); protocols.md section 7 calls it fully ordered ("mb"). The verdicts are
    # the same either way (docs/protocols-c.md): the rcuwait's smp_store_mb orders the
    # writer's wait, and a control dependency its later stores.
    add_not_zero_order: ClassVar[str] = "once"

    def __init__(self, writers: int = 2):
        self.k = Kernel(writers)

    @classmethod
    def setup(cls, scenario) -> "VmaLock":
        return cls(scenario.writers)

    def threads(self, scenario) -> list[ThreadSpec]:
        out = [ThreadSpec("writer0", self.own_process, (0, scenario.cycles))]
        out += [ThreadSpec(f"writer{w}", self.other_process, (w,)) for w in range(1, scenario.writers)]
        out += [ThreadSpec(f"reader{r}", self.reader, (r, scenario.lookups))
                for r in range(scenario.readers)]
        return out

    def check(self, ex):
        return VmaLockInvariant(self).check(ex)

    # ================================================================ reader
    def reader(self, rid: int, lookups: int):
        mm = self.k.mm
        for n in range(lookups):
            got = yield from self.lock_vma_under_rcu(mm, ADDR)
            if got.vma is None:
                yield observe(LockEnd(n, "fail", rid))
                continue
            yield observe(LockEnd(n, "success", rid, got.vma))
            # The caller (the page fault) uses the VMA, then drops the read lock.
            yield from self.vma_end_read(got.vma)
            yield observe(LockEnd(n, "unlocked", rid, got.vma))

    def lock_vma_under_rcu(self, mm, addr):
        for _ in range(self.walks):
            yield rcu_read_lock()
            vma = yield from self.mas_walk(mm, addr)
            if not vma:
                yield rcu_read_unlock()
                return LockResult()
            got = yield from self.vma_start_read(mm, vma)
            if got is Outcome.EAGAIN:
                yield rcu_read_unlock()          # detached under us: walk again
                continue
            if got is None:
                yield rcu_read_unlock()
                return LockResult()
            yield rcu_read_unlock()
            if not (yield from self.covers(vma, addr)):
                yield from self.vma_end_read(vma)
                return LockResult()
            return LockResult(vma)
        return LockResult()

    def mas_walk(self, mm, addr):
        vma = yield rcu_dereference(self.k.tree)
        return vma

    def vma_start_read(self, mm, vma):
        if (yield from self.write_locked_early(mm, vma)):
            return None
        got = yield from self.vma_refcount_inc(vma)
        if got is Outcome.EAGAIN:
            return got
        if got is not None:
            return None                          # >= limit: a writer excludes readers
        vm_mm = yield READ_ONCE(vma.vm_mm)
        if (yield from self.is_foreign(mm, vm_mm)):
            yield from self.drop_foreign(vma, vm_mm)
            return None
        if (yield from self.locked_this_cycle(mm, vma)):
            yield from self.vma_refcount_put(vma)
            return None
        return vma

    def write_locked_early(self, mm, vma):
        """READ_ONCE(vma->vm_lock_seq) == READ_ONCE(mm->mm_lock_seq): may be wrong, only
        saves the increment."""
        s = yield READ_ONCE(vma.vm_lock_seq)
        m = yield READ_ONCE(mm.mm_lock_seq)
        return s == m

    def vma_refcount_inc(self, vma):
        """refcount_inc_not_zero_limited_acquire(): None when it took a reference, else
        Outcome.EAGAIN (the count was 0: detached) or Outcome.LIMIT."""
        old = yield refcount_inc_not_zero_limited_acquire(vma.vm_refcnt, VMA_REF_LIMIT)
        if old == 0:
            return Outcome.EAGAIN
        if old >= VMA_REF_LIMIT:
            return Outcome.LIMIT
        return None

    def is_foreign(self, mm, vm_mm):
        return vm_mm != mm
        yield

    def drop_foreign(self, vma, other):
        """The fix: pin the other mm (mmgrab) before dropping the reference, so that the
        put's rcuwait_wake_up() cannot touch a freed mm; mmdrop after."""
        yield rcu_read_unlock()
        yield mmgrab(other.mm_count)
        yield from self.vma_refcount_put(vma)
        yield from self.mmdrop(other, who=None)
        yield rcu_read_lock()

    def locked_this_cycle(self, mm, vma):
        """vma->vm_lock_seq == raw_read_seqcount(&mm->mm_lock_seq): write-locked in the
        current cycle (acquire of vm_refcnt makes vm_lock_seq stable here)."""
        s = yield READ_ONCE(vma.vm_lock_seq)
        m = yield from raw_read_seqcount(mm.mm_lock_seq)
        return s == m

    def covers(self, vma, addr):
        start = yield READ_ONCE(vma.vm_start)
        end = yield READ_ONCE(vma.vm_end)
        return not (addr < start or addr >= end)

    def vma_end_read(self, vma):
        yield from self.vma_refcount_put(vma)

    def vma_refcount_put(self, vma):
        # A copy of vm_mm first: after the decrement the VMA may be freed and reused.
        mm = yield READ_ONCE(vma.vm_mm)
        old = yield from refcount_dec_and_test_oldcnt(vma.vm_refcnt)
        if old != 1 and is_vma_writer_only(old - 1):
            yield from rcuwait_wake_up(mm.vma_writer_wait)

    # ================================================================ writers
    def own_process(self, wid: int, cycles: int):
        """The reader's own process: cycle 0 unmaps the VMA at ADDR; then, in turn, an
        odd cycle maps another range (taking the freed slot, when it is free) and an
        even one unmaps that mapping again."""
        mm = self.k.mm
        task = self.k.tasks[wid]
        vma = self.k.vma
        for c in range(cycles):
            if c % 2 == 0:
                yield from self.munmap(Cycle(wid, c), mm, task, vma, tree=c == 0)
            else:
                vma = yield from self.mmap(Cycle(wid, c), mm, OTHER_START, OTHER_END)

    def other_process(self, wid: int):
        """Another process: mmap (the freed slot), munmap it, exit."""
        mm = self.k.other_mms[wid - 1]
        task = self.k.tasks[wid]
        vma = yield from self.mmap(Cycle(wid, 0), mm, VMA_START, VMA_END)
        yield from self.munmap(Cycle(wid, 1), mm, task, vma, tree=False)
        yield from self.exit_mm(wid, mm)

    def mmap_write_lock(self, cyc: Cycle, mm):
        # do_raw_write_seqcount_begin(): the count + 1 (odd: write-locked), smp_wmb().
        yield WRITE_ONCE(mm.mm_lock_seq, cyc.seq)
        yield smp_wmb()
        return cyc.seq

    def mmap_write_unlock(self, cyc: Cycle, mm, seq):
        yield smp_wmb()
        yield WRITE_ONCE(mm.mm_lock_seq, seq + 1)    # even again: every VMA unlocked
        # The cycle's write locks end with that store (recorded with it: a reader that
        # saw the even count runs after this point).
        yield ghost_event(WriteUnlock(cyc.writer, cyc.cycle, raw(mm).name))

    def munmap(self, cyc: Cycle, mm, task, vma, tree: bool):
        seq = yield from self.mmap_write_lock(cyc, mm)
        yield from self.vma_start_write(cyc, mm, task, vma, seq)
        if tree:
            yield WRITE_ONCE(self.k.tree, None)      # out of the maple tree
        yield from self.vma_mark_detached(cyc, mm, task, vma)
        yield from self.mmap_write_unlock(cyc, mm, seq)
        # The slot goes back to the type-safe cache at once (no grace period).
        yield smp_store_release(self.k.slab.freelist, vma,
                                ghost=SlabGhost("free", cyc.writer, cyc.cycle, raw(mm).name))

    def mmap(self, cyc: Cycle, mm, start, end):
        """mmap() of [start, end) in ``mm``: a new VMA from the slab (the freed slot),
        its fields, vm_lock_seq (vma_start_write() of a detached VMA: the
        refcount_add_not_zero fails on 0, only vm_lock_seq is set: write-locked until
        mmap_write_unlock), then vma_mark_attached (refcount_set_release to 1).
        The new VMA's tree slot is at ``start``; no reader walks it unless it is ADDR's
        (the reader's own tree slot is the only one modelled)."""
        seq = yield from self.mmap_write_lock(cyc, mm)
        vma = yield Rmw(self.k.slab.freelist, lambda old: None, "acquire", "kmem_cache_alloc",
                        returns="old", wait=lambda old: old is not None,
                        ghost=SlabGhost("alloc", cyc.writer, cyc.cycle, raw(mm).name))
        yield WRITE_ONCE(vma.vm_mm, mm)
        yield WRITE_ONCE(vma.vm_start, start)
        yield WRITE_ONCE(vma.vm_end, end)
        yield WRITE_ONCE(vma.vm_lock_seq, seq)
        yield refcount_set_release(vma.vm_refcnt, 1, ghost=cyc.ref("attach"))
        yield from self.mmap_write_unlock(cyc, mm, seq)
        return vma

    def exit_mm(self, wid: int, mm):
        """exit_mmap() (nothing left mapped), then the last mmdrop frees the mm."""
        yield from self.mmdrop(mm, who=wid)

    def mmdrop(self, mm, who):
        left = yield mmdrop_dec(mm.mm_count)
        if left == 0:
            # __mmdrop(): an mm is not RCU-freed: its memory is gone at once.
            g = MmFree(raw(mm).name, who if who is not None else -1)
            yield WRITE_ONCE(mm.vma_writer_wait, Freed(raw(mm).name), ghost=g)
            yield WRITE_ONCE(mm.mm_count, Freed(raw(mm).name), ghost=g)

    # ---- vma_start_write / vma_mark_detached ----
    def vma_start_write(self, cyc: Cycle, mm, task, vma, seq):
        # The kernel first returns if vm_lock_seq == mm_lock_seq (already write-locked
        # in this cycle): each cycle here write-locks its VMA once, so that load (of
        # the writer's own earlier store, or one made before the slot was freed) is
        # left out.
        locked = yield from self.vma_enter_locked(cyc, mm, task, vma, detaching=False)
        yield WRITE_ONCE(vma.vm_lock_seq, seq)
        if locked:
            yield from refcount_sub_and_test(X, vma.vm_refcnt, ghost=cyc.ref("unexclude"))

    def vma_enter_locked(self, cyc: Cycle, mm, task, vma, detaching: bool):
        """Add the exclude flag unless detached, then wait (rcuwait on the mm's
        vma_writer_wait) until the readers are gone: X + 1 (X when detaching)."""
        target = X if detaching else X + 1
        kind = "detach" if detaching else "exclude"
        old = yield refcount_add_not_zero(X, vma.vm_refcnt, ghost=cyc.ref(kind),
                                          order=self.add_not_zero_order)
        if old == 0:
            return False

        def read_refcnt():
            v = yield refcount_read(vma.vm_refcnt)
            return v

        yield from rcuwait_wait_event(mm.vma_writer_wait, task, read_refcnt, lambda v: v == target)
        return True

    def vma_mark_detached(self, cyc: Cycle, mm, task, vma):
        if not (yield from refcount_dec_and_test(vma.vm_refcnt, ghost=cyc.ref("detach"))):
            # Readers hold it (they will see it write-locked and drop it): wait for them.
            if (yield from self.vma_enter_locked(cyc, mm, task, vma, detaching=True)):
                yield from refcount_sub_and_test(X, vma.vm_refcnt, ghost=cyc.ref("detach"))
