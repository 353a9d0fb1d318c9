"""Readable reports: a run as numbered steps, and a violation with its provenance.

The trace lists every operation in execution order, one line each, with the
thread that ran it (a ``thread`` column, or with ``--columns`` one column per
thread); a load shows the value it read and the step of the store it
came from, and is marked STALE when a newer store to that location already
existed. The same text is printed by ``explore``, ``run`` and ``replay``.
"""

from __future__ import annotations

from bisect import bisect_right

from models.engine import Execution
from models.events import PLAIN, Event, show_value
from models.protocol import Observation

from .oracle import DataRace


def _fmt(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 0x1000:
        return hex(v)
    return show_value(v)


class Trace:
    """Step numbers for the events of one execution."""

    def __init__(self, ex: Execution, upto: int | None = None):
        self.ex = ex
        self.upto = len(ex.events) if upto is None else self._with_later_sources(upto)

    def _with_later_sources(self, upto: int) -> int:
        """Load buffering: a load shown may have read a store made after ``upto``
        (a promise, docs/memory-model.md); show the run up to the end of that
        store's step, and of any store those steps read in turn."""
        ex = self.ex
        starts = ex.step_starts
        while True:
            later = [w for r, w in ex.rf.items() if r < upto and w >= upto]
            if not later:
                return upto
            s = bisect_right(starts, max(later))
            upto = starts[s] if s < len(starts) else len(ex.events)

    def step_of(self, eid: int) -> int:
        """1-based step of the operation that made ``eid`` (0: before any step)."""
        return bisect_right(self.ex.step_starts, eid)

    def describe_store(self, eid: int) -> str:
        ev = self.ex.events[eid]
        if ev.is_init:
            return "initial value"
        who = self.ex.threads[ev.tid].spec.name
        return f"#{self.step_of(eid)} {who}"

    def rows(self) -> list[tuple[str, int, str]]:
        """(step label, thread, text) per line in execution order; the label is
        ``#N`` on the first line of step N and empty on the rest (fences, ghosts)."""
        ex = self.ex
        out: list[tuple[str, int, str]] = []
        starts = ex.step_starts
        # A ghost step (e.g. a commit) is a step of its own, taken first in its step
        # (fences that follow it in program order run in the same step): it belongs
        # to the first step of its thread that starts at its event position. An
        # observation is recorded with the thread's last operation: shown after it.
        first_step: dict[tuple[int, int], int] = {}
        for s, lo in enumerate(starts):
            first_step.setdefault((ex.step_tids[s], lo), s)
        heads: dict[int, list[str]] = {}
        for tid, rec, at in ex.ghosts:
            text = _ghost_text(rec)
            if text is not None and not isinstance(rec, Observation) and (tid, at) in first_step:
                heads.setdefault(first_step[(tid, at)], []).append(text)

        def events(lo: int, hi: int) -> None:
            for eid in range(lo, min(hi, self.upto)):
                ev = ex.events[eid]
                if ev.is_init:
                    continue
                text = self._op_text(ev)
                if text is not None:
                    out.append(("", ev.tid, text))

        events(0, starts[0] if starts else len(ex.events))     # fences before any step
        for s, lo in enumerate(starts):
            if lo > self.upto or (lo == self.upto and s and starts[s - 1] == lo):
                break
            tid = ex.step_tids[s]
            hi = starts[s + 1] if s + 1 < len(starts) else len(ex.events)
            first = len(out)
            for text in heads.get(s, ()):
                out.append(("", tid, text))
            events(lo, hi)
            if len(out) > first:
                out[first] = (f"#{s + 1}",) + out[first][1:]
            for gtid, rec, at in ex.ghosts:
                if isinstance(rec, Observation) and gtid == tid and lo < at <= min(hi, self.upto):
                    text = _ghost_text(rec)
                    if text is not None:
                        out.append(("", tid, text))
        return out

    def lines(self, columns: bool = False) -> list[str]:
        """The trace as text: one ``thread`` column naming who ran each line, or
        (``columns``) one column per thread, each line under its thread."""
        names = [t.spec.name for t in self.ex.threads]
        rows = self.rows()
        if not columns:
            width = max(len(n) for n in names) + 2
            return [f"{'step':>5}  {'thread':<{width}}operation"] + \
                [f"{label:>5}  {names[tid]:<{width}}{text}" for label, tid, text in rows]
        widths = [len(n) for n in names]
        for _, tid, text in rows:
            widths[tid] = max(widths[tid], len(text))
        indent = [sum(w + 3 for w in widths[:t]) for t in range(len(names))]
        head = f"{'step':>5}  " + "".join(f"{n:<{w + 3}}" for n, w in zip(names, widths))
        return [head.rstrip()] + [f"{label:>5}  {'':<{indent[tid]}}{text}" for label, tid, text in rows]

    def _op_text(self, ev: Event) -> str | None:
        ex = self.ex
        if ev.kind == "F":
            return f"{ev.label}()"   # fully ordered RMWs have no fence events (Mb tags)
        loc = ev.loc.name
        if ev.kind == "W":
            if ev.rmw is not None:
                return None   # shown on its read's line
            note = getattr(ev.ghost, "note", None)
            note = note() if callable(note) else ""
            return f"{ev.label}({loc}, {_fmt(ev.value)}){note}"
        src = ex.rf.get(ev.eid)
        origin = self.describe_store(src) if src is not None else "?"
        stale = "   STALE" if ex.is_stale(ev.eid) else ""
        if src is not None and src > ev.eid:
            stale = "   LATER (load buffering: a store made after this load)"
        write = next((w for w in ex.events[ev.eid + 1: ev.eid + 2] if w.rmw == ev.eid), None)
        if write is not None:
            return f"{ev.label}({loc}): {_fmt(ev.value)} -> {_fmt(write.value)}   <- {origin}{stale}"
        return f"{ev.label}({loc}) = {_fmt(ev.value)}   <- {origin}{stale}"


def _ghost_text(rec) -> str | None:
    text = getattr(rec, "trace_text", None)
    return text() if callable(text) else None


def render_trace(ex: Execution, upto: int | None = None, columns: bool = False) -> str:
    return "\n".join(Trace(ex, upto).lines(columns))


def add_trace_arguments(p) -> None:
    """The trace options shared by ``explore``, ``run`` and ``replay``."""
    p.add_argument("--no-trace", action="store_true", help="omit the step-by-step trace")
    p.add_argument("--columns", action="store_true",
                   help="print the trace with one column per thread (wide) instead of a thread column")


def render_violation(v, ex: Execution, width: int | None = None) -> str:
    """A broken rule: its name, the observation and the detail, then what the
    family's ``Violation.report_lines`` adds (values used, versions, ...)."""
    tr = Trace(ex, v.at)
    reader = ex.threads[v.reader].spec.name
    where = getattr(v, "where", "")
    noun = _noun_of(ex, v)
    out = [f"VIOLATION: {v.rule}", f"  {reader} {noun} {v.lookup}{where}: {v.detail}"]
    out += v.report_lines(ex, tr, width)
    return "\n".join(out)


def _noun_of(ex: Execution, v) -> str:
    """What the family calls the observation that broke the rule (``lookup``)."""
    for tid, rec, _ in ex.ghosts:
        if tid == v.reader and isinstance(rec, Observation) and rec.index == v.lookup:
            return rec.noun
    return "lookup"


def race_accesses(r: DataRace, ex: Execution) -> list[dict]:
    """Both racing accesses: thread, step, primitive, location, value (and, for a
    load, the store it read), earlier step first. The --json form of a race."""
    tr = Trace(ex, r.at)
    out = []
    for eid in (r.first, r.second):
        ev = ex.events[eid]
        src = ex.rf.get(eid)
        out.append({"thread": ex.threads[ev.tid].spec.name, "tid": ev.tid,
                    "step": tr.step_of(eid), "access": "read" if ev.kind == "R" else "write",
                    "primitive": ev.label, "location": ev.loc.name, "value": _fmt(ev.value),
                    "plain": PLAIN in ev.tags,
                    "read_from": tr.describe_store(src) if ev.kind == "R" and src is not None
                    else None})
    return out


def render_race(r: DataRace, ex: Execution) -> str:
    """The data-race finding: both accesses as the trace prints them, with their
    threads and steps."""
    tr = Trace(ex, r.at)
    names = [t.spec.name for t in ex.threads]
    width = max(len(n) for n in names) + 2
    loc = ex.events[r.first].loc.name
    out = [f"DATA RACE: {loc}",
           "  two accesses to the same location from different threads, at least one a plain"
           " access and one a write,",
           "  that LKMM does not order (herd7 would print Flag data-race):"]
    for eid in (r.first, r.second):
        ev = ex.events[eid]
        step = f"#{tr.step_of(eid)}"
        marked = "plain" if PLAIN in ev.tags else "marked"
        out.append(f"  {step:>5}  {names[ev.tid]:<{width}}{tr._op_text(ev)}   ({marked})")
    if r.more:
        out.append(f"  ({r.more} more racing pair{'s' if r.more > 1 else ''} in this execution)")
    return "\n".join(out)
