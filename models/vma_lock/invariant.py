"""Protocol C's invariant, in its own terms (protocols.md sections 6 and 7).

Asked at each observation of a reader (``LockEnd``). It reads ghost state the
kernel does not have (which writer cycle made a vm_refcnt store and why, which
store frees an mm, when a writer cycle reached mmap_write_unlock) and the
execution graph; it never trusts the reader's own checks.

Rules, in the order they are checked:

* ``use after free``: no thread read memory freed by then (a store of
  ``__mmdrop``: an mm after its last mmdrop). A reused VMA slot is not freed
  memory: SLAB_TYPESAFE_BY_RCU keeps it a VMA.
* After a successful ``lock_vma_under_rcu(mm, addr)``, judged on the VMA slot's
  state when the lock is returned (the co-latest stores made by then):
  ``VMA of another mm`` (its vm_mm is not the reader's mm);
  ``VMA does not cover addr`` (vm_start <= addr < vm_end fails);
  ``detached VMA`` (the last writer store to its vm_refcnt was vma_mark_detached's);
  ``write-locked VMA`` (a writer cycle had write-locked it before the reader's
  increment, vma_start_write's last step or a new VMA's attach, and has not reached
  mmap_write_unlock: it may change the VMA under the read lock).
"""

from __future__ import annotations

from typing import Any

import attrs

from ..events import raw
from ..protocol import Observation, Violation
from .kernel import ADDR, MmFree, RefGhost, SlabGhost, WriteUnlock, is_vma_writer_only

USE_AFTER_FREE = "use after free"
FOREIGN = "VMA of another mm"
RANGE = "VMA does not cover addr"
DETACHED = "detached VMA"
WRITE_LOCKED = "write-locked VMA"
RULES = (USE_AFTER_FREE, FOREIGN, RANGE, DETACHED, WRITE_LOCKED)


@attrs.frozen(slots=True)
class LockEnd(Observation):
    """A reader's lock_vma_under_rcu ended (``success`` or ``fail``), or its read lock
    was dropped (``unlocked``). ``vma`` is the VMA it returned (a loaded value)."""

    rid: int = 0
    vma: Any = None

    noun = "lookup"


@attrs.frozen(slots=True)
class Highlight:
    """An event pair a picture of the violation marks (a load and the store it read)."""

    read: int | None
    source: int | None


@attrs.frozen(slots=True)
class VmaLockViolation(Violation):
    """A broken rule, with what the report tells: the reader's VMA state, or the
    story of a use after free."""

    read: int | None = None          # the offending load (use after free)
    source: int | None = None        # the store it read
    state: tuple = ()                # (field, value, store eid) of the VMA when locked
    increment: int | None = None     # the reader's successful increment (its write)

    @property
    def consumed(self) -> tuple:
        """The events a picture highlights (``vmafuzz ... --graph``): the read of freed
        memory and the free; or the stores that made the VMA's state, and the
        reader's increment."""
        if self.rule == USE_AFTER_FREE:
            return (Highlight(self.read, self.source),)
        out = tuple(Highlight(None, src) for _, _, src in self.state if src is not None)
        if self.increment is not None:
            out += (Highlight(self.increment - 1, None),)
        return out

    def report_lines(self, ex, trace, width=None) -> list[str]:
        if self.rule == USE_AFTER_FREE:
            return uaf_story(self, ex, trace)
        out = ["  the VMA when the lock was returned (the latest stores made by then):"]
        for field, value, src in self.state:
            where = trace.describe_store(src) if src is not None else "?"
            out.append(f"    {field:<11}= {_fmt(value):<18} from {where}{_note(ex, src)}")
        if self.increment is not None:
            out.append(f"  the reader's increment: #{trace.step_of(self.increment)} "
                       f"{ex.events[self.increment - 1].label}")
        return out


def _fmt(v) -> str:
    from ..events import show_value
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 0x1000:
        return hex(v)
    return show_value(v)


def _note(ex, eid) -> str:
    if eid is None:
        return ""
    g = ex.events[eid].ghost
    note = getattr(g, "note", None)
    return note() if callable(note) else ""


def _name(ex, tid) -> str:
    return ex.threads[tid].spec.name if tid >= 0 else "setup"


def uaf_story(v: VmaLockViolation, ex, trace) -> list[str]:
    """The use after free as a kernel developer tells it: the threads, the slot's
    reuse, the count the waiting writer saw, the free and the access after it."""
    step = trace.step_of
    rd = ex.events[v.read]
    src = ex.events[v.source]
    freed = src.ghost.mm if isinstance(src.ghost, MmFree) else "?"
    who = _name(ex, rd.tid)
    events = [e for e in ex.events[:v.at] if e.tid >= 0]
    allocs = [e.eid for e in events if isinstance(e.ghost, SlabGhost) and e.ghost.op == "alloc"]
    reuse = allocs[-1] if allocs else 0
    out = [f"  {who}: lock_vma_under_rcu(mm, {ADDR:#x}); writer0: the same process (mm) unmaps the "
           f"VMA; writer1: another process (other_mm) maps, unmaps, exits", "  how it happened:"]
    told_mm = False
    for e in events:
        g = e.ghost
        line = None
        if isinstance(g, SlabGhost):
            line = (f"{_name(ex, e.tid)} kmem_cache_free: the VMA slot goes back to the type-safe cache "
                    f"({g.mm} unmapped it)" if g.op == "free" else
                    f"{_name(ex, e.tid)} kmem_cache_alloc: the same slot becomes a VMA of {g.mm}")
            if g.op == "free" and e.eid > reuse:
                line = None                    # a later free: not part of the story
        elif e.tid == rd.tid and e.kind == "R" and e.label == "rcu_dereference":
            line = f"{who} mas_walk: finds the VMA slot in mm's tree (= {_fmt(e.value)})"
        elif e.tid == rd.tid and e.kind == "R" and e.loc.name.endswith("->vm_mm") and e.value is not None \
                and getattr(e.value, "name", None) == freed:
            line = (f"{who} reads vm_mm = {freed}: not its mm (the slot was reused)" if not told_mm else
                    f"{who} vma_refcount_put copies vm_mm = {freed} for the wake-up")
            told_mm = True
        elif e.kind == "W" and e.rmw is not None and e.loc.name.endswith("->vm_refcnt") \
                and (e.tid == rd.tid or (isinstance(g, RefGhost) and g.kind == "exclude" and e.eid > reuse)):
            what = " (excludes readers: vma_start_write)" if isinstance(g, RefGhost) else ""
            line = (f"{_name(ex, e.tid)} {ex.events[e.rmw].label}: vm_refcnt "
                    f"{_fmt(ex.events[e.rmw].value)} -> {_fmt(e.value)}{what}")
        elif e.kind == "R" and e.label == "refcount_read" and e.eid > reuse:
            alone = isinstance(e.value, int) and is_vma_writer_only(e.value)
            line = (f"{_name(ex, e.tid)} waits for readers: sees vm_refcnt = {_fmt(e.value)}"
                    + (": no reader left, it does not sleep" if alone else ": it sleeps"))
        elif e.kind == "W" and isinstance(g, MmFree) and e.loc.name.endswith("vma_writer_wait"):
            line = f"{_name(ex, e.tid)} mmdrop: its last reference: __mmdrop frees {g.mm} at once"
        if line is not None:
            out.append(f"    #{step(e.eid)} {line}")
    out.append(f"    #{step(rd.eid)} {who} {rd.label} reads {rd.loc.name}: memory of {freed}, "
               f"freed at #{step(src.eid)}")
    out.append(f"  rule broken: {USE_AFTER_FREE} (an mm is freed at its last mmdrop, with no grace "
               f"period; only an mmgrab before the put would keep it)")
    return out


class VmaLockInvariant:
    def __init__(self, protocol):
        self.p = protocol
        self.k = protocol.k

    def check(self, ex) -> VmaLockViolation | None:
        unlocked: dict[tuple[int, int], int] = {}
        for tid, rec, at in ex.ghosts:
            if isinstance(rec, WriteUnlock):
                unlocked[(rec.writer, rec.cycle)] = at
            elif isinstance(rec, LockEnd):
                v = self.use_after_free(ex, tid, rec, at)
                if v is None and rec.outcome == "success":
                    v = self.intact(ex, tid, rec, at, unlocked)
                if v is not None:
                    return v
        return None

    # ---- use after free ----
    def use_after_free(self, ex, tid, rec, at):
        for e in ex.events[:at]:
            if e.kind != "R" or e.eid not in ex.rf:
                continue
            src = ex.events[ex.rf[e.eid]]
            if isinstance(src.ghost, MmFree):
                return VmaLockViolation(
                    USE_AFTER_FREE, tid, rec.index,
                    f"{_name(ex, e.tid)}'s {e.label} read {e.loc.name} after {_name(ex, src.tid)} "
                    f"freed {src.ghost.mm} (its last mmdrop)", at, read=e.eid, source=src.eid)
        return None

    # ---- the returned VMA ----
    @staticmethod
    def latest(ex, loc, at):
        """The co-latest store to ``loc`` among the events made before ``at``."""
        best = None
        for w in ex.co.get(loc, ()):
            if w < at:
                best = w
        return best

    def intact(self, ex, tid, rec, at, unlocked):
        vma = raw(rec.vma)
        state = []
        for field in ("vm_mm", "vm_start", "vm_end"):
            w = self.latest(ex, vma.field(field), at)
            state.append((field, ex.events[w].value if w is not None else vma.field(field).init, w))
        vals = {f: val for f, val, _ in state}
        inc = self._increment(ex, tid, vma, at)
        kw = dict(state=tuple(state), increment=inc)
        name = _name(ex, tid)
        if vals["vm_mm"] is not self.k.mm:
            return VmaLockViolation(FOREIGN, tid, rec.index,
                                    f"{name} read-locked a VMA of {vals['vm_mm']!r}, not of its mm",
                                    at, **kw)
        if not (vals["vm_start"] <= ADDR < vals["vm_end"]):
            return VmaLockViolation(RANGE, tid, rec.index,
                                    f"{name} read-locked [{_fmt(vals['vm_start'])}, {_fmt(vals['vm_end'])}), "
                                    f"which does not cover {ADDR:#x}", at, **kw)
        refs = [w for w in ex.co.get(vma.vm_refcnt, ()) if w < at]
        ghosts = [w for w in refs if isinstance(ex.events[w].ghost, RefGhost)]
        if ghosts and ex.events[ghosts[-1]].ghost.kind == "detach":
            return VmaLockViolation(DETACHED, tid, rec.index,
                                    f"{name} read-locked a VMA that "
                                    f"{_name(ex, ex.events[ghosts[-1]].tid)} had detached", at, **kw)
        if inc is not None and inc in refs:
            before = refs[:refs.index(inc)]
            for w in before:
                g = ex.events[w].ghost
                if isinstance(g, RefGhost) and g.kind in ("unexclude", "attach") \
                        and (g.writer, g.cycle) not in unlocked:
                    return VmaLockViolation(
                        WRITE_LOCKED, tid, rec.index,
                        f"{name} read-locked a VMA that {_name(ex, g.writer)} write-locked in its "
                        f"cycle {g.cycle}, before that cycle's mmap_write_unlock", at, **kw)
        return None

    @staticmethod
    def _increment(ex, tid, vma, at):
        """The reader's last RMW write to the VMA's vm_refcnt before ``at`` (its increment)."""
        loc = vma.vm_refcnt
        found = None
        for eid in ex.threads[tid].events:
            if eid >= at:
                break
            e = ex.events[eid]
            if e.kind == "W" and e.loc is loc and e.rmw is not None:
                found = eid
        return found
