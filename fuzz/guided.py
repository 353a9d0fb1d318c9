"""Coverage-guided schedules: cheap runs of the engine, between Hypothesis's examples.

Why: Hypothesis's examples cost about ten times what a bare run of the engine
costs (its draws, its bookkeeping), and its random choices do not remember what
a run reached. A race such as protocol C's use-after-free needs five preemptions,
each at its own few steps; no random scheduler, Hypothesis's included, hits them
all in one run often enough. It is found in a few seconds by what greybox
fuzzers do: keep every run that reached something new, and start new runs from
the kept ones.

* **Coverage** is the set of reads-from pairs of a run, each side named by its
  thread and its place in that thread's events (``rf_pairs``): "the reader's
  third load read writer 1's fifth store". A run that adds a pair no earlier run
  had is kept. A chain of hand-overs between threads (the reader's increment read
  by the writer's add, whose result the reader's decrement reads, whose result the
  writer's wait reads, ...) is built one new pair at a time.
* **A schedule** is the (thread, option) of every step. A new run takes a kept
  schedule (the empty one is always kept; mostly one of the newest), replays a
  prefix of it cut at a random step (mostly just before the step where it reached
  its first new pair), and goes on at random in a drawn ``Mode`` (``MODES``):
  mostly the thread that stepped last goes on (probability 0.7) and a load reads
  the newest store (0.75); some runs also leave one thread out for a log-uniform
  stretch of steps (a reader preempted across many writer cycles: the wrap-around
  bugs); some are naive random testing (thread and option uniform at every step).
* Every step goes through the engine's one entry point (``Execution.schedule``,
  ``Execution.step``), so a run's decision path replays like any other; the
  oracle is asked where the state machine asks it (``lookup_finished``).
* The random generator is seeded (``--seed``, or the variant's name in the
  derandomized CI profile), and ``fuzz`` gives the phase a fixed number of runs
  before each of Hypothesis's examples, so a seeded run with ``--max-examples`` is
  the same run every time.

A failure found here ends the search; the model-aware pass (``minimize``) then
shrinks it, as it does Hypothesis's. ``fuzz(..., guided=False)`` (``run
--no-guided``) leaves the phase out.
"""

from __future__ import annotations

import bisect
import math
import random
from typing import Callable

import attrs

from models.engine import Execution, Picked
from models.protocol import Observation
from models.scenario import World

from .oracle import DataRace, Oracle, Violation, lookup_finished



@attrs.frozen(slots=True)
class Mode:
    """How a run goes on at random after its replayed prefix."""

    switch: float       # probability that a step draws the thread (else the last one goes on)
    stale: float        # probability that a load or store draws its option (else the newest)
    stall: bool = False  # leave one thread out for a stretch of steps (log-uniform in length)
    # leave one thread out, after a few steps of its own, until the location it read
    # last holds the value it read again, written by another store (ABA: a counter
    # that wrapped, a pointer to a freed and reused slot); the wrap-around bugs with
    # wide counters (A-narrow-seq with 8 bits: 256 writer cycles) need that moment
    aba: bool = False


# Each run draws its mode, with these weights: mostly sticky threads and few stale
# reads (a race through a few preemptions); a stalled thread (a reader preempted
# across many writer cycles: the wrap-around bugs); naive random testing, a thread
# and an option uniform at every step (bugs that need many reorderings at once).
MODES = ((Mode(0.3, 0.25), 3), (Mode(0.3, 0.25, stall=True), 1), (Mode(1.0, 1.0), 2),
         (Mode(0.3, 0.1, aba=True), 1))
# The search as it was before the parent and cut biases (RECENT, NEAR): the guided
# shrinking's runs, which look for a shorter route, not the next link of a chain.
SHRINK_MODES = ((Mode(0.3, 0.25), 4), (Mode(0.3, 0.25, stall=True), 1), (Mode(1.0, 1.0), 1),
                (Mode(0.3, 0.1, aba=True), 1))
ABA_AFTER = 40          # the stalled thread's own steps before an ABA stall, at most
# A long scenario (a guided run of LONG_STEPS steps or more: hundreds of writer cycles)
# draws its modes from LONG_MODES: half its runs ABA. A counter that wraps only after
# hundreds of cycles needs a thread stalled across all of them, which only the ABA mode
# does on purpose; the other modes' chains of new pairs are long and slow there (a run
# of A-narrow-seq with 8-bit counts and 256 cycles is about 4,900 steps, 0.2 s of CPU).
# Its ABA runs also draw the thread's own steps before the stall log-uniformly (a
# lookup is a few steps: most uniform draws let it finish before the stall), and half
# of them start from the empty schedule (a kept schedule's prefix has the thread's
# lookup done, or its reads taken late in the run).
LONG_STEPS = 1000
LONG_MODES = ((Mode(0.3, 0.25), 3), (Mode(0.3, 0.25, stall=True), 1), (Mode(1.0, 1.0), 2),
              (Mode(0.3, 0.1, aba=True), 6))
LONG_FRESH = 0.5
# Runs before each Hypothesis example after the first: an example costs about as
# much as ten of these runs of the same length (its draws, its bookkeeping), and the
# runs find nearly every first failure, so Hypothesis keeps a fifth of the time or
# less (bench/fuzz.py --throughput: the fuzzer's steps/s over a bare random chooser's).
# Before the second example, FIRST_RUNS: the cheap bugs are found there, with no
# example in between.
RUNS_PER_EXAMPLE = 32
FIRST_RUNS = 128

Step = tuple[int, int]          # (thread, option index)


_MODES = tuple(m for m, _ in MODES)
_WEIGHTS = tuple(w for _, w in MODES)
_SHRINK_MODES = tuple(m for m, _ in SHRINK_MODES)
_SHRINK_WEIGHTS = tuple(w for _, w in SHRINK_MODES)
_LONG_MODES = tuple(m for m, _ in LONG_MODES)
_LONG_WEIGHTS = tuple(w for _, w in LONG_MODES)


@attrs.frozen(slots=True)
class GuidedFailure:
    """A run of this phase that broke the invariant, stopped there."""

    violation: Violation
    execution: Execution


def rf_pairs(ex: Execution) -> set:
    """A run's coverage: its reads-from pairs, each event named by (thread, place
    in the thread's events), an initial value by its location's name."""
    return set(rf_pairs_at(ex))


def rf_pairs_at(ex: Execution) -> dict:
    """``rf_pairs``, each with the step (0-based) whose operation made the read."""
    where: dict[int, tuple] = {}
    for t in ex.threads:
        for i, e in enumerate(t.events):
            where[e] = (t.tid, i)
    events = ex.events
    starts = ex.step_starts
    return {(where[r], where.get(w) or ("init", events[w].loc.name)): bisect.bisect_right(starts, r) - 1
            for r, w in ex.rf.items()}


# Which kept schedule a run starts from, and where it cuts it. A chain of new pairs
# (protocol C's use-after-free: five of them) grows from its newest link, and the
# next link is a different step near where the last one was reached: with
# probability RECENT the parent is one of the RECENT_N newest kept schedules (else
# any); with probability NEAR the cut is within NEAR_BEFORE steps before, or
# NEAR_AFTER after, the step of the parent's first new pair (else anywhere).
# C-foreign-mm-put, guided runs alone, 16 seeds: median 1,745 runs to the first
# failure with neither, 833 with RECENT 0.5, 722 with NEAR 0.5, 441 with both, 356
# with both 0.7 (docs/benchmarks.md, "Fuzzer speed (issue 14)").
RECENT, RECENT_N = 0.7, 4
# Kept schedules whose state at their lowest near cut is kept (GuidedSearch._snapshot):
# a run from one of them forks that state instead of replaying the prefix. Short
# scenarios only (a long run's state is large, and its ABA runs start from nothing).
SNAPSHOTS = 256
NEAR, NEAR_BEFORE, NEAR_AFTER = 0.7, 8, 1


@attrs.define
class GuidedSearch:
    """The phase's state for one fuzz run: kept schedules, coverage, the generator."""

    world: World
    oracle: Oracle
    max_steps: int
    rng: random.Random
    check_cache: dict = attrs.field(factory=dict)
    kept: list = attrs.field(factory=lambda: [()])      # schedules that reached new coverage
    # per kept schedule: the step of its first new pair (where a NEAR cut goes)
    kept_new: list = attrs.field(factory=lambda: [0])
    covered: set = attrs.field(factory=set)
    runs: int = 0
    steps: int = 0
    lookups: int = 0                                    # lookups the oracle checked
    # Called with (race, execution) at a run's first data race; None: races are not looked for.
    on_race: Callable[[DataRace, Execution], None] | None = None
    # False: the unbiased search (SHRINK_MODES, any parent, any cut), for shrinking
    biased: bool = True
    window_cuts: int = 0                                # option lists the stale window cut
    # kept schedule's index -> (the schedule, step, the state there, lookups checked before it):
    # see _snapshot
    snapshots: dict = attrs.field(factory=dict)

    @staticmethod
    def _last_read(ex: Execution, tid: int) -> tuple | None:
        """(location, value, store) of the thread's last read, None before its first."""
        events = ex.events
        for e in reversed(ex.threads[tid].events):
            w = ex.rf.get(e)
            if w is not None and events[e].kind == "R":
                return events[e].loc, events[w].value, w
        return None

    def run(self) -> GuidedFailure | None:
        """One run: a kept schedule's prefix, then random steps, to the end or a failure."""
        rng = self.rng
        biased = self.biased
        long = self.max_steps >= LONG_STEPS
        mode = rng.choices(*((_LONG_MODES, _LONG_WEIGHTS) if long and biased else
                             (_MODES, _WEIGHTS) if biased else (_SHRINK_MODES, _SHRINK_WEIGHTS)))[0]
        switch, stale = mode.switch, mode.stale
        nk = len(self.kept)
        recent = biased and rng.random() < RECENT
        k = nk - 1 - rng.randrange(min(nk, RECENT_N)) if recent else rng.randrange(nk)
        parent = self.kept[k]
        if long and mode.aba and rng.random() < LONG_FRESH:
            cut = 0
        elif biased and rng.random() < NEAR:
            at = self.kept_new[k]
            cut = rng.randint(max(0, min(len(parent), at - NEAR_BEFORE)), min(len(parent), at + NEAR_AFTER))
        else:
            cut = rng.randint(0, len(parent))
        oracle = self.oracle
        self.runs += 1
        raced = False
        # The prefix from the parent's snapshot when there is one at or before the cut
        # (the same state, the same counts: the run goes on exactly as a replay would).
        snap = self.snapshots.get(k) if not long else None
        if snap is not None and snap[0] is not parent:
            snap = None         # kept schedules were replaced (a new search): not this one's
        take = -1              # the step to take this parent's snapshot at, if any
        if snap is not None and snap[1] <= min(cut, self.max_steps):
            _, at_snap, base, pre_lookups = snap
            ex = base.fork()
            schedule: list[Step] = list(parent[:at_snap])
            seen = len(ex.ghosts)
            last = schedule[-1][0]
            self.steps += at_snap
            self.lookups += pre_lookups
        else:
            ex = Execution(self.world.threads, self.check_cache)
            schedule = []
            seen = 0
            last = None
            if not long and snap is None and k:
                take = max(0, min(len(parent), self.kept_new[k] - NEAR_BEFORE))
                if not (0 < take <= cut and take < self.max_steps):
                    take = -1
        lookups0 = self.lookups
        chooser = Picked()
        stalled, stall_from, stall_to = -1, 0, 0
        if mode.stall:
            stalled = rng.randrange(len(ex.threads))
            stall_from = rng.randrange(max(1, self.max_steps // 2))
            stall_to = stall_from + int(2 ** rng.uniform(0, math.log2(max(2, self.max_steps))))
        watch = None           # aba: what the stalled thread read last; False once it came back
        if mode.aba:
            stalled = rng.randrange(len(ex.threads))
            aba_after = int(2 ** rng.uniform(0, math.log2(ABA_AFTER))) if long else rng.randrange(1, ABA_AFTER)
            own = sum(1 for t, _ in schedule if t == stalled)
        while ex.steps < self.max_steps:
            if ex.steps == take:
                if not raced:
                    self._snapshot(k, ex, self.lookups - lookups0)
                take = -1
            ready = ex.runnable()
            if not ready:
                break
            if ex.steps < cut:
                tid, i = parent[ex.steps]
            else:
                pick = ready
                if stall_from <= ex.steps < stall_to and stalled in ready and len(ready) > 1:
                    pick = [t for t in ready if t != stalled]
                elif mode.aba and watch is not False and stalled in ready and len(ready) > 1:
                    if watch is None and own >= aba_after:
                        watch = self._last_read(ex, stalled)
                        if watch is None:
                            aba_after = own + 1          # no read yet: stall after its next step
                    if watch is not None:
                        loc, value, w = watch
                        newest = ex.co[loc][-1]
                        if newest != w and ex.events[newest].value == value:
                            watch = False                # the value came back: let it go on
                        else:
                            pick = [t for t in ready if t != stalled]
                tid = last if last in pick and rng.random() >= switch else pick[rng.randrange(len(pick))]
                n = len(ex.options(tid))
                i = 0 if n == 1 or rng.random() >= stale else rng.randrange(n)
            ex.schedule(ready, tid)
            chooser.index = i
            ex.step(tid, chooser)
            self.steps += 1
            schedule.append((tid, i))
            last = tid
            if mode.aba and tid == stalled:
                own += 1
            if lookup_finished(ex, seen):
                self.lookups += sum(1 for g in ex.ghosts[seen:] if isinstance(g[1], Observation))
                if self.on_race is not None and not raced:
                    # Before the invariant, as the state machine does; the run goes on.
                    r = oracle.race(ex)
                    if r is not None:
                        raced = True
                        self.on_race(r, ex)
                v = oracle.check(ex)
                if v is not None:
                    self.window_cuts += ex.window_cuts
                    return GuidedFailure(v, ex)
            seen = len(ex.ghosts)
        self.window_cuts += ex.window_cuts
        self._keep(ex, schedule)
        return None

    def restart(self) -> None:
        """Forget the kept schedules and the coverage (the counts stay): the guided
        shrinking's fresh searches under a lower step cap."""
        self.kept = [()]
        self.kept_new = [0]
        self.covered = set()
        self.snapshots = {}

    def _snapshot(self, k: int, ex: Execution, lookups: int) -> None:
        """Keep a copy of the run's state at the lowest near cut of kept schedule ``k``
        (the newest SNAPSHOTS of them): runs from that parent start there instead of
        replaying its prefix, about half the steps of C-foreign-mm-put's runs."""
        snaps = self.snapshots
        snaps.pop(k, None)
        snaps[k] = (self.kept[k], ex.steps, ex.fork(), lookups)
        if len(snaps) > SNAPSHOTS:
            del snaps[next(iter(snaps))]        # the first one taken

    def _keep(self, ex: Execution, schedule: list[Step]) -> None:
        pairs = rf_pairs_at(ex)
        new = pairs.keys() - self.covered
        if new:
            self.covered.update(new)
            self.kept.append(tuple(schedule))
            self.kept_new.append(min(pairs[p] for p in new))
