"""Every variant of protocols.md section 5, each one small edit of its protocol.

A variant is a subclass of ``ProtocolA`` or ``ProtocolB`` that overrides one
step or one class attribute. ``expected`` is the LKMM verdict the table gives;
it is only ever compared with what exploration or fuzzing finds, never used
in their place. ``default_scenario`` is the smallest scenario that shows the
variant's behaviour (keys of ``models.scenario.Scenario``).

Users write their own variants the same way in a file of their own and name
them ``FILE.py:NAME`` (docs/writing-a-protocol.md); ``models.registry.resolve``
loads them.
"""

from __future__ import annotations

from ..events import raw
from ..ops import (READ_ONCE, WRITE_ONCE, down_read, rcu_read_lock, rcu_read_unlock,
                   smp_load_acquire, smp_store_release, up_read)
from .kernel import Cycle
from .protocols import ProtocolA, ProtocolB, SpeculativeLookup


# ----------------------------------------------------------------- protocol A

class A_no_wmb(ProtocolA):
    name = "A-no-wmb"
    description = "drop the smp_wmb in vma_start_write (mainline's vma_start_write)"
    expected = "violated"
    wmb_in_vma_start_write = False


class A_swapped_loads(ProtocolA):
    name = "A-swapped-loads"
    description = "the reader reads mm_lock_seq before vm_lock_seq"
    expected = "violated"
    default_scenario = {"cycles": 2}

    def read_seqs(self, vma):
        sm = yield smp_load_acquire(self.mm.mm_lock_seq)
        sv = yield smp_load_acquire(vma.vm_lock_seq)
        return sv, sm


class A_relaxed_mm_seq(ProtocolA):
    name = "A-relaxed-mm-seq"
    description = "the reader reads mm_lock_seq with READ_ONCE instead of smp_load_acquire"
    expected = "violated"

    def read_seqs(self, vma):
        sv = yield smp_load_acquire(vma.vm_lock_seq)
        sm = yield READ_ONCE(self.mm.mm_lock_seq)
        return sv, sm


class A_no_rmb(ProtocolA):
    name = "A-no-rmb"
    description = "drop the reader's smp_rmb before the vm_lock_seq recheck"
    expected = "violated"

    def recheck(self, vma, sv):
        seq = yield READ_ONCE(vma.vm_lock_seq)
        return seq == sv


class A_no_recheck(ProtocolA):
    name = "A-no-recheck"
    description = "skip the final vm_lock_seq recheck"
    expected = "violated"

    def recheck(self, vma, sv):
        return True
        yield  # a generator that takes no step


class A_narrow_seq(ProtocolA):
    name = "A-narrow-seq"
    description = "vm_lock_seq and mm_lock_seq of 2 bits: a stalled reader's saved value comes back"
    expected = "violated"
    counter_width = 2
    default_scenario = {"cycles": 4}


class A_skip_vma_lock(ProtocolA):
    name = "A-skip-vma-lock"
    description = "replace the file without vma_start_write"
    expected = "violated"

    def vma_start_write(self, cyc: Cycle, vma):
        return
        yield


class A_full_barriers(ProtocolA):
    name = "A-full-barriers"
    description = "protocol A with every fence an smp_mb"
    full_barriers = True


# ----------------------------------------------------------------- protocol B

class B_pre612(ProtocolB):
    name = "B-pre612"
    description = "try_begin as READ_ONCE + smp_rmb (before v6.12)"

    def try_begin(self):
        s = yield READ_ONCE(self.mm.mm_lock_seq)
        yield self.rmb()
        if s & 1:
            return None
        return s


class B_no_rmb(ProtocolB):
    name = "B-no-rmb"
    description = "drop the smp_rmb in mmap_lock_speculate_retry"
    expected = "violated"

    def retry_ok(self, s):
        now = yield READ_ONCE(self.mm.mm_lock_seq)
        return now == s


class B_no_begin_wmb(ProtocolB):
    name = "B-no-begin-wmb"
    description = "drop the smp_wmb after the odd increment in mmap_write_lock"
    expected = "violated"

    def seq_begin(self, cyc: Cycle, seq):
        nv, g = cyc.counter(seq, 1)
        yield WRITE_ONCE(self.mm.mm_lock_seq, nv, ghost=g)
        cyc.seq = nv


class B_release_begin(ProtocolB):
    name = "B-release-begin"
    description = "the odd increment as smp_store_release, no smp_wmb"
    expected = "violated"

    def seq_begin(self, cyc: Cycle, seq):
        nv, g = cyc.counter(seq, 1)
        yield smp_store_release(self.mm.mm_lock_seq, nv, ghost=g)
        cyc.seq = nv


class B_no_end_wmb(ProtocolB):
    name = "B-no-end-wmb"
    description = "drop the smp_wmb before the even increment in mmap_write_unlock"
    expected = "violated"

    def seq_end(self, cyc: Cycle):
        nv, g = cyc.counter(cyc.seq, 1)
        yield WRITE_ONCE(self.mm.mm_lock_seq, nv, ghost=g)


class B_relaxed_begin(ProtocolB):
    name = "B-relaxed-begin"
    description = "try_begin with a plain READ_ONCE: no acquire, no smp_rmb"
    expected = "violated"

    def try_begin(self):
        s = yield READ_ONCE(self.mm.mm_lock_seq)
        if s & 1:
            return None
        return s


class B_early_file_read(ProtocolB):
    name = "B-early-file-read"
    description = "read the vma and its vm_file before try_begin"
    expected = "violated"

    def speculative_lookup(self, i: int):
        vma = yield from self.k.find_vma(i)
        if raw(vma) is None:
            return None
        f = yield READ_ONCE(vma.vm_file)
        s = yield from self.try_begin()
        if s is None or raw(f) is None:
            return None
        inode = yield READ_ONCE(f.f_inode)
        pgoff = yield READ_ONCE(vma.vm_pgoff)
        start = yield READ_ONCE(vma.vm_start)
        if not (yield from self.retry_ok(s)):
            return None
        return self.success(vma, f, inode, pgoff, start)


class B_unlock_only_count(ProtocolB):
    name = "B-unlock-only-count"
    description = "mm_lock_seq incremented only at unlock (by 2), never at lock"
    expected = "violated"

    def seq_begin(self, cyc: Cycle, seq):
        cyc.seq = seq
        return
        yield

    def seq_end(self, cyc: Cycle):
        yield self.wmb()
        nv, g = cyc.counter(cyc.seq, 2)
        yield WRITE_ONCE(self.mm.mm_lock_seq, nv, ghost=g)


class B_narrow_seq(ProtocolB):
    name = "B-narrow-seq"
    description = "mm_lock_seq of 2 bits: the count wraps back to a value a stalled reader saved"
    expected = "violated"
    counter_width = 2
    default_scenario = {"cycles": 2}


class B_read_locked_change(ProtocolB):
    name = "B-read-locked-change"
    description = "a path changes vm_file holding only mmap_read_lock (no count change)"
    expected = "violated"

    def writer_cycle(self, cyc: Cycle):
        yield down_read(self.mm.mmap_lock)
        old_files = []
        for i, vma in enumerate(self.k.vmas):
            old = yield from self.replace_file(cyc, i, vma)
            old_files.append(old)
        yield cyc.commit()
        yield up_read(self.mm.mmap_lock)
        for old in old_files:
            yield from self.fput(cyc, old)


class B_kfree_file(ProtocolB):
    name = "B-kfree-file"
    description = "files freed at once, without RCU or a typesafe slab (old overlayfs backing file)"
    expected = "violated"
    file_slab = "kfree"


class B_early_rcu_unlock(ProtocolB):
    name = "B-early-rcu-unlock"
    description = "rcu_read_unlock before reading f_inode"
    expected = "violated"
    default_scenario = {"slab": "rcu"}

    def lookup(self, i: int):
        yield rcu_read_lock()
        s = yield from self.try_begin()
        if s is None:
            yield rcu_read_unlock()
            return None
        vma = yield from self.k.find_vma(i)
        if raw(vma) is None:
            yield rcu_read_unlock()
            return None
        f = yield READ_ONCE(vma.vm_file)
        if raw(f) is None:
            yield rcu_read_unlock()
            return None
        pgoff = yield READ_ONCE(vma.vm_pgoff)
        start = yield READ_ONCE(vma.vm_start)
        yield rcu_read_unlock()
        inode = yield READ_ONCE(f.f_inode)
        if not (yield from self.retry_ok(s)):
            return None
        return self.success(vma, f, inode, pgoff, start)


class B_full_barriers(ProtocolB):
    name = "B-full-barriers"
    description = "protocol B with every fence an smp_mb"
    full_barriers = True


class B_as_merged(ProtocolB):
    """find_active_uprobe_speculative() as merged: only vm_file is READ_ONCE; vm_pgoff,
    vm_start and f_inode are plain reads, and the writer's vm_pgoff/vm_start stores
    (and its own reads of them, under the lock) are plain C too."""

    name = "B-as-merged"
    description = "the merged code's markings: plain vm_pgoff, vm_start, f_inode reads; plain writer stores"
    expected = "data race"
    plain_fields = frozenset({"vm_pgoff", "vm_start", "f_inode"})


SHIPPED: tuple[type[SpeculativeLookup], ...] = (
    ProtocolA, A_no_wmb, A_swapped_loads, A_relaxed_mm_seq, A_no_rmb, A_no_recheck,
    A_narrow_seq, A_skip_vma_lock, A_full_barriers,
    ProtocolB, B_pre612, B_no_rmb, B_no_begin_wmb, B_release_begin, B_no_end_wmb,
    B_relaxed_begin, B_early_file_read, B_unlock_only_count, B_narrow_seq,
    B_read_locked_change, B_kfree_file, B_early_rcu_unlock, B_full_barriers, B_as_merged,
)
