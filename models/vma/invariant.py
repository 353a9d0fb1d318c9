"""The VMA family's invariant: a lookup succeeds only on an intact VMA (protocols.md section 6).

It keeps ghost state the kernel does not have and never reads the protocol's
own counters to decide:

* committed versions: V_0 is the initial state; each writer cycle's ``Commit``
  ghost record (taken when mmap_write_unlock begins) makes V_k = V_{k-1} plus
  what that cycle changed;
* file incarnations: every f_inode store says which incarnation it starts;
* provenance: every value a reader consumed is a load event whose rf edge names
  the store it came from, and that store's ``StoreGhost`` names its writer cycle.

Rules, in the order they are checked at each ``LookupEnd``:

4. use after free (every lookup, successful or not): no read of the reader took
   a store that frees memory;
1./2. a successful lookup's VMA fields equal one committed version V_k
   ("torn version" if they match no single version, "uncommitted read" if they
   match only a cycle still in progress);
3. f_inode comes from the incarnation V_k's vm_file refers to ("stale incarnation").
"""

from __future__ import annotations

from typing import Any

import attrs

from ..events import Event, raw
from ..protocol import ProtocolError
from ..protocol import Violation as _Violation  # noqa: F401  (the API's base, for readers)
from .kernel import Commit, LookupEnd, StoreGhost

FIELDS = ("vm_file", "vm_pgoff", "vm_start")

TORN = "torn version"
UNCOMMITTED = "uncommitted (in-lock) read"
STALE_INCARNATION = "stale incarnation"
USE_AFTER_FREE = "use after free"
INTACT_RULES = (TORN, UNCOMMITTED, STALE_INCARNATION, USE_AFTER_FREE)


def _fmt(v) -> str:
    from ..events import show_value
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 0x1000:
        return hex(v)
    return show_value(v)


@attrs.frozen(slots=True)
class Consumed:
    """A value a lookup used, the load that read it and the store it came from."""

    field: str
    value: Any
    read: int          # eid of the load
    source: int        # eid of the store


@attrs.frozen(slots=True)
class Violation:
    """A broken rule of the intact-VMA invariant (the API's ``Violation``, with
    what the report shows: the values used, the committed versions, wrap-around)."""

    rule: str
    reader: int                  # thread id
    lookup: int                  # the reader's lookup number
    vma: str
    consumed: tuple              # of Consumed
    versions: tuple              # of (label, {field: value}) committed by then
    detail: str
    wrapped: tuple = ()          # eids of counter stores that wrapped before the violation
    at: int = 0                  # events in the graph when it was detected

    # A long run (A-narrow-seq's 256 cycles) commits hundreds of versions: the report
    # shows the first, those whose vm_file is a value the lookup used, and the last
    # few, and counts the others.
    SHOWN_LAST = 3

    def _shown_versions(self) -> set:
        n = len(self.versions)
        if n <= 2 * self.SHOWN_LAST + 2:
            return set(range(n))
        used = {id(c.value) for c in self.consumed}
        shown = {0} | set(range(n - self.SHOWN_LAST, n))
        for k, (_, state) in enumerate(self.versions):
            if any(id(f.get("vm_file")) in used for f in state.values()):
                shown.add(k)
        return shown

    @property
    def where(self) -> str:
        """What the detail line names after the lookup (a use after free names no VMA)."""
        return "" if self.rule == USE_AFTER_FREE else f" on {self.vma}"

    def report_lines(self, ex, tr, width: int | None = None) -> list[str]:
        on_vma = self.rule != USE_AFTER_FREE
        out = ["  values used, and the stores they came from:"]
        fw = max([9] + [len(c.field) + 1 for c in self.consumed])
        for c in self.consumed:
            src = tr.describe_store(c.source) if c.source is not None else "?"
            read_step = tr.step_of(c.read) if c.read is not None else "?"
            stale = ", STALE (a newer store existed)" if c.read is not None and ex.is_stale(c.read) else ""
            out.append(f"    {c.field:<{fw}}= {_fmt(c.value):<18} read at #{read_step}, from {src}{stale}")
        out.append("  committed versions at that point:")
        shown = self._shown_versions()
        for k, (label, state) in enumerate(self.versions):
            if k not in shown:
                if k - 1 in shown:
                    skipped = next((j for j in range(k, len(self.versions)) if j in shown),
                                   len(self.versions)) - k
                    out.append(f"    ... {skipped} more committed versions (none with a vm_file "
                               f"this lookup used)")
                continue
            for name in [self.vma] if on_vma else sorted(state):     # every VMA's, after a free
                f = state[name]
                where = "" if on_vma else f"{name}: "
                out.append(f"    {label}: {where}vm_file={_fmt(f.get('vm_file'))} (incarnation "
                           f"{f.get('incarnation')}), vm_pgoff={_fmt(f.get('vm_pgoff'))}, "
                           f"vm_start={_fmt(f.get('vm_start'))}")
        if self.wrapped:
            where = ", ".join(f"#{tr.step_of(e)} {ex.events[e].loc.name} = {_fmt(ex.events[e].value)}"
                              for e in self.wrapped)
            bits = f" ({width}-bit counters)" if width else ""
            out.append(f"  a sequence count WRAPPED around{bits}: a value came back at {where}")
        return out


def _read_of(val: Any) -> int | None:
    deps = getattr(val, "deps", None)
    return max(deps) if deps else None


def _incarnation(ev: Event) -> Any:
    g = ev.ghost
    if isinstance(g, StoreGhost) and g.incarnation is not None:
        return g.incarnation
    v = ev.value
    return getattr(v, "ino", None) if ev.is_init else None


class IntactVMA:
    """Checks one execution of one protocol instance (its kernel objects)."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.kernel = protocol.k

    def check(self, ex) -> Violation | None:
        versions: list[tuple[str, dict]] = [("V0 (initial)", self.kernel.initial_version())]
        committed: set[tuple[int, int]] = set()
        checked_upto: dict[int, int] = {}
        for tid, rec, at in ex.ghosts:
            if isinstance(rec, Commit):
                state = {name: dict(fields) for name, fields in versions[-1][1].items()}
                for name, fields in rec.delta.items():
                    state[name].update(fields)
                label = f"V{len(versions)} ({ex.threads[rec.writer].spec.name} cycle {rec.cycle})"
                versions.append((label, state))
                committed.add((rec.writer, rec.cycle))
            elif isinstance(rec, LookupEnd):
                n = rec.index
                v = self._memory_safety(ex, tid, n, at, checked_upto, versions)
                if v is None and rec.outcome == "success":
                    v = self._intact(ex, tid, n, at, rec.consumed, versions, committed)
                if v is not None:
                    return v
        return None

    # ---- rule 4 ----
    def _memory_safety(self, ex, tid, n, at, checked_upto, versions) -> Violation | None:
        start = checked_upto.get(tid, 0)
        for eid in ex.threads[tid].events:
            if eid < start or eid >= at:
                continue
            ev = ex.events[eid]
            if ev.kind != "R" or eid not in ex.rf:
                continue
            src = ex.events[ex.rf[eid]]
            if isinstance(src.ghost, StoreGhost) and src.ghost.freed:
                c = Consumed(ev.loc.name, ev.value, eid, src.eid)
                return Violation(USE_AFTER_FREE, tid, n, ev.loc.owner.name if ev.loc.owner else "?",
                                 (c,), tuple(versions),
                                 f"{ev.label} of {ev.loc.name} read memory freed by "
                                 f"{ex.threads[src.tid].spec.name}",
                                 self._wrapped(ex, at), at)
        checked_upto[tid] = at
        return None

    # ---- rules 1, 2, 3 ----
    def _intact(self, ex, tid, n, at, consumed, versions, committed) -> Violation | None:
        missing = [f for f in ("vma",) + FIELDS + ("f_inode",) if f not in consumed]
        if missing:
            raise ProtocolError(f"{self.protocol.name}: a successful lookup must return "
                                f"self.success(vma, f, inode, pgoff, start); {', '.join(missing)} missing")
        vma = raw(consumed["vma"])
        items = []
        for field in ("vma",) + FIELDS + ("f_inode",):
            val = consumed[field]
            read = _read_of(val)
            if read is None:
                raise ProtocolError(
                    f"{self.protocol.name}: success() got {field} = {raw(val)!r}, a value not loaded "
                    f"from memory; pass what the lookup's READ_ONCE (or other load) returned, so the "
                    f"invariant can tell which store it came from")
            src = ex.rf.get(read)
            items.append(Consumed(field, raw(val), read, src))
        got = {c.field: c.value for c in items}
        inode_src = ex.events[items[-1].source]
        matching = [(label, st[vma.name]) for label, st in versions
                    if all(st[vma.name][f] is got[f] if f == "vm_file" else st[vma.name][f] == got[f]
                           for f in FIELDS)]
        wrapped = self._wrapped(ex, at)
        if matching:
            inc = _incarnation(inode_src)
            if any(fields["incarnation"] == inc for _, fields in matching):
                return None
            want = ", ".join(f"{label}: {fields['incarnation']}" for label, fields in matching)
            return Violation(STALE_INCARNATION, tid, n, vma.name, tuple(items), tuple(versions),
                             f"f_inode came from file incarnation {inc} of slot {got['vm_file']!r}, "
                             f"but the matching version's file is incarnation {want}",
                             wrapped, at)
        # No committed version: is it the state of a cycle still in progress?
        in_progress = self._in_progress(ex, at, committed, versions[-1][1], vma.name)
        for (writer, cycle), fields in in_progress.items():
            if all((fields[f] is got[f]) if f == "vm_file" else fields[f] == got[f] for f in FIELDS):
                return Violation(UNCOMMITTED, tid, n, vma.name, tuple(items), tuple(versions),
                                 f"the values are those of {ex.threads[writer].spec.name} cycle "
                                 f"{cycle}, which had not reached mmap_write_unlock",
                                 wrapped, at)
        return Violation(TORN, tid, n, vma.name, tuple(items), tuple(versions),
                         "no single version has these values together", wrapped, at)

    def _in_progress(self, ex, at, committed, base, vma_name) -> dict:
        out: dict[tuple[int, int], dict] = {}
        for eid in range(at):
            ev = ex.events[eid]
            g = ev.ghost
            if ev.kind != "W" or not isinstance(g, StoreGhost) or (g.writer, g.cycle) in committed:
                continue
            owner = ev.loc.owner
            field = ev.loc.name.split("->", 1)[-1]
            if owner is None or owner.name != vma_name or field not in FIELDS:
                continue
            fields = out.setdefault((g.writer, g.cycle), dict(base[vma_name]))
            fields[field] = ev.value
        return out

    @staticmethod
    def _wrapped(ex, at) -> tuple:
        """Counter stores before ``at`` that overflowed or brought their location back
        to a value it held before: with a monotonic count that is wrap-around."""
        out = []
        for loc, order in ex.co.items():
            seen = set()
            for eid in order:
                ev = ex.events[eid]
                g = ev.ghost
                is_counter = isinstance(g, StoreGhost) and g.counter
                if eid < at and is_counter and (g.wrapped or ev.value in seen):
                    out.append(eid)
                seen.add(ev.value)
        return tuple(sorted(out))
