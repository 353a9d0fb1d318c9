"""Kernel objects for the speculative VMA lookup: mm, VMAs, struct file, inodes.

These are built once per scenario (outside the threads, so their identity is
the same in every run and every replay). Their fields are engine locations;
threads touch them only through the primitives of ``models/ops.py``.

Ghost state (what the kernel does not have, for the oracle in
``fuzz/oracle.py``) rides on stores as ``StoreGhost`` and on ``ghost(...)``
steps; the memory model never looks at it.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..engine import ModelError
from ..events import Loc, Obj, raw
from ..ops import WRITE_ONCE, atomic_dec_return, rcu_dereference, synchronize_rcu
from ..protocol import GhostRecord, Observation, ghost_event

PAGE_SIZE = 0x1000
LOOKUP_BASE = 0x10000        # VMA i initially spans [base + i*16 pages, +8 pages)

SLABS = ("typesafe", "rcu", "kfree")
"""How a struct file's memory is released after its last fput:

* ``typesafe``: files_cachep is SLAB_TYPESAFE_BY_RCU: the slot is handed to a new
  file (another inode) at once, while RCU readers may still hold the old pointer;
* ``rcu``: freed after a grace period (kfree_rcu; also what finally happens to a
  SLAB_TYPESAFE_BY_RCU page): synchronize_rcu(), then the memory is gone;
* ``kfree``: freed at once (the old overlayfs backing-file case).
"""


@attrs.frozen(slots=True, repr=False)
class Inode:
    """An inode, used by the reader only as a lookup key (never dereferenced)."""

    ino: Any

    def __repr__(self) -> str:
        return f"inode<{self.ino}>"


@attrs.frozen(slots=True, repr=False)
class Freed:
    """What a read of freed memory returns: the value of the free itself."""

    what: str

    def __repr__(self) -> str:
        return f"<freed {self.what}>"


@attrs.frozen(slots=True)
class StoreGhost:
    """Provenance of a store, for the oracle: which writer cycle made it and why."""

    writer: int                 # thread id of the writer, -1 for the scenario's setup
    cycle: int                  # the writer's own cycle number (0-based)
    incarnation: int | None = None   # for f_inode stores: the file incarnation it starts
    freed: bool = False         # the store is the free of the object (reading it = use after free)
    wrapped: bool = False       # a counter store whose value overflowed its width
    counter: bool = False       # a store of a sequence count (the report says when one repeats)

    def note(self) -> str:
        """What a trace adds to the store's line."""
        return "   [frees the object]" if self.freed else "   [counter overflowed]" if self.wrapped else ""


@attrs.frozen(slots=True)
class Commit(GhostRecord):
    """A writer cycle's version becomes committed (protocols.md section 6, rule 2)."""

    writer: int                 # thread id
    cycle: int
    delta: dict                 # VMA name -> {field: value} this cycle changed

    def trace_text(self) -> str:
        return f"-- commit: cycle {self.cycle} done, mmap_write_unlock() begins"


@attrs.frozen(slots=True)
class LookupEnd(Observation):
    """A speculative lookup ended: ``outcome`` is ``success`` or ``bail``; after a
    success, ``consumed`` holds the values it used (``Protocol.success``)."""

    rid: int = 0                # the reader's number (not its thread id)
    consumed: dict = attrs.field(factory=dict)

    noun = "lookup"


def lock_field(obj: Obj, name: str) -> Loc:
    """Make ``obj->name`` a lock word (rwsem / spinlock): only lock primitives may touch it."""
    loc = Loc(f"{obj.name}->{name}", 0, lock=True, owner=obj)
    obj.fields[name] = loc
    return loc


class Counter:
    """Sequence-counter arithmetic of a given width (None: unbounded)."""

    __slots__ = ("width",)

    def __init__(self, width: int | None):
        self.width = width

    def norm(self, v: int) -> int:
        return v if self.width is None else v % (1 << self.width)

    def add(self, v: Any, d: int) -> tuple[Any, bool]:
        """``v + d`` in the counter's width, keeping ``v``'s dependencies; and whether it wrapped."""
        total = v + d
        if self.width is None:
            return total, False
        mask = (1 << self.width) - 1
        return total & mask, not (0 <= raw(total) <= mask)


class Kernel:
    """The objects of one scenario: one mm, ``vmas`` VMAs each mapping a file,
    and spare struct file slots for the writers' new files."""

    def __init__(self, vmas: int, spare_files: int, width: int | None, vm_lock_seq_init: int = -1):
        self.counter = Counter(width)
        self.mm = Obj("mm", "mm_struct", mm_lock_seq=0)
        lock_field(self.mm, "mmap_lock")
        self.files: list[Obj] = []
        self.inode_of: dict[tuple[str, int], Inode] = {}
        self.vmas: list[Obj] = []
        self.tree: list[Loc] = []       # the maple tree, one slot per looked-up address
        for i in range(vmas):
            f = self._new_slot(Inode(f"init{i}"), allocated=True)
            start = LOOKUP_BASE + i * 16 * PAGE_SIZE
            vma = Obj(f"vma{i}", "vm_area_struct",
                      vm_lock_seq=self.counter.norm(vm_lock_seq_init),
                      vm_file=f, vm_pgoff=0, vm_start=start, vm_end=start + 8 * PAGE_SIZE,
                      vm_mm=self.mm)
            lock_field(vma, "vm_lock")
            self.vmas.append(vma)
            slot = Loc(f"mm->mm_mt[{start + 4 * PAGE_SIZE:#x}]", vma)
            self.tree.append(slot)
        self.spares = [self._new_slot(None, allocated=False) for _ in range(spare_files)]

    def _new_slot(self, inode: Inode | None, allocated: bool) -> Obj:
        n = len(self.files)
        f = Obj(f"file{n}", "file", f_inode=inode, f_count=1 if allocated else 0)
        self.files.append(f)
        return f

    def initial_version(self) -> dict:
        """V_0: the protected state of every VMA before any writer cycle."""
        return {vma.name: {"vma": vma,
                           "vm_file": vma.vm_file.init,
                           "vm_pgoff": vma.vm_pgoff.init,
                           "vm_start": vma.vm_start.init,
                           "vm_end": vma.vm_end.init,
                           "incarnation": f"init{i}"}
                for i, vma in enumerate(self.vmas)}

    # ------------------------------------------------------------------
    # kernel helpers used by the protocols
    # ------------------------------------------------------------------
    def find_vma(self, i: int):
        """The RCU-safe address lookup (maple tree walk): one rcu_dereference."""
        vma = yield rcu_dereference(self.tree[i])
        return vma

    def fput(self, cyc: "Cycle", f: Any, slab: str):
        """Drop a reference; on the last one the slot is released as ``slab`` says."""
        left = yield atomic_dec_return(f.f_count)
        if left != 0:
            return
        g = cyc.ghost
        if slab == "typesafe":
            # SLAB_TYPESAFE_BY_RCU: the slot goes to a new file with another inode at once.
            inc = cyc.incarnation(f"r{raw(f).name}")
            yield WRITE_ONCE(f.f_inode, Inode(inc), ghost=attrs.evolve(g, incarnation=inc))
        elif slab == "rcu":
            yield synchronize_rcu()
            yield WRITE_ONCE(f.f_inode, Freed(raw(f).name), ghost=attrs.evolve(g, freed=True))
        elif slab == "kfree":
            yield WRITE_ONCE(f.f_inode, Freed(raw(f).name), ghost=attrs.evolve(g, freed=True))
        else:
            raise ValueError(f"unknown slab kind {slab!r}")


class Cycle:
    """One writer cycle's thread-local bookkeeping (lives inside the writer's generator)."""

    def __init__(self, kernel: "Kernel", writer: int, cycle: int, spares: list):
        self.k = kernel
        self.writer = writer
        self.cycle = cycle
        self.ghost = StoreGhost(writer, cycle)
        self.seq: Any = None                  # the mm_lock_seq value this cycle saw at lock time
        self.delta: dict[str, dict] = {}      # what this cycle changed, for its committed version
        self.spares = spares                  # this writer's unused file slots
        self.committed = False                # did the cycle yield its commit()?

    def incarnation(self, what: str) -> str:
        """Incarnation ids are unique per (writer, cycle, purpose): no shared state needed."""
        return f"w{self.writer}c{self.cycle}{what}"

    def alloc_file(self, vma_index: int):
        """get_empty_filp(): a spare slot becomes a new file (new incarnation, new inode)."""
        if not self.spares:
            raise ModelError("the scenario has too few spare file slots for its writer cycles")
        f = self.spares.pop(0)
        inc = self.incarnation(f"v{vma_index}")
        yield WRITE_ONCE(f.f_count, 1, ghost=self.ghost)
        yield WRITE_ONCE(f.f_inode, Inode(inc), ghost=attrs.evolve(self.ghost, incarnation=inc))
        return f, inc

    def counter(self, v: Any, d: int) -> tuple[Any, StoreGhost]:
        """``v + d`` in the counter's width, and the ghost for its store (marks wrap-around)."""
        nv, wrapped = self.k.counter.add(v, d)
        return nv, attrs.evolve(self.ghost, wrapped=wrapped, counter=True)

    @property
    def counter_ghost(self) -> StoreGhost:
        """For a store of a count value read elsewhere (vm_lock_seq = mm_lock_seq)."""
        return attrs.evolve(self.ghost, counter=True)

    def record(self, vma: Obj, **fields) -> None:
        self.delta.setdefault(vma.name, {}).update(fields)

    def commit(self):
        """The ghost step that makes this cycle's version committed (section 6, rule 2),
        taken as mmap_write_unlock() begins. It is a step of its own, so a reader can
        run between the cycle's last store and it: values read there are a cycle in
        progress, never intact, even when consistent."""
        self.committed = True
        return ghost_event(Commit(self.writer, self.cycle, self.delta), step=True)
