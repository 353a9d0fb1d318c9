"""The invariant: a lookup succeeds only on an intact VMA (protocols.md section 6).

The oracle keeps ghost state the kernel does not have and never reads the
protocol's own counters to decide:

* committed versions: V_0 is the initial state; each writer cycle's ``commit``
  ghost step (taken when mmap_write_unlock returns) makes V_k = V_{k-1} plus what
  that cycle changed;
* file incarnations: every f_inode store says which incarnation it starts;
* provenance: every value a reader consumed is a load event whose rf edge names
  the store it came from, and that store's ``StoreGhost`` names its writer cycle.

Rules, in the order they are checked at each lookup's ghost step:

4. use after free (every lookup, successful or not): no read of the reader took
   a store that frees memory;
1./2. a successful lookup's VMA fields equal one committed version V_k
   ("torn version" if they match no single version, "uncommitted read" if they
   match only a cycle still in progress);
3. f_inode comes from the incarnation V_k's vm_file refers to ("stale incarnation").

Besides the invariant, a data race is a finding of its own (rule "data race",
``Oracle.race``): two conflicting accesses, at least one plain, that LKMM does not
order, as ``memory.data_races`` decides on the execution graph (herd7's
``Flag data-race``). Every driver asks for both at the same points, and a race
never stops the search for an intact-VMA violation: a run or a scenario that
has both reports both (the violation first).
"""

from __future__ import annotations

from typing import Any

import attrs

from models import memory
from models.engine import Execution
from models.events import PLAIN, Event, raw
from models.kernel import StoreGhost

FIELDS = ("vm_file", "vm_pgoff", "vm_start")

TORN = "torn version"
UNCOMMITTED = "uncommitted (in-lock) read"
STALE_INCARNATION = "stale incarnation"
USE_AFTER_FREE = "use after free"
INTACT_RULES = (TORN, UNCOMMITTED, STALE_INCARNATION, USE_AFTER_FREE)
DATA_RACE = "data race"
RULES = INTACT_RULES + (DATA_RACE,)

# ``memory.data_races(graph) -> [(eid, eid), ...]``: LKMM's racing pairs (ww-race,
# wr-race, rw-race of linux-kernel.cat) of one execution graph. None until the
# model computes them: then no run reports a race (``races_modelled`` says so).
MODEL_DATA_RACES = getattr(memory, "data_races", None)


@attrs.frozen(slots=True)
class Consumed:
    """A value a lookup used, the load that read it and the store it came from."""

    field: str
    value: Any
    read: int          # eid of the load
    source: int        # eid of the store


@attrs.frozen(slots=True)
class Violation:
    rule: str
    reader: int                  # thread id
    lookup: int                  # the reader's lookup number
    vma: str
    consumed: tuple              # of Consumed
    versions: tuple              # of (label, {field: value}) committed by then
    detail: str
    wrapped: tuple = ()          # eids of counter stores that wrapped before the violation
    at: int = 0                  # events in the graph when it was detected


@attrs.frozen(slots=True)
class DataRace:
    """Two accesses LKMM flags as a data race (eids, ``first`` made at the earlier step)."""

    first: int
    second: int
    more: int = 0                # other racing pairs in the same graph
    at: int = 0                  # events in the graph when it was found
    rule: str = DATA_RACE


def matches_expected(expected: str, verdict: str, raced: bool) -> bool:
    """Does an outcome agree with the table's verdict (protocols.md section 5)?
    "data race" is expected where LKMM flags a race: it is met when a race was
    found, whatever else the racy runs did (LKMM promises nothing about a racy
    program, so an intact-VMA violation found with it is reported but does not
    contradict the table). Every other verdict must be the outcome itself; a race
    in a variant expected to hold is a mismatch (its verdict is not "holds")."""
    if expected == DATA_RACE:
        return raced
    return verdict == expected


def lookup_finished(ex: Execution, seen: int) -> bool:
    """Did a lookup end among the ghosts after the first ``seen``? Only then can
    the oracle's answer change (every driver checks it only then). With load
    buffering, a run is judged only when no load holds a promised value (until
    then its reads need not be an execution at all): the step that fulfils the
    last open promise is a judgement point too, for lookups that ended before it."""
    if not ex.settled:
        return False
    return ex.just_settled or any(g[1][0] == "lookup" for g in ex.ghosts[seen:])


def _read_of(val: Any) -> int | None:
    deps = getattr(val, "deps", None)
    return max(deps) if deps else None


def _incarnation(ev: Event) -> Any:
    g = ev.ghost
    if isinstance(g, StoreGhost) and g.incarnation is not None:
        return g.incarnation
    v = ev.value
    return getattr(v, "ino", None) if ev.is_init else None


class Oracle:
    """Checks one execution of one built scenario (``models.scenario.World``)."""

    def __init__(self, world, data_races=None):
        self.world = world
        self.readers = set(world.readers)
        # Tests may pass their own race finder; the product uses the model's.
        self.data_races = data_races if data_races is not None else MODEL_DATA_RACES

    @property
    def races_modelled(self) -> bool:
        return self.data_races is not None

    def race(self, ex: Execution) -> DataRace | None:
        """The data race of the graph so far, if any: of its racing pairs, the one
        complete first (lowest later eid, then lowest earlier eid), so every
        driver reports the same pair for the same graph.

        Why a partial graph may be judged: LKMM defines races on complete
        executions, and a race between two accesses of this graph is a race of at
        least one complete execution that extends it. Let every later load read
        the co-latest store and every later store land at the end of co (the
        engine's option 0, always consistent, see Execution._newest_is_free): then
        no later event has a po, rf, co or fr edge to an event of this graph, so no
        path of the relations the race definition uses (ww-vis, wr-vis,
        rw-xbstar: paths of hb, pb, rb and fences) between two events of this graph
        can pass through a later event, and they order the pair exactly as here.
        (A later event can only order the pair in other extensions, e.g. a store
        placed co-before an existing one.) The one edge that runs backwards is
        rcu-rscsi, from an rcu_read_unlock() still to come; the model stands in a
        virtual unlock for it (docs/memory-model.md). A promised read (load
        buffering) would wait for the rf edge of its store, but runs are judged
        only when settled (``lookup_finished``). So a race found here is never a
        false alarm; tests/test_data_race.py checks the newest-first completion
        keeps it on every racy partial run of B-as-merged."""
        if self.data_races is None:
            return None
        # pre-race needs a plain access: a graph of marked accesses only cannot race.
        if not any(PLAIN in e.tags for e in ex.events):
            return None
        pairs = {(min(a, b), max(a, b)) for a, b in self.data_races(ex.graph())}
        if not pairs:
            return None
        a, b = min(pairs, key=lambda p: (p[1], p[0]))
        return DataRace(a, b, len(pairs) - 1, len(ex.events))

    def check(self, ex: Execution) -> Violation | None:
        versions: list[tuple[str, dict]] = [("V0 (initial)", self.world.kernel.initial_version())]
        committed: set[tuple[int, int]] = set()
        checked_upto: dict[int, int] = {}
        for tid, payload, at in ex.ghosts:
            kind = payload[0]
            if kind == "commit":
                _, writer, cycle, delta = payload
                state = {name: dict(fields) for name, fields in versions[-1][1].items()}
                for name, fields in delta.items():
                    state[name].update(fields)
                label = f"V{len(versions)} ({ex.threads[writer].spec.name} cycle {cycle})"
                versions.append((label, state))
                committed.add((writer, cycle))
            elif kind == "lookup":
                _, rid, n, outcome, consumed = payload
                v = self._memory_safety(ex, tid, n, at, checked_upto, versions)
                if v is None and outcome == "success":
                    v = self._intact(ex, tid, n, at, consumed, versions, committed)
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
        vma = raw(consumed["vma"])
        items = []
        for field in ("vma",) + FIELDS + ("f_inode",):
            val = consumed[field]
            read = _read_of(val)
            src = ex.rf.get(read) if read is not None else None
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
