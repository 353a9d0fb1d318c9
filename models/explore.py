"""The exhaustive explorer: every execution of a program, through the engine.

Depth-first over states. A state is an ``Execution``; its successors are every
runnable thread stepped with every option ``memory.check`` allows. States with
the same ``Execution.key()`` (same graph reached by another interleaving) are
explored once. Each finished execution carries the decision path that replays it.

Symmetry reduction (``symmetry``): groups of interchangeable threads (the same
program on the same arguments, up to a number the program and the invariant do not
use; the caller vouches for that, see ``fuzz/exhaustive.py``). A state whose image
under a permutation of the threads inside each group was already seen is not
explored again: the two have the same future up to the renaming, so one violates
exactly when the other does, after as many steps. Breadth first, the image seen
first was reached in at most as many steps, so the first violation found is still
one with the fewest steps.

Invisible steps first (``persistent=invisible_first(...)``): marked stores, a
lock holder's accesses to what the lock protects, and writer steps before read-only
readers' lookups are taken alone, and a lookup runs from its first load to its
observation. It keeps the verdict, not the shortest trace (``fuzz/exhaustive.py``
decides with it, then looks for the shortest violation without it).

Readers alone (``alone``): threads that only read and whose findings each depend
only on their own events and the other (writer) threads'. Once one of them has
taken a step the others are not scheduled, so every state holds the writers and at
most one of them (``fuzz/exhaustive.py`` says when and why that loses no verdict
and no shorter trace). If one of them writes, the search raises ``NotAlone``
(the caller explores again without it).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import Callable, Iterator, Sequence

import attrs

from . import limits
from .engine import Decision, Execution, Speculation
from .events import as_locref, raw
from .protocol import Observation
from .ops import Load, LockRead, Rmw, Store


class NotInvisible(Exception):
    """A step taken alone by ``invisible_first`` recorded a ghost (an observation or
    a ghost record came with it): the step was visible to the invariant, and the
    search that assumed otherwise is void."""


class NotAlone(Exception):
    """A thread explored alone (``explore``'s ``alone``) made a store: it is not a
    reader, and the search that assumed so is void."""


@attrs.define
class ExploreStats:
    states: int = 0
    executions: int = 0     # finished, consistent executions
    blocked: int = 0        # runs where no thread could go on (deadlock, or no consistent option)
    seconds: float = 0.0
    truncated: bool = False
    stopped: str = ""       # truncated by a limit other than max_states: which (limits.Stop.message)


def explore(root: Execution, stats: ExploreStats | None = None,
            max_states: int | None = None, prune: Callable[[Execution], bool] | None = None,
            breadth_first: bool = False,
            leaf: Callable[[Execution], None] | None = None,
            symmetry: Sequence[Sequence[int]] = (),
            alone: Sequence[int] = (),
            persistent: Callable[[Execution, list[int]], list[int]] | None = None) -> Iterator[Execution]:
    """Yield every distinct finished execution reachable from ``root``.

    ``prune(ex)`` is called once on every state; True means: do not explore
    below it (the protocol checker uses it to stop at a violation).
    ``breadth_first`` visits states in order of steps taken, so the first
    violating state found is one with the fewest steps. ``leaf(ex)`` is called on
    every state where no thread can go on (finished or blocked).
    ``symmetry``: groups of thread ids whose threads are interchangeable (module
    docstring); a state is then explored once for all its images under swaps of
    threads inside a group (``stats.states`` counts those classes).
    ``alone``: thread ids of which at most one steps in any state (module
    docstring); a step of one of them that stores raises ``NotAlone``. Thread
    decisions are logged against every runnable thread, so paths replay as ever.
    ``persistent(ex, ready)``: the threads among ``ready`` to step in ``ex`` (a
    persistent set, e.g. ``finals_only``); only for callers that want the finished
    executions alone, or (``invisible_first``) a verdict, never a shortest trace.
    With ``invisible_first``'s (it has ``readers``), a step taken because the set
    left others out must record no ghost (``NotInvisible``), but a reader's
    observation.
    """
    stats = stats if stats is not None else ExploreStats()
    t0 = time.perf_counter()
    check = limits.check
    invisible = hasattr(persistent, "readers")      # invisible_first's reduction
    exempt = persistent.readers if invisible else frozenset()
    perms = permutations(symmetry, len(root.threads))
    if perms:
        def key_of(ex: Execution):
            k = ex.key()
            return frozenset([k] + [permuted_key(k, p) for p in perms])
    else:
        def key_of(ex: Execution):
            return ex.key()
    seen = {key_of(root)}
    alone_set = frozenset(alone) if len(alone) > 1 else frozenset()
    # A state reached from the root through states that each stepped one thread only
    # is reached by no other path: where another path leaves its own, that thread
    # took another option, and the graphs differ from then on. Its key need not be
    # computed or kept (litmus runs under ``finals_only`` are mostly such states).
    # Not with symmetry, whose keys merge different graphs.
    track = not perms
    stack = deque([(root, track)])
    take = stack.popleft if breadth_first else stack.pop
    stats.states = 1
    try:
        while stack:
            check()      # --seconds, --max-memory, Ctrl-C (models/limits.py)
            ex, unique = take()
            if prune is not None and prune(ex):
                continue
            every = ex.runnable()
            ready = every
            if alone_set:
                moved = alone_set.intersection(ex.step_tids)
                if moved:
                    ready = [t for t in every if t not in alone_set or t in moved]
            forced = inside = False
            if persistent is not None and (len(ready) > 1 or invisible):
                n_ready = len(ready)
                ready = persistent(ex, ready)
                forced = invisible and len(ready) < n_ready
                # invisible_first's rule 0: a reader inside a lookup steps alone. Its
                # successor, still inside the lookup, is reached from this state only
                # (a state inside a lookup steps that reader alone, so its parent has
                # the same writer events): no key is needed for it.
                inside = invisible and persistent.inside
            if not ready:
                if leaf is not None:
                    leaf(ex)
                if ex.finished:
                    stats.executions += 1
                    yield ex
                else:
                    stats.blocked += 1
                continue
            moves = [(k, tid, len(opts), i, opt) for k, tid in enumerate(ready)
                     for opts in (ex.options(tid),) for i, opt in enumerate(opts)]
            last = len(moves) - 1
            unique = unique and len(ready) == 1
            for m, (k, tid, n_opts, i, opt) in enumerate(moves):
                # The last successor takes the parent itself: one replay fewer per state.
                child = ex.fork() if m < last else ex
                if len(every) > 1:
                    child.path.append(Decision("thread", -1, len(every), every.index(tid)))
                if n_opts > 1:
                    child.path.append(Decision(opt.kind, tid, n_opts, i))
                n_events = len(child.events)
                n_ghosts = len(child.ghosts)
                child.apply(tid, opt)
                if forced and len(child.ghosts) != n_ghosts and tid not in exempt:
                    raise NotInvisible(f"thread {child.threads[tid].spec.name} recorded a ghost "
                                       f"with a store or fence")
                if tid in alone_set and any(e.kind == "W" for e in child.events[n_events:]
                                            if e.tid == tid):
                    raise NotAlone(f"thread {child.threads[tid].spec.name} stores: it is not read-only")
                if not unique and not (inside and len(child.ghosts) == n_ghosts):
                    key = key_of(child)
                    if key in seen:
                        continue
                    seen.add(key)
                stats.states += 1
                if max_states is not None and stats.states > max_states:
                    stats.truncated = True
                    return
                stack.append((child, unique))
    except (limits.OutOfTime, limits.OutOfMemory) as exc:
        # No verdict, as with max_states; the states seen are freed on return.
        stats.truncated = True
        stats.stopped = exc.message
    finally:
        stats.seconds = time.perf_counter() - t0


def finals_only(may_store: Sequence[frozenset | None]) -> Callable[[Execution, list[int]], list[int]]:
    """A persistent-set reduction for a search that wants every finished execution
    and nothing else (a litmus test's executions): ``explore(persistent=...)``.
    ``may_store[tid]``: the locations thread ``tid``'s text may ever store to
    (None: it may store through a computed pointer, anywhere).

    Two rules, tried in order; when neither applies every ready thread steps.

    1. Stores first. A ready thread whose next step is not a read (a store, a
       fence, a ghost) steps alone. Nothing another thread does can need it later:
       the engine places a store anywhere in co above its thread's floor, and a read
       may take any co-older store the checks allow, so every execution a later
       store reaches is reached with it made now (a path that makes it late makes
       the same graph; every partial graph on the way is part of that consistent
       graph, and ``memory.check`` accepts the parts of a consistent graph). Its
       thread's own earlier reads are already made, so its value is fixed.
    2. Reads no one can overwrite. A ready read (a load, an RMW, a lock word read)
       of a location no other unfinished thread may store steps alone: every store
       it may ever read exists already (its own thread's later stores are after it in
       po), so it has the same options now as after any other steps.

    Every finished graph of the full search is still reached, and only those
    (tests/test_litmus_reduction.py runs every litmus test both ways: the same
    executions, states and flags). Not for a protocol's search: its invariant looks
    at intermediate states and its traces must be the shortest, which making stores
    early changes."""
    def choose(ex: Execution, ready: list[int]) -> list[int]:
        threads = ex.threads
        for tid in ready:
            if not isinstance(threads[tid].pending, (Load, LockRead, Rmw)):
                return [tid]
        for tid in ready:
            loc = as_locref(threads[tid].pending.target).loc
            if all(u == tid or t.done or (ms := may_store[u]) is not None and loc not in ms
                   for u, t in enumerate(threads)):
                return [tid]
        return ready
    return choose


# At most this many thread permutations per state: a larger group is cut into
# smaller ones (still sound: fewer swaps only merge fewer states).
MAX_PERMUTATIONS = 120


def permutations(groups: Sequence[Sequence[int]], n_threads: int) -> list[tuple[int, ...]]:
    """Every permutation of ``range(n_threads)`` that only swaps threads inside a
    group of ``groups``, the identity left out. Groups are split until their
    permutations number at most ``MAX_PERMUTATIONS`` in all."""
    parts: list[list[int]] = []
    for g in groups:
        g = sorted(set(g))
        if len(g) > 1:
            parts.append(g)
    if not parts:
        return []

    def count(ps) -> int:
        out = 1
        for p in ps:
            for k in range(2, len(p) + 1):
                out *= k
        return out

    while count(parts) > MAX_PERMUTATIONS:
        parts.sort(key=len)
        big = parts.pop()
        half = len(big) // 2
        parts += [x for x in (big[:half], big[half:]) if len(x) > 1]
    out = []
    for images in itertools.product(*(itertools.permutations(p) for p in parts)):
        perm = list(range(n_threads))
        for p, image in zip(parts, images):
            for a, b in zip(p, image):
                perm[a] = b
        perm = tuple(perm)
        if perm != tuple(range(n_threads)):
            out.append(perm)
    return out


def permuted_key(key: tuple, perm: Sequence[int]) -> tuple:
    """``Execution.key()`` of the state with thread ``t`` renamed ``perm[t]``: the
    key that state has when the threads of each swapped pair run the same program.
    Follows ``Execution.key``'s shape: per-thread reads (an event is ``(tid, i)``,
    ``("init", name)``, ``("promise", value)`` or None), coherence orders by
    location name, ghost places ``(tid, events before it)``.
    tests/test_explore_symmetry.py checks it against keys of mirrored runs."""
    reads, co, ghosts = key

    def ren(x):
        if x is not None and type(x[0]) is int:
            return (perm[x[0]], x[1])
        return x

    new_reads = [None] * len(reads)
    for t, rs in enumerate(reads):
        new_reads[perm[t]] = tuple(ren(x) for x in rs)
    new_co = tuple(sorted((loc, tuple(ren(x) for x in order)) for loc, order in co))
    new_ghosts = tuple((perm[t], n) for t, n in ghosts)
    return tuple(new_reads), new_co, new_ghosts


MAX_PASSES = 6


class ValuesDidNotSettle(Exception):
    """Load buffering: the stored values kept growing pass after pass."""


def explore_load_buffering(make_root: Callable[[Speculation | None], Execution],
                           stats: ExploreStats | None = None,
                           max_states: int | None = None,
                           static_stores: dict | None = None,
                           static_loads: dict | None = None,
                           persistent: Callable[[Execution, list[int]], list[int]] | None = None,
                           ) -> Iterator[tuple[int, Execution]]:
    """Every execution, load buffering included: yields ``(pass, execution)``.

    A promise (``engine.Speculation``) needs the values other threads may store.
    Pass 0 explores without promises and records, in every final or blocked state,
    which thread stored which value where. If some thread both loads and stores
    (a ``po | rf`` cycle needs one on each side), the next pass lets those threads'
    loads promise the values other threads stored, and records again; passes go on
    until a pass stores nothing new, whose executions are the answer. So a caller
    must forget what earlier pass numbers gave. Values only come from stores that
    some explored run really made, so a speculated value can never appear out of
    thin air; dependencies on speculated values are judged by ``memory.check``.

    ``static_stores`` (``{tid: {(loc, value), ...}}``) adds stores the program text
    shows but no run made yet: a store inside a branch that is only taken when a
    load reads a value some other thread stores only under a branch of its own
    (``r0 = *x; if (r0) *y = 1;`` on both sides). Their promises are fulfilled only
    by stores a run really makes, so a static value can add executions only where
    ``memory.check`` accepts the cycle (plain accesses, which ``hb`` leaves out).
    With ``static_loads`` (``{tid: {loc, ...}}``) too, the first pass already makes
    the promises the text suggests, and usually one pass is all it takes: the passes
    end as soon as one logs nothing the promises it made did not already cover.
    ``persistent`` (``finals_only``) logs the same stores: a store or read it makes
    early goes last in co or reads the co-last store, and takes no edge out of it
    that could close a cycle, so every state of the full search, blocked ones
    included, lies inside a state the reduced search reaches.
    """
    stats = stats if stats is not None else ExploreStats()
    def seeded() -> StoreLog:
        log = StoreLog()
        for tid, pairs in (static_stores or {}).items():
            for loc, value in pairs:
                log.stores.setdefault(loc, {}).setdefault(tid, set()).add(value)
        for tid, locs in (static_loads or {}).items():
            for loc in locs:
                log.loads.setdefault(loc, set()).add(tid)
        return log

    spec = seeded().speculation() if static_loads else None
    for n in range(MAX_PASSES):
        seen = seeded()
        one = ExploreStats()
        for ex in explore(make_root(spec), one, max_states=max_states, leaf=seen.add,
                          persistent=persistent):
            yield n, ex
        stats.states, stats.executions, stats.blocked = one.states, one.executions, one.blocked
        stats.seconds += one.seconds
        stats.truncated = one.truncated
        stats.stopped = one.stopped
        if one.truncated:
            return
        nxt = seen.speculation()
        if nxt == spec:
            return
        spec = nxt
    raise ValuesDidNotSettle(f"stored values still growing after {MAX_PASSES} passes")


class StoreLog:
    """Which thread stored which values to which location, and which threads load where."""

    def __init__(self) -> None:
        self.stores: dict = {}          # loc -> {tid: set of values}
        self.loads: dict = {}           # loc -> set of tids that load it (RMW reads included)

    def add(self, ex: Execution) -> None:
        """Log the leaf ``ex``. A store whose value, address or branch depends on a
        promise still open (or on a read of such a store) is not a store any
        execution makes yet: it is left out, or speculated values would feed on
        themselves pass after pass (``x = r0 + 1`` on both sides)."""
        tainted: set[int] = set(ex.promises)
        changed = bool(tainted)      # no promise: nothing tainted
        while changed:
            changed = False
            for e in ex.events:
                if e.eid in tainted or e.tid < 0 or e.kind == "F":
                    continue
                if e.kind == "W":
                    bad = (e.data | e.addr | e.ctrl) & tainted
                else:
                    w = ex.rf.get(e.eid)
                    bad = (w is not None and w in tainted) or (e.addr | e.ctrl) & tainted
                if bad:
                    tainted.add(e.eid)
                    changed = True
        for e in ex.events:
            if e.tid < 0 or e.kind == "F" or e.eid in tainted:
                continue
            if e.kind == "W":
                self.stores.setdefault(e.loc, {}).setdefault(e.tid, set()).add(e.value)
            else:
                self.loads.setdefault(e.loc, set()).add(e.tid)

    def speculation(self) -> Speculation | None:
        """Promises only where a ``po | rf`` cycle can pass: thread ``T`` loading ``x``
        from ``U`` is an edge ``U -> T``; a cycle of ``po | rf`` runs along a cycle of
        such edges, so ``T`` may promise only values stored by threads of its own
        strongly connected component."""
        tids = {t for per in self.stores.values() for t in per} | {
            t for ts in self.loads.values() for t in ts}
        edge = {t: set() for t in tids}
        for loc, readers in self.loads.items():
            for u in self.stores.get(loc, {}):
                edge[u] |= readers - {u}
        reach = {t: set(edge[t]) for t in tids}
        changed = True
        while changed:
            changed = False
            for t in tids:
                more = set().union(*(reach[u] for u in reach[t])) - reach[t] if reach[t] else set()
                if more:
                    reach[t] |= more
                    changed = True
        values = {}
        for loc, readers in self.loads.items():
            by_tid = {}
            for t in readers:
                vals = set()
                for u, vs in self.stores.get(loc, {}).items():
                    if u != t and t in reach[u] and u in reach[t]:
                        vals |= vs
                if vals:
                    by_tid[t] = tuple(sorted(vals, key=_value_key))
            if by_tid:
                values[loc] = by_tid
        if not values:
            return None
        return Speculation(values)


def _value_key(v) -> tuple:
    return (type(v).__name__, repr(v))


# Stores ``invisible_first`` may take alone: marked stores (an unlock is a release
# store); never a plain or SRCU store. (Fences are never a thread's next step: the
# engine runs them at once with the step before them.)
_FIRST_STORE_TAGS = frozenset({"once", "release"})


class NotProtected(Exception):
    """A thread was about to store to a location ``invisible_first`` was told only
    the holder of a lock stores to, without holding that lock."""


def holds(ex: Execution, tid: int, lock) -> bool:
    """Thread ``tid`` holds the lock word ``lock``: the co-last store to it is that
    thread's acquisition (a lock word holds 1 while held, 0 once released)."""
    order = ex.co.get(lock)
    if not order:
        return False
    last = ex.events[order[-1]]
    return last.tid == tid and raw(last.value) == 1


def _mid_lookup(ex: Execution, tid: int) -> bool:
    """Thread ``tid`` has taken a step since its last observation (it is inside a
    lookup). Steps, not events: fences run at once with the step before them."""
    tids = ex.step_tids
    for i in range(len(tids) - 1, -1, -1):
        if tids[i] == tid:
            start = ex.step_starts[i]
            break
    else:
        return False
    for t, rec, at in reversed(ex.ghosts):
        if t == tid and isinstance(rec, Observation):
            return start >= at
    return True


def _before_readers(op) -> bool:
    """A writer's next step that may go before any read-only reader's steps
    (``invisible_first``'s rule 3): a marked memory access, not a ghost step nor a
    plain or SRCU access."""
    kind = type(op)
    if kind is Store:
        return op.tag in _FIRST_STORE_TAGS
    if kind is Load:
        return op.tag in ("once", "acquire")
    return kind is Rmw or kind is LockRead


def invisible_first(protected: dict | None = None,
                    readers: frozenset = frozenset()) -> Callable[[Execution, list[int]], list[int]]:
    """A persistent-set reduction for a protocol search that wants a verdict, not a
    shortest trace: ``explore(persistent=invisible_first(...))``
    (docs/writing-a-protocol.md, "invisible steps first"). In each state the first ready
    thread whose next step is one of these steps alone:

    1. a marked store (WRITE_ONCE, a release, an unlock);
    2. an access (load, RMW, lock acquisition) of a location in ``protected``
       (``{location: lock word}``) while its thread holds that lock.

    With ``readers`` (threads that only read: loads, fences, observations; one
    about to store raises ``NotAlone``), before those:

    0. a reader inside a lookup (it stepped since its last observation) steps
       alone, to its observation;

    and after them:

    3. when no ready thread outside ``readers`` is at a ghost step (a commit) or
       at a plain or SRCU step, and one of them is ready, those threads step and
       the readers wait.

    Why a violation is never lost (for a search where every load may read every
    store: the engine's stale window would cut the sources of loads made later,
    so ``check_variant`` steps aside at its first cut). Let X be thread T's next
    step in state s, and
    take any run from s that ends in a violation. If T steps in it, its first
    step there is X, taken after steps of other threads only; X commutes to the
    front: a store is placed in coherence where it was, and none of those steps
    read it (it did not exist yet); an access of ``protected`` has the same options,
    as no other thread can store there while T holds the lock. The run ends in the
    same graph (the fences that ran with X come along: they order nothing before
    their thread's next event). If T never steps in it, put X first anyway: a store
    placed last in coherence and read by no one, or a read last in its thread, has
    no ordering edge out of it,
    so every graph of the run stays consistent with it, and the later stores of
    the run go before it in coherence. The invariant sees the same loads and
    the same ghost records in the same order (a step that records a ghost raises
    ``NotInvisible``; a store to ``protected`` by a thread not holding its lock
    raises ``NotProtected``: the caller then explores in full). So the run from
    ``s`` after X still ends in a violation, with X one step more at most: the
    verdict is kept, the shortest trace and the broken rule's name may not be.
    Rule 3 is the same argument for the first writer step X of the run (a reader
    only reads: a store X goes where it was, a read X has the same options as no
    reader stores, and the readers' loads keep their sources), or for any of them
    when the run has none. Rule 0: in any run, a lookup's loads can all be made
    just before its observation, the other threads' steps between them moved
    before its first: each load keeps its source (it existed already, and a
    store made earlier is still one the load may skip), the graph is the same,
    and so is the order of the ghost records, as no observation moves past
    another ghost record. With rules 1 to 3 moving writer steps before a lookup's
    start, every run is one the reduced search makes, with the same ending."""
    protected = protected or {}

    def choose(ex: Execution, ready: list[int]) -> list[int]:
        out = _choose(ex, ready)
        threads = ex.threads
        for tid in out:
            op = threads[tid].pending
            kind = type(op)
            if kind is not Store and kind is not Rmw:
                continue
            if tid in readers:
                raise NotAlone(f"thread {threads[tid].spec.name} stores: it is not read-only")
            lock = protected.get(as_locref(op.target).loc) if protected else None
            if lock is not None and not holds(ex, tid, lock):
                raise NotProtected(f"thread {threads[tid].spec.name} stores to "
                                   f"{as_locref(op.target).loc.name} without holding {lock.name}")
        return out

    def _choose(ex: Execution, ready: list[int]) -> list[int]:
        threads = ex.threads
        choose.inside = False
        if readers:
            for tid in ready:
                if tid in readers and _mid_lookup(ex, tid):
                    choose.inside = True
                    return [tid]                                   # rule 0
        for tid in ready:
            op = threads[tid].pending
            kind = type(op)
            if kind is Store:
                if op.tag in _FIRST_STORE_TAGS:
                    return [tid]                                   # rule 1
            elif protected and (kind is Load or kind is Rmw or kind is LockRead):
                lock = protected.get(as_locref(op.target).loc)
                if lock is not None and holds(ex, tid, lock):
                    return [tid]                                   # rule 2
        if readers:
            writers = []
            for tid in ready:
                if tid in readers:
                    continue
                if not _before_readers(threads[tid].pending):
                    return ready
                writers.append(tid)
            if writers and len(writers) < len(ready):
                return writers                                     # rule 3
        return ready
    choose.readers = readers
    choose.inside = False       # did the last call apply rule 0 (``explore`` keys less)
    return choose
