"""The variants of protocols.md section 7's table: each one edit of ``VmaLock``."""

from __future__ import annotations

from ..ops import refcount_inc, refcount_inc_not_zero_limited
from .kernel import VMA_REF_LIMIT
from .protocols import Outcome, VmaLock


class ForeignMmPut(VmaLock):
    name = "C-foreign-mm-put"
    description = "the code before the 2025 fix: a foreign VMA is dropped with vma_end_read, no mmgrab"
    expected = "violated"

    def drop_foreign(self, vma, other):
        # The other mm is not pinned: after the decrement it can be freed before
        # vma_refcount_put() wakes its writer through it.
        yield from self.vma_end_read(vma)


class NoMmCheck(VmaLock):
    name = "C-no-mm-check"
    description = "no vm_mm != mm check: a VMA reused by another process is returned"
    expected = "violated"

    def is_foreign(self, mm, vm_mm):
        return False
        yield


class NoRangeCheck(VmaLock):
    name = "C-no-range-check"
    description = "no vm_start/vm_end check after locking: a VMA reused for another range is returned"
    expected = "violated"
    default_scenario = {"writers": 1, "cycles": 2}

    def covers(self, vma, addr):
        return True
        yield


class NoSeqCheck(VmaLock):
    name = "C-no-seq-check"
    description = "no vm_lock_seq == mm_lock_seq check after the increment"
    expected = "violated"
    default_scenario = {"writers": 1, "cycles": 1}

    def locked_this_cycle(self, mm, vma):
        return False
        yield


class IncAlways(VmaLock):
    name = "C-inc-always"
    description = "refcount_inc instead of refcount_inc_not_zero_limited_acquire (ignores 0 and the writer's flag)"
    expected = "violated"
    default_scenario = {"writers": 1, "cycles": 1}

    def vma_refcount_inc(self, vma):
        yield refcount_inc(vma.vm_refcnt)
        return None


class RelaxedInc(VmaLock):
    name = "C-relaxed-inc"
    description = "the reader's increment without acquire (a relaxed cmpxchg loop, control dependency only)"
    expected = "violated"    # what we believe (docs/protocols-c.md); the verdict is exploration's
    default_scenario = {"writers": 1, "cycles": 1}

    def vma_refcount_inc(self, vma):
        old = yield refcount_inc_not_zero_limited(vma.vm_refcnt, VMA_REF_LIMIT)
        if old == 0:
            return Outcome.EAGAIN
        if old >= VMA_REF_LIMIT:
            return Outcome.LIMIT
        return None


SHIPPED = (VmaLock, ForeignMmPut, NoMmCheck, NoRangeCheck, NoSeqCheck, IncAlways, RelaxedInc)
