"""The execution engine: threads, the growing execution graph, and the chooser.

Every nondeterministic decision of a run is taken in ``Execution.step`` through
one ``Chooser`` and logged in ``Execution.path`` (compare loom's ``rt/path.rs``):

* ``thread``: which thread runs next (taken by the driver, see ``run``);
* ``rf``: which store a load reads;
* ``co``: where a store lands in coherence order.

Options are always listed newest first (index 0 = the co-latest store, or the
end of coherence order), so a chooser that always answers 0 gives a
sequentially consistent run, and shrinking toward 0 shrinks toward SC.
Which options exist is decided by ``memory.check``. The same choices always
give the same run. Hypothesis (``fuzz/machine.py``), the exhaustive explorer
(``models/explore.py``) and replay (``fuzz/corpus.py``) are three drivers of
this one engine.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Literal, Iterable, Protocol, Sequence

import attrs

from . import limits, memory
from .events import (ACQUIRE, LF, MB, NORETURN, ONCE, RELEASE, RL, RMW, RU, SRCU_UNLOCK, SYNC_SRCU, UL,
                     DepContext, Event, Loc, LocRef, Val, as_locref, deps_of, raw)
from .ops import Fence, Ghost, Load, LockRead, Rmw, Store, wait_forever


# The kinds of nondeterministic decision (the corpus writes them as these strings):
# which thread steps, which store a load reads, where a store lands in co.
DecisionKind = Literal["thread", "rf", "co"]
# An option of a pending operation: a source (load, RMW), a co place (store), or
# the single way a ghost step goes.
OptionKind = Literal["rf", "co", "none"]


class ModelError(Exception):
    """A thread did something the model cannot run (a bug in the program, not in LKMM)."""


class EndlessThread(ModelError):
    """A thread that took more than ``limits.MAX_THREAD_OPERATIONS`` operations:
    the message starts with the file and line it was at."""


def _where(gen) -> str:
    """``FILE:LINE: `` of the innermost frame of a suspended generator ("" if none)."""
    frame = None
    while gen is not None and getattr(gen, "gi_frame", None) is not None:
        frame = gen.gi_frame
        gen = gen.gi_yieldfrom
    return f"{frame.f_code.co_filename}:{frame.f_lineno}: " if frame is not None else ""


class ReplayDivergence(Exception):
    """A recorded choice does not fit the run being replayed."""


@attrs.frozen(slots=True)
class ThreadSpec:
    name: str
    body: Callable[..., Any]
    args: tuple = ()
    # Load buffering (``Speculation``): location -> the values this thread's loads
    # may promise. None: this thread's loads only read stores that exist.
    promises: Any = attrs.field(default=None, eq=False)
    # Operations this thread may take before it is an endless thread; None:
    # limits.MAX_THREAD_OPERATIONS (models/scenario.py raises it for long scenarios).
    max_operations: int | None = attrs.field(default=None, eq=False)


@attrs.frozen(slots=True)
class Decision:
    kind: DecisionKind
    tid: int
    n: int          # how many options there were
    index: int      # which one was taken


class Chooser(Protocol):
    def choose(self, kind: DecisionKind, tid: int, options: Sequence[Any]) -> int: ...


class FirstChooser:
    """Always the first option: sequential consistency, lowest thread first."""

    def choose(self, kind, tid, options):
        return 0


class Picked:
    """The option its driver already picked for the next step (the fuzzer's draw,
    a guided run's, a shrinking pass's plan): set ``index``, then step."""

    __slots__ = ("index",)

    def __init__(self, index: int = 0):
        self.index = index

    def choose(self, kind, tid, options):
        return self.index


class ReplayChooser:
    """Answers from a recorded list of decisions; refuses to guess."""

    def __init__(self, decisions: Iterable[Decision]):
        self.decisions = list(decisions)
        self.pos = 0

    def choose(self, kind, tid, options):
        if self.pos >= len(self.decisions):
            raise ReplayDivergence(f"the run needs a {kind} choice after the last recorded one")
        d = self.decisions[self.pos]
        self.pos += 1
        if d.kind != kind or d.tid != tid or d.n != len(options):
            raise ReplayDivergence(
                f"decision {self.pos}: recorded {d.kind} of thread {d.tid} among {d.n}, "
                f"but the run asks for {kind} of thread {tid} among {len(options)}")
        return d.index


class RandomChooser:
    def __init__(self, rng):
        self.rng = rng

    def choose(self, kind, tid, options):
        return self.rng.randrange(len(options))


@attrs.frozen(slots=True)
class Option:
    """One way a thread's pending operation can execute."""

    kind: OptionKind
    src: int | None = None    # rf: the store read (None: a promise, see ``value``)
    pos: int | None = None    # co: index in the location's coherence order
    write: bool = True        # RMW: whether the write happens (cmpxchg success)
    value: Any = None         # rf with src None: the promised value (load buffering)
    fulfil: tuple = ()        # co: the open promises this store satisfies (their read eids)


@attrs.frozen(slots=True)
class Speculation:
    """Load buffering: which values a load may read from a store that does not exist yet.

    LKMM allows a load to read a store that comes later in another thread's
    program order (``LB+poonceonces``: ``po | rf`` has a cycle). The engine adds
    events in an interleaving, so such a load cannot find its store. Instead, a
    load of ``loc`` by thread ``tid`` may *promise* a value from
    ``values[loc][tid]`` (the values other threads may store there): the read
    gets the value now and no ``rf`` edge. A later store of that value to
    ``loc`` by another thread may fulfil the promise (the ``rf`` edge is added
    then and ``memory.check`` judges the whole cycle, so out-of-thin-air
    results, whose cycles run through dependencies, are refused like any other
    ``hb`` cycle). A run that ends with a promise unfulfilled is no execution:
    it counts as blocked. A thread with no values anywhere never promises.
    """

    values: Any               # Mapping[Loc, Mapping[int, tuple]]: loc -> tid -> values

    @property
    def threads(self) -> frozenset:
        """The threads whose loads may promise some value."""
        return frozenset(t for per in self.values.values() for t in per)

    @classmethod
    def of_threads(cls, specs: Sequence["ThreadSpec"]) -> "Speculation":
        """The speculation the threads' own ``promises`` describe."""
        values: dict = {}
        for tid, spec in enumerate(specs):
            for loc, vals in (spec.promises or {}).items():
                values.setdefault(loc, {})[tid] = tuple(vals)
        return cls(values)


class Thread:
    __slots__ = ("tid", "spec", "gen", "ctx", "received", "pending", "done", "result", "events",
                 "shared")

    def __init__(self, tid: int, spec: ThreadSpec):
        self.tid = tid
        self.spec = spec
        self.ctx = DepContext()
        self.received: list[tuple[Any, frozenset]] = []
        self.pending: Any = None
        self.done = False
        self.result: Any = None
        self.events: list[int] = []
        self.gen = None
        # fork() shares generators copy-on-write: ``shared[0]`` counts the threads
        # (of this and forked executions) using ``gen``; the first to advance a
        # shared one makes its own copy by replay (_own_generator).
        self.shared: list[int] = [1]


# The stale window: a load reads one of the newest STALE_WINDOW stores it may read,
# a store goes among the newest; the rest are left out (and counted in
# ``Execution.window_cuts``). Above what the shipped scenarios reach (at most 10
# entries in a co list at the defaults, 16 at the largest ``vmafuzz run`` draws), so
# it bounds the long runs the issue-14 bounds allow: up to 1,024 writer cycles
# (docs/memory-model.md, "The stale window"; a late load's cost grows faster than it).
STALE_WINDOW = 16


class Execution:
    """One run of a program: the execution graph so far and every thread's state."""

    def __init__(self, threads: Sequence[ThreadSpec], check_cache: dict | None = None,
                 speculation: Speculation | None = None, stale_window: int = 0):
        self.specs = tuple(threads)
        # Loads and stores look at most this many stores back from the newest
        # (``stale_window``; 0: STALE_WINDOW); None: every store (the litmus front end,
        # which must give herd7's counts).
        self.stale_window = STALE_WINDOW if stale_window == 0 else stale_window
        self.window_cuts = 0                      # option lists the window made shorter
        if speculation is None and any(spec.promises for spec in self.specs):
            speculation = Speculation.of_threads(self.specs)
        self.speculation = speculation
        self.just_settled = False                 # the last step fulfilled the last open promise
        self.promises: dict[int, Any] = {}        # open promises: read eid -> value
        # An RMW whose read is a promise: its write cannot have a place in co before
        # the store it reads exists (it goes right after it): read eid -> write eid.
        self.floating: dict[int, int] = {}
        self.events: list[Event] = []
        self.rf: dict[int, int] = {}
        self.readers: dict[int, tuple] = {}       # rf inverted: store -> the reads that read it
        self.co: dict[Loc, list[int]] = {}
        # _observed_floor: (tid, loc) -> the co-latest store the thread wrote or read
        # there, when not the first in co, and a lower bound of its co index (a hint:
        # indices only grow); kept up to date as events are added.
        self._floors: dict = {}
        self.init_of: dict[Loc, int] = {}
        self.threads = [Thread(i, s) for i, s in enumerate(self.specs)]
        self.path: list[Decision] = []
        self.step_starts: list[int] = []          # first eid of each applied operation
        self.step_tids: list[int] = []            # the thread of each applied operation
        self.ghosts: list[tuple[int, Any]] = []    # (tid, payload) in execution order
        self._options_cache: dict[int, list[Option]] = {}
        # memory.check_extension verdicts: shared by forks, and by a fuzzer's examples
        self.check_cache: dict = {} if check_cache is None else check_cache
        self._has_gp = False
        for t in self.threads:
            t.gen = t.spec.body(*t.spec.args)
            self._advance(t, None, first=True)

    # ------------------------------------------------------------------
    # driving
    # ------------------------------------------------------------------
    def runnable(self) -> list[int]:
        """Threads that can take a step now (not finished, not blocked)."""
        return [t.tid for t in self.threads if not t.done and self._can_step(t)]

    def _can_step(self, t: Thread) -> bool:
        """Has the thread's pending operation at least one consistent option? A load,
        a store or a ghost always has one when the newest option is free (reading the
        co-latest store, a store at the end of co: ``_newest_is_free``), so its option
        list is left to be computed when the thread steps: a thread waiting while
        another runs a long stretch no longer has every old store checked as a
        candidate at every step (issue 14). The location is still prepared here, as
        ``options`` would (its init event gets the same eid either way)."""
        cached = self._options_cache.get(t.tid)
        if cached is not None:
            return bool(cached)
        op = t.pending
        if isinstance(op, Ghost):
            return True
        if (self.speculation is None and isinstance(op, (Load, LockRead, Store))
                and self._newest_is_free(t)):
            loc = as_locref(op.target).loc
            self._check_access(t, op, loc)
            self._init_event(loc)
            return True
        return bool(self.options(t.tid))

    @property
    def steps(self) -> int:
        """Operations applied so far: the length of a trace."""
        return len(self.step_starts)

    @property
    def finished(self) -> bool:
        """Every thread done and every promised value read from a real store."""
        return not self.promises and all(t.done for t in self.threads)

    @property
    def settled(self) -> bool:
        """No load holds a promised value (every read so far has its store)."""
        return not self.promises

    @property
    def blocked(self) -> bool:
        """Some thread cannot finish: every unfinished thread has no consistent option."""
        return not self.finished and not self.runnable()

    def step(self, tid: int, chooser: Chooser) -> None:
        opts = self.options(tid)
        if not opts:
            raise ModelError(f"thread {self.threads[tid].spec.name} cannot step now")
        if len(opts) == 1:
            i = 0
        else:
            kind = opts[0].kind
            i = chooser.choose(kind, tid, opts)
            if not 0 <= i < len(opts):
                raise ReplayDivergence(f"choice {i} out of range for {len(opts)} options")
            self.path.append(Decision(kind, tid, len(opts), i))
        self.apply(tid, opts[i])

    def schedule(self, ready: list[int], tid: int) -> None:
        """Log that ``tid`` steps next, of the threads ``ready`` (``runnable()``): only
        when more than one could, as an index into ``ready``. Every driver (``run``,
        the fuzzer, replay, the shrinking pass) logs the thread choice here."""
        if len(ready) > 1:
            self.path.append(Decision("thread", -1, len(ready), ready.index(tid)))

    def run(self, chooser: Chooser, max_steps: int | None = None) -> "Execution":
        steps = 0
        while True:
            ready = self.runnable()
            if not ready:
                return self
            if max_steps is not None and steps >= max_steps:
                return self
            if len(ready) == 1:
                tid = ready[0]
            else:
                k = chooser.choose("thread", -1, ready)
                if not 0 <= k < len(ready):
                    raise ReplayDivergence(f"thread choice {k} out of range for {len(ready)}")
                tid = ready[k]
            self.schedule(ready, tid)
            self.step(tid, chooser)
            steps += 1

    # ------------------------------------------------------------------
    # the graph
    # ------------------------------------------------------------------
    def _init_event(self, loc: Loc) -> int:
        eid = self.init_of.get(loc)
        if eid is None:
            eid = len(self.events)
            self.events.append(Event(eid, -1, "W", loc, loc.init, frozenset({ONCE}), label="init"))
            self.co[loc] = [eid]
            self.init_of[loc] = eid
        return eid

    def graph(self) -> memory.Graph:
        return memory.Graph(self.events, self.rf, self.co, [t.events for t in self.threads])

    def _set_rf(self, r: int, w: int) -> None:
        self.rf[r] = w
        self.readers[w] = self.readers.get(w, ()) + (r,)

    def consistent(self) -> str | None:
        return memory.check(self.graph())

    def _newest_is_free(self, t: Thread) -> bool:
        """Reading the co-latest store, or appending a store at the end of co, cannot
        make a consistent graph inconsistent: the new events then have no outgoing
        edge in any base relation (po, rf, co, fr, deps, fences), so no new cycle can
        pass through them. The one exception is an open RCU read-side critical
        section, whose virtual unlock (memory.py) is po-after the new event; it only
        matters when some thread has a grace period."""
        if not self._has_gp:
            return True
        if getattr(t.pending, "tag", None) == SRCU_UNLOCK:
            return False   # its srcu-rscsi edge runs back to its srcu-lock (memory.py)
        depth = 0
        for eid in t.events:
            tags = self.events[eid].tags
            if "rcu-lock" in tags:
                depth += 1
            elif "rcu-unlock" in tags:
                depth -= 1
        return depth <= 0

    def _try(self, new_events: list[Event], rf: dict[int, int], co_edit, newest: bool = False,
             fulfil: tuple = ()) -> bool:
        """Would the graph plus these events, rf edges and coherence edit be consistent?
        ``newest``: the events read the co-latest store / land at the end of co.
        ``fulfil``: earlier reads (open promises) that now read a new store: their
        new rf and fr edges can close cycles through them, so they count as new."""
        if newest and not fulfil and self._newest_is_free(self.threads[new_events[0].tid]):
            return True
        # The candidate is put into the graph in place and taken out again: no copy
        # of the graph per candidate (the check only reads it).
        events = self.events
        threads = self.threads
        readers = self.readers
        allrf = self.rf
        events.extend(new_events)
        for e in new_events:
            threads[e.tid].events.append(e.eid)
        old_readers = []
        for r, w in rf.items():
            old_readers.append((w, readers.get(w)))
        for r, w in rf.items():
            allrf[r] = w
            readers[w] = readers.get(w, ()) + (r,)
        if co_edit is not None:
            loc, order = co_edit
            old_order = self.co[loc]
            self.co[loc] = order
        try:
            return memory.check_extension(
                memory.Graph(events, allrf, self.co, [t.events for t in threads], readers, self._has_gp),
                [e.eid for e in new_events] + list(fulfil), self.check_cache) is None
        finally:
            if co_edit is not None:
                self.co[loc] = old_order
            for r in rf:
                del allrf[r]
            for w, before in reversed(old_readers):
                if before is None:
                    readers.pop(w, None)
                else:
                    readers[w] = before
            for e in reversed(new_events):
                threads[e.tid].events.pop()
            del events[len(events) - len(new_events):]

    def _fulfil_sets(self, tid: int, loc: Loc, value: Any) -> list[tuple]:
        """The ways a new store of ``value`` to ``loc`` by ``tid`` may satisfy open
        promises: none first (so the first option is the one without load
        buffering), then every non-empty set of matching promises of other threads."""
        if not self.promises:
            return [()]
        match = [r for r, v in self.promises.items()
                 if v == value and self.events[r].loc == loc and self.events[r].tid != tid]
        sets: list[tuple] = [()]
        for k in range(1, len(match) + 1):
            sets.extend(rs for rs in itertools.combinations(match, k)
                        if sum(r in self.floating for r in rs) <= 1)   # atomic: one RMW after a store
        return sets

    def _floating_of(self, reads: tuple) -> list[int]:
        """The floating RMW write among promised ``reads`` (it lands right after
        the store that fulfils its read)."""
        return [self.floating[r] for r in reads if r in self.floating]

    # ------------------------------------------------------------------
    # options: what memory.check allows for a thread's pending operation
    # ------------------------------------------------------------------
    def options(self, tid: int) -> list[Option]:
        cached = self._options_cache.get(tid)
        if cached is not None:
            return cached
        t = self.threads[tid]
        if t.done:
            opts: list[Option] = []
        else:
            opts = self._compute_options(t)
        self._options_cache[tid] = opts
        return opts

    def _observed_floor(self, t: Thread, loc: Loc) -> int:
        """Lowest co index this thread may still read or write at (a quick coherence
        pre-filter: its own stores and the stores it read at loc). memory.check decides."""
        got = self._floors.get((t.tid, loc))
        if got is None:
            return 0
        w, hint = got
        k = self.co[loc].index(w, hint)    # stores are only ever inserted: never before hint
        if k != hint:
            self._floors[(t.tid, loc)] = (w, k)
        return k

    def _scan_floor(self, tid: int, loc: Loc) -> None:
        """Set ``_floors[(tid, loc)]`` from the thread's events: the co-latest store
        it wrote (unless floating) or read at ``loc``."""
        order = self.co[loc]
        floor = -1
        for eid in self.threads[tid].events:
            e = self.events[eid]
            if e.loc is not loc:
                continue
            w = eid if e.kind == "W" else self.rf.get(eid)
            if w is not None and (e.kind != "W" or e.rmw not in self.floating):
                floor = max(floor, order.index(w))
        if floor > 0:
            self._floors[(tid, loc)] = (order[floor], floor)
        else:
            self._floors.pop((tid, loc), None)

    def _observe(self, e: Event) -> None:
        """Keep ``_floors`` up to date for a new event ``e`` of a thread (after its rf
        edge and co place are set): the store it wrote or read, if co-later."""
        if e.loc is None:
            return
        w = e.eid if e.kind == "W" else self.rf.get(e.eid)
        if w is None or (e.kind == "W" and e.rmw in self.floating):
            return
        key = (e.tid, e.loc)
        order = self.co[e.loc]
        cur = self._floors.get(key)
        if cur is None:
            if order[0] != w:
                self._floors[key] = (w, order.index(w))
            return
        k = self._observed_floor(self.threads[e.tid], e.loc)
        try:
            self._floors[key] = (w, order.index(w, k + 1))   # co-after the floor
        except ValueError:
            pass                                            # co-before (or the floor itself)

    def _compute_options(self, t: Thread) -> list[Option]:
        op = t.pending
        if isinstance(op, Load) or isinstance(op, LockRead):
            ref, loc, eid, order, floor = self._prepare(t, op)
            opts = []
            low = self._window_floor(order, floor)
            for w in reversed(order[low:]):
                ev = self._read_event(t, op, ref, eid, self.events[w].value)
                if self._try([ev], {eid: w}, None, newest=w == order[-1]):
                    opts.append(Option("rf", src=w))
            if not opts and low > floor:      # never blocked by the window alone
                for w in reversed(order[floor:low]):
                    ev = self._read_event(t, op, ref, eid, self.events[w].value)
                    if self._try([ev], {eid: w}, None):
                        opts.append(Option("rf", src=w))
            spec = self.speculation
            if spec is not None and isinstance(op, Load):
                # Promises come after every existing store: shrinking toward
                # option 0 shrinks toward sequential consistency.
                for v in spec.values.get(loc, {}).get(t.tid, ()):
                    ev = self._read_event(t, op, ref, eid, v)
                    if self._try([ev], {}, None, newest=True):
                        opts.append(Option("rf", value=v))
            return opts
        if isinstance(op, Store):
            ref, loc, eid, order, floor = self._prepare(t, op)
            ev = self._write_event(t, op.tag, ref, eid, op.value, op.label, op.ghost, deps_of(op.value),
                                   extra=(UL,) if op.unlock else ())
            opts = []
            sets = self._fulfil_sets(t.tid, loc, ev.value)
            low = self._window_floor(order, floor) if len(sets) == 1 else floor
            for places in (range(len(order), low, -1), range(low, floor, -1)):
                if opts:
                    break           # the second range: only when the window left none
                for pos in places:
                    if pos < len(order) and self.events[order[pos]].rmw is not None:
                        continue   # never between an RMW's read and its write (atomic)
                    for rs in sets:
                        if pos == len(order) and not rs and self._newest_is_free(t):
                            # at the end of co: free, and no copy of a long co list
                            opts.append(Option("co", pos=pos, fulfil=rs))
                            continue
                        new_order = order[:pos] + [eid] + self._floating_of(rs) + order[pos:]
                        if self._try([ev], {r: eid for r in rs}, (loc, new_order),
                                     newest=pos == len(order), fulfil=rs):
                            opts.append(Option("co", pos=pos, fulfil=rs))
            return opts
        if isinstance(op, Rmw):
            ref, loc, eid, order, floor = self._prepare(t, op)
            # (a store co-before the floor is no option; what takes a store is co-after it)
            taken = {self.rf[self.events[w].rmw] for w in order[floor:] if self.events[w].rmw is not None}
            opts = []
            for pos in range(len(order) - 1, floor - 1, -1):
                w = order[pos]
                old = self.events[w].value
                if op.wait is not None and not op.wait(old):
                    continue
                writes = op.expect is None or old == raw(op.expect.value)
                if writes and w in taken:
                    continue
                evs = self._rmw_events(t, op, ref, eid, old, writes)
                if writes:
                    wev = evs[-1] if evs[-1].kind == "W" else evs[-2]
                    rid = wev.rmw
                    for rs in self._fulfil_sets(t.tid, loc, wev.value):
                        new_order = order[:pos + 1] + [wev.eid] + self._floating_of(rs) + order[pos + 1:]
                        rf = {rid: w}
                        rf.update((r, wev.eid) for r in rs)
                        if self._try(evs, rf, (loc, new_order), newest=pos == len(order) - 1,
                                     fulfil=rs):
                            opts.append(Option("rf", src=w, write=True, fulfil=rs))
                else:
                    rid = next(e.eid for e in evs if e.kind == "R")
                    if self._try(evs, {rid: w}, None, newest=pos == len(order) - 1):
                        opts.append(Option("rf", src=w, write=False))
            spec = self.speculation
            if spec is not None and not op.lock_kinds:
                # A promise for the RMW's read: its write floats (no co place) until
                # the store that fulfils the promise, and then goes right after it.
                # Lock acquisitions never promise: a po|rf cycle whose every read
                # that takes another thread's store is a lock acquisition is an hb
                # cycle (acq-po after each, rfe between marked lock-word accesses),
                # so every allowed cycle has another read to promise
                # (docs/memory-model.md, "Load buffering").
                for v in spec.values.get(loc, {}).get(t.tid, ()):
                    if op.wait is not None and not op.wait(v):
                        continue
                    writes = op.expect is None or v == raw(op.expect.value)
                    evs = self._rmw_events(t, op, ref, eid, v, writes)
                    if self._try(evs, {}, None, newest=True):
                        opts.append(Option("rf", value=v, write=writes))
            return opts
        if isinstance(op, Ghost):
            return [Option("none")]
        raise ModelError(f"thread {t.spec.name}: unknown operation {op!r}")

    def _window_floor(self, order: list[int], floor: int) -> int:
        """The lowest co index a load reads from (a store goes after), under the
        stale window: a long run's late load may read any of hundreds of old stores,
        each a check over the stretch of the run since (issue 14). Counted in
        ``window_cuts`` whenever it leaves a store out, so a bound can say so."""
        window = self.stale_window
        if window is None or len(order) - floor <= window:
            return floor
        self.window_cuts += 1
        return len(order) - window

    def _prepare(self, t: Thread, op) -> tuple:
        """The location an access touches (with its address dependency), the eid its
        first event will get, the location's coherence order and this thread's floor."""
        ref = as_locref(op.target)
        loc = ref.loc
        self._check_access(t, op, loc)
        self._init_event(loc)
        return ref, loc, len(self.events), self.co[loc], self._observed_floor(t, loc)

    def _check_access(self, t: Thread, op, loc: Loc) -> None:
        is_lock_op = isinstance(op, LockRead) or (isinstance(op, Rmw) and op.lock_kinds) or (
            isinstance(op, Store) and op.unlock)
        if loc.lock and not is_lock_op:
            raise ModelError(f"thread {t.spec.name}: {op.label} on spinlock {loc.name}")
        if not loc.lock and is_lock_op:
            raise ModelError(f"thread {t.spec.name}: {op.label} on {loc.name}, which is not a spinlock_t")

    # ------------------------------------------------------------------
    # building events
    # ------------------------------------------------------------------
    def _read_event(self, t: Thread, op, ref: LocRef, eid: int, value: Any) -> Event:
        if isinstance(op, LockRead):
            tags = frozenset({ONCE, RL if value else RU})
        else:
            tags = frozenset({op.tag})
        return Event(eid, t.tid, "R", ref.loc, value, tags, addr=ref.addr, ctrl=t.ctx.ctrl,
                     label=op.label)

    def _write_event(self, t: Thread, tag: str, ref: LocRef, eid: int, value: Any, label: str,
                     ghost: Any, data: frozenset, extra: Iterable[str] = (), rmw: int | None = None) -> Event:
        tags = frozenset({tag, *extra})
        if UL in extra:
            tags = frozenset({RELEASE, UL})
        return Event(eid, t.tid, "W", ref.loc, raw(value), tags, addr=ref.addr, data=data,
                     ctrl=t.ctx.ctrl, rmw=rmw, label=label, ghost=ghost)

    def _rmw_events(self, t: Thread, op: Rmw, ref: LocRef, eid: int, old: Any, writes: bool) -> list[Event]:
        # linux-kernel.bell: every access of an atomic RMW instruction is in RMW; a
        # successful fully ordered one's read and write carry MB (memory.py orders them
        # as if smp_mb() came before the read and after the write). FailedRMW: a failed
        # RMW's read keeps no ACQUIRE or MB (only here is it known that it failed).
        evs: list[Event] = []
        full = op.order == "mb" and writes and not op.noreturn
        rtag = {"acquire": ACQUIRE}.get(op.order, ONCE) if writes else ONCE
        if op.noreturn:
            rtag = NORETURN
        rtags = {rtag, RMW, MB} if full else {rtag, RMW}
        if op.lock_kinds and writes:
            rtags = {ACQUIRE, op.lock_kinds[0]}
        elif op.lock_kinds:
            rtags = {ONCE, LF}
        evs.append(Event(eid, t.tid, "R", ref.loc, old, frozenset(rtags), addr=ref.addr,
                         ctrl=t.ctx.ctrl, label=op.label))
        rid = eid
        eid += 1
        if writes:
            new = op.update(old)
            data = deps_of(new) | frozenset({rid}) | (deps_of(op.expect.value) if op.expect is not None else frozenset())
            wtag = RELEASE if op.order == "release" else ONCE
            extra = (op.lock_kinds[1],) if op.lock_kinds else (RMW, MB) if full else (RMW,)
            evs.append(self._write_event(t, wtag, ref, eid, new, op.label, op.ghost, data,
                                         extra=extra, rmw=rid))
        return evs

    def _add(self, ev: Event) -> None:
        self.events.append(ev)
        if ev.tid >= 0:
            self.threads[ev.tid].events.append(ev.eid)

    # ------------------------------------------------------------------
    # applying an option
    # ------------------------------------------------------------------
    def apply(self, tid: int, opt: Option) -> None:
        t = self.threads[tid]
        op = t.pending
        eid = len(self.events)
        self._options_cache.clear()
        self.just_settled = False
        self.step_starts.append(eid)
        self.step_tids.append(tid)
        if isinstance(op, Load) and opt.src is None:
            # A promise (load buffering): the value now, its store later (Speculation).
            ref = as_locref(op.target)
            self._add(self._read_event(t, op, ref, eid, opt.value))
            self.promises[eid] = opt.value
            result = (opt.value, frozenset({eid}))
        elif isinstance(op, (Load, LockRead)):
            ref = as_locref(op.target)
            w = opt.src
            value = self.events[w].value
            ev = self._read_event(t, op, ref, eid, value)
            self._add(ev)
            self._set_rf(eid, w)
            if isinstance(op, LockRead):
                result = (1 if value else 0, frozenset({eid}))
            else:
                # A value read from this thread's own store carries that store's
                # dependencies (dep+plain: plain accesses carry dependencies).
                src = self.events[w]
                inherited = src.data if src.tid == tid and SRCU_UNLOCK not in src.tags else frozenset()
                result = (value, frozenset({eid}) | inherited)
        elif isinstance(op, Store):
            ref = as_locref(op.target)
            ev = self._write_event(t, op.tag, ref, eid, op.value, op.label, op.ghost, deps_of(op.value),
                                   extra=(UL,) if op.unlock else ())
            self._add(ev)
            self.co[ref.loc].insert(opt.pos, eid)
            self._fulfil(opt.fulfil, eid)
            result = None
        elif isinstance(op, Rmw) and opt.src is None:
            # An RMW whose read is a promise (load buffering): its write floats.
            ref = as_locref(op.target)
            old = opt.value
            rid = None
            for e in self._rmw_events(t, op, ref, eid, old, opt.write):
                self._add(e)
                if e.kind == "R":
                    rid = e.eid
                    self.promises[rid] = old
                elif e.kind == "W":
                    self.floating[rid] = e.eid
            result = self._rmw_result(op, old, opt.write, rid)
        elif isinstance(op, Rmw):
            ref = as_locref(op.target)
            w = opt.src
            old = self.events[w].value
            evs = self._rmw_events(t, op, ref, eid, old, opt.write)
            rid = None
            for e in evs:
                self._add(e)
                if e.kind == "R":
                    rid = e.eid
                    self._set_rf(rid, w)
                elif e.kind == "W":
                    order = self.co[ref.loc]
                    order.insert(order.index(w) + 1, e.eid)
                    self._fulfil(opt.fulfil, e.eid)
            result = self._rmw_result(op, old, opt.write, rid)
        elif isinstance(op, Ghost):
            self.ghosts.append((t.tid, op.payload, len(self.events)))
            result = None
        else:
            raise ModelError(f"cannot apply {op!r}")
        for e in self.events[eid:]:
            self._observe(e)
        self._advance(t, result)

    @staticmethod
    def _rmw_result(op: Rmw, old: Any, wrote: bool, rid: int | None):
        if op.returns == "old":
            return (old, frozenset({rid}))
        if op.returns == "new":
            return (raw(op.update(old)), frozenset({rid}))
        if op.returns == "trylock":
            return (1 if wrote else 0, frozenset({rid}))
        return None

    def _fulfil(self, reads: tuple, store: int) -> None:
        """The promised reads ``reads`` read ``store`` from now on; a floating RMW
        write among them takes its place right after ``store`` in co."""
        for r in reads:
            self._set_rf(r, store)
            del self.promises[r]
            w = self.floating.pop(r, None)
            if w is not None:
                order = self.co[self.events[store].loc]
                order.insert(order.index(store) + 1, w)
            self._scan_floor(self.events[r].tid, self.events[r].loc)
        if reads and not self.promises:
            self.just_settled = True

    def _advance(self, t: Thread, result, first: bool = False) -> None:
        """Resume the thread with the result of its last operation, running fences
        and ghost steps at once (they have no choice and commute with other threads)."""
        limits.check()      # --seconds, --max-memory, Ctrl-C: at every step (models/limits.py)
        send = None
        if not first:
            if t.shared[0] > 1:
                _own_generator(t)
            t.received.append(result if result is not None else (None, frozenset()))
            send = None if result is None else Val(result[0], result[1], t.ctx)
        step = limits.STEP
        while True:
            if len(t.received) > (t.spec.max_operations or limits.MAX_THREAD_OPERATIONS):
                raise EndlessThread(f"{_where(t.gen)}thread {t.spec.name} took more than "
                                    f"{t.spec.max_operations or limits.MAX_THREAD_OPERATIONS} operations "
                                    f"without finishing (an endless loop?)")
            step[0] += 1
            step[1] = True          # the watchdog times the thread's code until it yields
            try:
                op = t.gen.send(send) if not first else next(t.gen)
            except StopIteration as stop:
                t.done = True
                t.pending = None
                t.result = stop.value
                return
            except ModelError:
                raise
            except (Exception, SystemExit) as exc:   # the program itself failed: say where
                # SystemExit too: a protocol's sys.exit() is its failure, never the tool's exit status
                raise ModelError(f"thread {t.spec.name}: {type(exc).__name__}: {exc}") from exc
            finally:
                step[1] = False
            first = False
            if isinstance(op, Fence):
                if op.kind in ("sync-rcu", SYNC_SRCU):
                    self._has_gp = True
                floc = None if op.target is None else as_locref(op.target).loc   # sync-srcu: its srcu_struct
                self._add(Event(len(self.events), t.tid, "F", floc, None, frozenset({op.kind}),
                                ctrl=t.ctx.ctrl, label=op.label))
                if self._has_gp and op.kind in ("sync-rcu", SYNC_SRCU) and memory.check(self.graph()):
                    t.pending = wait_forever()   # inside its own RCU read-side section: waits for itself
                    return
                t.received.append((None, frozenset()))
                send = None
                continue
            if isinstance(op, Ghost) and not op.step:
                self.ghosts.append((t.tid, op.payload, len(self.events)))
                t.received.append((None, frozenset()))
                send = None
                continue
            if not isinstance(op, (Load, Store, Rmw, LockRead, Ghost)):
                raise ModelError(f"thread {t.spec.name} yielded {op!r}, which is not a kernel primitive")
            t.pending = op
            return

    # ------------------------------------------------------------------
    # copying (for the exhaustive explorer)
    # ------------------------------------------------------------------
    def fork(self) -> "Execution":
        new = Execution.__new__(Execution)
        new.specs = self.specs
        new.events = list(self.events)
        new.rf = dict(self.rf)
        new.readers = dict(self.readers)
        new._floors = dict(self._floors)
        new.co = {k: list(v) for k, v in self.co.items()}
        new.init_of = dict(self.init_of)
        new.path = list(self.path)
        new.step_starts = list(self.step_starts)
        new.step_tids = list(self.step_tids)
        new.ghosts = list(self.ghosts)
        new._options_cache = {}
        new.check_cache = self.check_cache
        new._has_gp = self._has_gp
        new.stale_window = self.stale_window
        new.window_cuts = self.window_cuts
        new.speculation = self.speculation
        new.promises = dict(self.promises)
        new.floating = dict(self.floating)
        new.just_settled = self.just_settled
        new.threads = []
        for old in self.threads:
            t = Thread(old.tid, old.spec)
            t.events = list(old.events)
            t.received = list(old.received)
            t.done = old.done
            t.result = old.result
            t.pending = old.pending
            if not old.done:
                # Share the generator until one of the two threads advances it: a
                # state's successors mostly step one thread each, so most threads
                # of a fork are never replayed at all.
                t.gen = old.gen
                t.shared = old.shared
                t.shared[0] += 1
                t.ctx = old.ctx     # the generator's values update this one when it runs
            new.threads.append(t)
        return new

    # ------------------------------------------------------------------
    # reading the result
    # ------------------------------------------------------------------
    def key(self) -> tuple:
        """A canonical description of the state: equal keys, equal futures."""
        ident = {}
        for loc, e in self.init_of.items():
            ident[e] = ("init", loc.name)
        for t in self.threads:
            for i, e in enumerate(t.events):
                ident[e] = (t.tid, i)
        promises = self.promises
        reads = tuple(tuple(ident[self.rf[e]] if e in self.rf else
                            ("promise", promises[e]) if e in promises else None
                            for e in t.events)
                      for t in self.threads)
        co = tuple(sorted((loc.name, tuple(ident[e] for e in order)) for loc, order in self.co.items()))
        # Ghost steps matter in their order (a commit before or after a lookup), and
        # each at its place in its own thread; where other threads' events fell
        # around them does not change what the oracle can conclude.
        ghosts = tuple((tid, sum(1 for e in self.threads[tid].events if e < at))
                       for tid, _, at in self.ghosts)
        return reads, co, ghosts

    def final_value(self, loc: Loc) -> Any:
        order = self.co.get(loc)
        if not order:
            return loc.init
        return self.events[order[-1]].value

    def source(self, eid: int) -> Event | None:
        w = self.rf.get(eid)
        return None if w is None else self.events[w]

    def is_stale(self, eid: int) -> bool:
        """Did this read take a store that was not co-latest when it read?"""
        w = self.rf.get(eid)
        if w is None:
            return False
        order = self.co[self.events[eid].loc]
        later = order[order.index(w) + 1:]
        return any(x < eid for x in later)


def _own_generator(t: Thread) -> None:
    """Give ``t`` a generator of its own (it shared one with a fork): a fresh one,
    brought to the same point by replaying what the thread received so far."""
    t.shared[0] -= 1
    t.shared = [1]
    t.ctx = DepContext()          # the replay rebuilds the control set it had
    t.gen = t.spec.body(*t.spec.args)
    _replay_generator(t)


def _replay_generator(t: Thread) -> None:
    """Bring a fresh generator to where ``t`` is by feeding it the same results."""
    gen = t.gen
    try:
        next(gen)
        for value, deps in t.received:
            gen.send(None if value is None and not deps else Val(value, deps, t.ctx))
    except StopIteration:
        raise ModelError(f"thread {t.spec.name} is not deterministic: it finished early on replay")
