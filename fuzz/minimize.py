"""A final, model-aware shrinking pass for a failing run.

Hypothesis shrinks the draws of a run; it often stops a writer step or two above
the minimum, because dropping a writer store would need a reader's choice to
change at the same moment. This pass works on the execution graph instead:

1. **Lazy schedule.** Keep every load's source store and every store's place in
   coherence order, but run the violating reader first and any other thread only
   as far as a load it is about to make needs (the store it read must exist).
   The new run's graph is a part of the old one that is closed under program
   order and reads-from, so the memory model allows every choice again; its
   length is the reader's steps plus the steps that produce what it read.
2. **Older sources.** For each load, try each older store of its location (which
   needs fewer writer steps); keep the change when the run still violates the
   invariant and is shorter.
3. **One cycle earlier.** Move all the reader's loads at once to the same stores
   one writer cycle earlier: the same bug found in a later cycle then needs only
   the first ones.

The result is an ordinary engine run: its decision path replays with
``ReplayChooser`` like any other. The pass never claims a violation the oracle
did not find in the new run.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from models.engine import Execution, ModelError, Picked
from models.events import as_locref
from models.protocol import Observation
from models.ops import Rmw

from .oracle import DataRace, Oracle, Violation, lookup_finished

Ident = tuple   # (tid, index in the thread's events) or ("init", location name)


def _ident(ex: Execution, eid: int) -> Ident:
    ev = ex.events[eid]
    if ev.is_init:
        return ("init", ev.loc.name)
    # A thread's events are appended in event order (Execution._add): a bisection,
    # not a scan (a long run's writer has thousands of events).
    mine = ex.threads[ev.tid].events
    k = bisect.bisect_left(mine, eid)
    return (ev.tid, k if k < len(mine) and mine[k] == eid else mine.index(eid))


class _Plan:
    """What the original run did, by thread-local identities."""

    def __init__(self, ex: Execution):
        self.source: dict[Ident, Ident] = {}        # read -> store it read
        self.co_before: dict[Ident, set] = {}       # store -> stores co-before it
        # Load buffering: reads that read a store made after them (a promise of
        # the store's value), and every store's value, to promise it again.
        self.promised: set[Ident] = set()
        self.store_value: dict[Ident, object] = {}
        for r, w in ex.rf.items():
            if ex.events[r].tid >= 0:
                self.source[_ident(ex, r)] = _ident(ex, w)
                if w > r:
                    self.promised.add(_ident(ex, r))
        for e in ex.events:
            if e.kind == "W":
                self.store_value[_ident(ex, e.eid)] = e.value
        for order in ex.co.values():
            ids = [_ident(ex, w) for w in order]
            for i, w in enumerate(ids):
                self.co_before[w] = set(ids[:i])

    def with_sources(self, source: dict) -> "_Plan":
        """The same run with other sources for some loads (coherence kept)."""
        new = _Plan.__new__(_Plan)
        new.source = source
        new.co_before = self.co_before
        new.promised = {r for r in self.promised if source.get(r) == self.source.get(r)}
        new.store_value = self.store_value
        return new


class _Stuck(Exception):
    pass


class _Lazy:
    """A run that keeps a plan's sources and coherence places, and steps a thread
    only as far as what is asked of it needs (step 1 of the module docstring)."""

    def __init__(self, world, plan: _Plan, budget: int, cache: dict | None = None):
        # ``cache``: memory-model verdicts shared by one pass's trials (as the
        # guided runs share theirs): the same answers, computed once
        self.ex = Execution(world.threads, cache)
        self.plan = plan
        self.budget = budget

    def event_count(self, tid: int) -> int:
        return len(self.ex.threads[tid].events)

    def exists(self, ident: Ident) -> bool:
        if ident[0] == "init":
            return True
        tid, k = ident
        return self.event_count(tid) > k

    def step(self, tid: int, depth: int = 0) -> None:
        ex, plan = self.ex, self.plan
        if ex.steps >= self.budget or depth > 64:
            raise _Stuck
        t = ex.threads[tid]
        if t.done:
            raise _Stuck
        k = self.event_count(tid)
        # The load this operation makes is one of the thread's next events: make
        # sure the store it read exists first, by running that store's thread.
        for j in _read_slots(t.pending, k):
            if (tid, j) in plan.promised:
                continue        # its store comes later: the load promises its value
            src = plan.source.get((tid, j))
            if src is not None and src[0] != "init":
                while not self.exists(src):
                    self.step(src[0], depth + 1)
        opts = ex.options(tid)
        if not opts:
            raise _Stuck
        choice = _pick(ex, tid, k, opts, plan)
        # Through the engine's own entry points, as every driver: the thread
        # choice and the option choice are logged there, nowhere else.
        ex.schedule(ex.runnable(), tid)
        ex.step(tid, Picked(choice))


def _replay_lazily(world, plan: _Plan, reader: int, lookup: int, oracle: Oracle,
                   budget: int, cache: dict | None = None) -> tuple[Violation, Execution] | None:
    run = _Lazy(world, plan, budget, cache)
    ex = run.ex
    try:
        seen = 0
        ended = False
        while True:
            if not ended:
                run.step(reader)
            else:
                # The lookup ended with promises open (load buffering): run the
                # threads of the stores they read in the plan, until none is open.
                src = plan.source.get(_ident(ex, min(ex.promises)))
                if src is None or src[0] == "init":
                    raise _Stuck
                run.step(src[0])
            if lookup_finished(ex, seen):
                v = oracle.check(ex)
                if v is not None:
                    return v, ex
            ended = ended or any(isinstance(g[1], Observation) and g[0] == reader
                                 and g[1].index >= lookup for g in ex.ghosts[seen:])
            if ended and not ex.promises:
                return None
            seen = len(ex.ghosts)
    except (_Stuck, ModelError):
        return None


def minimize_race(world, race: DataRace, ex: Execution, oracle: Oracle) -> tuple[DataRace, Execution]:
    """A shorter run with the same data race: the lazy schedule aimed at the two
    racing accesses (their threads run up to them, other threads only as far as
    the stores their loads read need), judged as soon as both exist. A race found
    there is a race of the graph built so far, which is all ``Oracle.race`` needs
    (see its docstring). Returns the given run when that is not shorter."""
    plan = _Plan(ex)
    targets = [_ident(ex, race.first), _ident(ex, race.second)]
    run = _Lazy(world, plan, ex.steps)
    try:
        for want in targets:
            while not run.exists(want):
                run.step(want[0])
    except (_Stuck, ModelError):
        return race, ex
    # Judged, like every run, only when no load holds a promised value.
    if not run.ex.settled or run.ex.steps >= ex.steps:
        return race, ex
    got = oracle.race(run.ex)
    if got is None:
        return race, ex
    return got, run.ex


def _pick(ex: Execution, tid: int, k: int, opts, plan: _Plan) -> int:
    """The option that keeps the original source (loads) or coherence place (stores)."""
    if len(opts) == 1:
        return 0
    first = opts[0]
    if first.kind == "rf":
        for j in _read_slots(ex.threads[tid].pending, k):
            want = plan.source.get((tid, j))
            if want is None:
                continue
            if (tid, j) in plan.promised:
                value = plan.store_value.get(want)
                for i, o in enumerate(opts):
                    if o.src is None and o.value == value:
                        return i
                raise _Stuck
            for i, o in enumerate(opts):
                if o.src is not None and _ident(ex, o.src) == want:   # not a promise
                    return i
            # The load goes elsewhere now (an earlier change gave it another
            # pointer): read the newest store, as a sequentially consistent run would.
            return 0
        return 0
    if first.kind == "co":
        me = (tid, k)
        before = plan.co_before.get(me)
        if before is None:
            return 0
        # position = how many stores now present come co-before this one
        present = ex.co[_loc_of(ex, tid)]
        pos = sum(1 for w in present if _ident(ex, w) in before)
        # the open promises this store gave their value to in the plan
        fulfil = {r for r in ex.promises if plan.source.get(_ident(ex, r)) == me}
        at_pos = [i for i, o in enumerate(opts) if o.pos == pos]
        for i in at_pos:
            if set(opts[i].fulfil) == fulfil:
                return i
        if at_pos:
            return at_pos[0]
        raise _Stuck
    return 0


def _loc_of(ex: Execution, tid: int):
    return as_locref(ex.threads[tid].pending.target).loc


def _read_slots(op, k: int) -> range:
    """Thread-local indices where the operation's read may fall: a fully ordered
    RMW starts with its smp_mb() fence event."""
    return range(k, k + 2) if isinstance(op, Rmw) else range(k, k + 1)


# A long run (LONG_RUN steps or more: hundreds of writer cycles, a wrap-around of a
# wide counter) is shrunk with a budget counted in replayed steps, LONG_TRY_STEPS, so
# that the pass stays affordable and a seeded run shrinks the same way every time
# (every trial replays about the whole run: 3,000 trials of a 4,900-step run are 10
# minutes of CPU, and the detours of its writer tens of thousands more). Its violating
# reader's loads are tried first (the bug is in what the reader read; a writer's own
# loads are most of a long run's loads), and only the reader's detours are left out.
# Runs shorter than LONG_RUN (every default scenario) are shrunk as before.
LONG_RUN = 1000
LONG_TRY_STEPS = 250_000


def minimize(world, violation: Violation, ex: Execution, max_tries: int = 3000,
             deadline: float | None = None) -> tuple[Violation, Execution]:
    """The shortest violating run this pass finds, or the given one. It stops
    early at ``deadline`` (a ``time.perf_counter()`` value) with the best so far."""
    oracle = Oracle(world)
    best_v, best_ex = violation, ex
    reader, lookup = violation.reader, violation.lookup
    long = ex.steps >= LONG_RUN
    if long:
        max_tries = min(max_tries, max(1, LONG_TRY_STEPS // ex.steps))
    cache: dict = {}
    got = _replay_lazily(world, _Plan(ex), reader, lookup, oracle, budget=ex.steps, cache=cache)
    if got is not None and got[1].steps <= best_ex.steps:
        best_v, best_ex = got
    tries = [0]
    while True:
        best_v, best_ex = _older_sources(world, best_v, best_ex, oracle, tries, max_tries, deadline,
                                         reader_first=long, cache=cache)
        # The same bug a writer cycle later needs every load of the reader moved
        # back at once, more than the one- and two-load changes above try.
        shifted = _one_cycle_earlier(best_ex, _Plan(best_ex), reader)
        if long and shifted is not None:
            if tries[0] >= max_tries:
                break
            tries[0] += 1
        got = _replay_lazily(world, shifted, reader, lookup, oracle, budget=best_ex.steps - 1, cache=cache) \
            if shifted is not None else None
        if got is not None and got[1].steps < best_ex.steps:
            best_v, best_ex = got
            continue
        # A detour of one thread (a lookup that failed and retried, a writer's
        # extra round) is steps of that thread the bug does not need: leave them out.
        got = _fewer_thread_steps(world, best_v, best_ex, oracle, deadline,
                                  tries=tries if long else None, max_tries=max_tries)
        if got is None:
            break
        best_v, best_ex = got
    return best_v, best_ex


def schedule_of(ex: Execution) -> list[tuple[int, int]]:
    """A run as the (thread, option index) of each step, replayed from its path."""
    again = Execution(ex.specs)
    decisions = iter(ex.path)
    schedule = []
    for _ in range(ex.steps):
        ready = again.runnable()
        tid = ready[next(decisions).index] if len(ready) > 1 else ready[0]
        again.schedule(ready, tid)
        i = next(decisions).index if len(again.options(tid)) > 1 else 0
        again.step(tid, Picked(i))
        schedule.append((tid, i))
    return schedule


def _run_schedule(world, schedule, oracle: Oracle, rule: str, cache: dict) -> tuple[Violation, Execution] | None:
    """Run ``schedule`` leniently (a step of a thread that cannot step is left out;
    an option index past the last option takes the last): the violation of ``rule``
    it reaches, if any."""
    ex = Execution(world.threads, cache)
    seen = 0
    try:
        for tid, i in schedule:
            ready = ex.runnable()
            if tid not in ready:
                continue
            ex.schedule(ready, tid)
            ex.step(tid, Picked(min(i, len(ex.options(tid)) - 1)))
            if lookup_finished(ex, seen):
                v = oracle.check(ex)
                if v is not None:
                    return (v, ex) if v.rule == rule else None
            seen = len(ex.ghosts)
    except ModelError:
        return None
    return None


# The longest run of one thread's consecutive steps _fewer_thread_steps leaves out at once.
MAX_DETOUR = 8


def _fewer_thread_steps(world, best_v: Violation, best_ex: Execution, oracle: Oracle,
                        deadline: float | None, tries: list | None = None,
                        max_tries: int = 0) -> tuple[Violation, Execution] | None:
    """The first shorter run that leaves out ``m`` consecutive steps of one thread
    (the longest first) and still breaks the same rule; each option index stays
    what it was ("the newest", "one store older"), so the other loads keep reading
    as they did where they can. With ``tries`` (a long run): the violating reader's
    steps only, each trial counted against ``max_tries``."""
    schedule = schedule_of(best_ex)
    cache: dict = {}
    threads = sorted({t for t, _ in schedule}) if tries is None else [best_v.reader]
    for m in range(min(MAX_DETOUR, len(schedule) - 1), 0, -1):
        for tid in threads:
            mine = [k for k, (t, _) in enumerate(schedule) if t == tid]
            for j in range(len(mine) - m + 1):
                if deadline is not None and time.perf_counter() > deadline:
                    return None
                if tries is not None:
                    if tries[0] >= max_tries:
                        return None
                    tries[0] += 1
                drop = set(mine[j:j + m])
                got = _run_schedule(world, [s for k, s in enumerate(schedule) if k not in drop],
                                    oracle, best_v.rule, cache)
                if got is not None and got[1].steps < best_ex.steps:
                    return got
    return None


def _older_sources(world, best_v: Violation, best_ex: Execution, oracle: Oracle, tries: list,
                   max_tries: int, deadline: float | None,
                   reader_first: bool = False, cache: dict | None = None) -> tuple[Violation, Execution]:
    reader, lookup = best_v.reader, best_v.lookup
    while tries[0] < max_tries:
        plan = _Plan(best_ex)
        # Changes of one load's source, then of two at once (a shorter run often
        # needs one load to read a newer store while another reads an older one).
        reads = sorted(plan.source)
        if reader_first:
            # A long run: the reader's loads first, and every load's nearest other
            # store before any load's second nearest (hundreds of stores each).
            reads.sort(key=lambda r: r[0] != reader)     # stable
            near = [_other_stores(best_ex, plan.source[read], near=True) for read in reads]
            singles = [(read, others[i]) for i in range(max(map(len, near), default=0))
                       for read, others in zip(reads, near) if i < len(others)]
        else:
            singles = [(read, other) for read in reads
                       for other in _other_stores(best_ex, plan.source[read])]
        found = None
        for changes in _one_then_two(singles):
            tries[0] += 1
            if tries[0] > max_tries or (deadline is not None and time.perf_counter() > deadline):
                tries[0] = max_tries
                break
            trial = plan.with_sources(plan.source | dict(changes))
            got = _replay_lazily(world, trial, reader, lookup, oracle, budget=best_ex.steps - 1, cache=cache)
            if got is not None and got[1].steps < best_ex.steps:
                found = got
                break
        if found is None:
            break
        best_v, best_ex = found
    return best_v, best_ex


def _one_cycle_earlier(ex: Execution, plan: _Plan, reader: int) -> _Plan | None:
    """The plan with each of the reader's loads moved to the same store one writer
    cycle earlier (a store of the first cycle becomes the initial value). A cycle's
    length in events is where the writer's second cycle starts (its stores' ghost
    ``writer`` and ``cycle``, as the VMA family's ``StoreGhost`` has them);
    a writer whose cycles differ in shape just gives a plan that fails to replay, and the caller drops it."""
    first: dict[tuple[int, int], int] = {}          # (writer, cycle) -> its first store's index
    for tid, t in enumerate(ex.threads):
        for k, eid in enumerate(t.events):
            g = ex.events[eid].ghost       # a family's store provenance: writer and cycle
            if getattr(g, "writer", None) == tid and isinstance(getattr(g, "cycle", None), int):
                first.setdefault((tid, g.cycle), k)
    period = {tid: first[(tid, 1)] - first[(tid, 0)] for tid, c in first
              if c == 0 and (tid, 1) in first and first[(tid, 1)] > first[(tid, 0)]}
    if not period:
        return None
    moved = False
    source = dict(plan.source)
    for read, src in plan.source.items():
        if read[0] != reader or src[0] == "init" or src[0] not in period:
            continue
        tid, k = src
        if k >= period[tid]:
            source[read] = (tid, k - period[tid])
        else:
            source[read] = ("init", ex.events[ex.threads[tid].events[k]].loc.name)
        moved = True
    return plan.with_sources(source) if moved else None


def _one_then_two(singles):
    for a in singles:
        yield (a,)
    for i, a in enumerate(singles):
        for b in singles[i + 1:]:
            if a[0] != b[0]:
                yield (a, b)


def _other_stores(ex: Execution, src: Ident, near: bool = False) -> list[Ident]:
    """Every other store of the location, those needing the fewest steps first;
    ``near`` (a long run): those nearest in coherence order first, the older of two
    as near first (a store hundreds of cycles back needs a run that wraps again)."""
    if src[0] == "init":
        eid = next(e for loc, e in ex.init_of.items() if loc.name == src[1])
    else:
        eid = ex.threads[src[0]].events[src[1]]
    order = ex.co[ex.events[eid].loc]
    if near:
        at = order.index(eid)
        ranked = sorted(range(len(order)), key=lambda i: (abs(i - at), i > at))
        return [_ident(ex, order[i]) for i in ranked if i != at]
    others = [w for w in order if w != eid]
    return [_ident(ex, w) for w in sorted(others, key=lambda w: (not ex.events[w].is_init, w))]


__all__: list[Any] = ["minimize", "minimize_race"]
