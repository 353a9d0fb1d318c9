"""Protocol C's kernel objects: two mms (the reader's process and another process),
a type-safe slab of VMA slots, the tasks of the two writers, and the ghost records
the invariant reads.

Built once per scenario, outside the threads, so their identity is the same in
every run and every replay. Threads touch them only through ``models.ops``.
"""

from __future__ import annotations

from typing import Literal

import attrs

from ..events import Loc, Obj
from ..ops import TASK_RUNNING
from ..protocol import GhostRecord

PAGE_SIZE = 0x1000
ADDR = 0x10000                         # the address the reader faults on
VMA_START, VMA_END = 0xc000, 0x14000   # the VMA that covers it at first
OTHER_START, OTHER_END = 0x30000, 0x34000   # the own process's new mapping elsewhere (reuse for another range)

# vm_refcnt: 0 detached, 1 attached, +1 per reader. The writer's exclude flag X
# (VM_REFCNT_EXCLUDE_READERS_FLAG, the kernel's VMA_LOCK_OFFSET) is above the
# reader limit L (VMA_REF_LIMIT = X - 1), so a reader never increments a count
# that has X in it. The model scales both down (it never has more than 8 readers):
# only their order relations matter.
VM_REFCNT_EXCLUDE_READERS_FLAG = 0x100
VMA_REF_LIMIT = VM_REFCNT_EXCLUDE_READERS_FLAG - 1
VM_LOCK_SEQ_UNLOCKED = -1              # UINT_MAX in the kernel: never write-locked


def is_vma_writer_only(refcnt) -> bool:
    """The count a writer waits for: X + 1 (attached) or X (being detached), no readers."""
    return bool(refcnt & VM_REFCNT_EXCLUDE_READERS_FLAG) and refcnt <= VM_REFCNT_EXCLUDE_READERS_FLAG + 1


@attrs.frozen(slots=True, repr=False)
class Freed:
    """What a read of freed memory returns: the free's own store."""

    what: str

    def __repr__(self) -> str:
        return f"<freed {self.what}>"


RefKind = Literal["attach", "exclude", "unexclude", "detach"]


@attrs.frozen(slots=True)
class RefGhost:
    """A writer's store to vm_refcnt and what it means (the invariant's view of a slot:
    attached or detached, write-locked by which writer cycle)."""

    kind: RefKind
    writer: int                  # thread id
    cycle: int

    def note(self) -> str:
        return {"attach": "   [vma_mark_attached]", "exclude": "   [writer excludes readers]",
                "unexclude": "   [VMA write-locked]", "detach": "   [vma_mark_detached]"}[self.kind]


@attrs.frozen(slots=True)
class SlabGhost:
    """A slab free or allocation of a VMA slot (for the report's account of reuse)."""

    op: Literal["free", "alloc"]
    writer: int
    cycle: int
    mm: str                      # the mm the slot leaves or joins

    def note(self) -> str:
        return f"   [{'frees the slot' if self.op == 'free' else 'reuses the slot'}]"


@attrs.frozen(slots=True)
class MmFree:
    """A store of __mmdrop(): the mm's memory is freed (reading it = use after free)."""

    mm: str
    writer: int

    def note(self) -> str:
        return f"   [frees {self.mm}]"


@attrs.frozen(slots=True)
class WriteUnlock(GhostRecord):
    """A writer cycle reaches mmap_write_unlock(): every VMA it write-locked is unlocked."""

    writer: int
    cycle: int
    mm: str

    def trace_text(self) -> str:
        return f"-- mmap_write_unlock({self.mm}) done: cycle {self.cycle}'s write locks end"


def new_mm(name: str) -> Obj:
    """An mm_struct with what protocol C touches: mm_lock_seq (the seqcount of section 4),
    vma_writer_wait (an rcuwait: its task pointer) and mm_count (mmgrab/mmdrop)."""
    return Obj(name, "mm_struct", mm_lock_seq=0, vma_writer_wait=None, mm_count=1)


def new_task(name: str) -> Obj:
    return Obj(name, "task_struct", __state=TASK_RUNNING)


class Kernel:
    """The objects of one scenario."""

    def __init__(self, writers: int = 2):
        self.mm = new_mm("mm")                  # the reader's process
        # Other processes (writer1, writer2, ...), each with its own mm.
        self.other_mms = tuple(new_mm("other_mm" if w == 1 else f"other_mm{w}") for w in range(1, writers))
        # The type-safe slab (SLAB_TYPESAFE_BY_RCU): one slot, at first the VMA that
        # covers ADDR in mm. A freed slot goes back to the cache at once and the next
        # allocation, from any mm, gets it (no grace period).
        self.vma = Obj("vma", "vm_area_struct", vm_refcnt=1, vm_lock_seq=VM_LOCK_SEQ_UNLOCKED,
                       vm_mm=self.mm, vm_start=VMA_START, vm_end=VMA_END)
        self.slots = (self.vma,)
        # The slab's free list: the free slot, or NULL. A free is a release store and
        # an allocation an acquire RMW that waits for a free slot. The slab's own
        # synchronization (a cmpxchg on the freelist, or the node's list_lock) orders a
        # free before the allocation that gets the slot; the model keeps that order
        # and nothing of the slab's code. An allocation waits rather than get fresh
        # memory: the scenarios are about the freed slot's reuse.
        self.slab = Obj("vm_area_cachep", "kmem_cache", freelist=None)
        # The maple tree of mm, at ADDR: the only slot a reader walks.
        self.tree = Loc(f"mm->mm_mt[{ADDR:#x}]", self.vma)
        # The writers' task_structs (the rcuwait's waiter sleeps and is woken in them).
        self.tasks = tuple(new_task(f"writer{w}_task") for w in range(writers))
