"""The Hypothesis stateful fuzzer: one ``RuleBasedStateMachine`` per variant and scenario.

Design (why it looks like this):

* **Rules are threads.** Each writer and reader thread of the scenario gets one
  rule, ``step_<thread>``, valid while that thread can step. Hypothesis's choice
  of rule is therefore the interleaving, and Hypothesis's built-in swarm testing
  over rules (it switches a random subset of rules off for a whole test case)
  becomes a scheduling bias: some runs let one thread race ahead, which is what
  the wrap-around variants need (a reader stalled across whole writer cycles).
* **Bursts.** A rule runs its thread for ``burst`` consecutive operations
  (``st.integers(1, max_burst)``, which Hypothesis draws mostly small and
  shrinks toward 1). A long stall of the other threads then costs one draw, not
  dozens of lucky coin flips. The oracle is still asked after every operation,
  so the run stops exactly at the step where a lookup went wrong.
* **Reorderings are draws.** Every rf/co choice of the engine is a
  ``st.integers(0, n - 1)`` drawn inside the rule. Index 0 is the newest store
  (the end of coherence order), so Hypothesis's shrinking toward 0 is shrinking
  toward sequential consistency: the minimal counterexample keeps only the
  stale reads the bug needs.
* **The oracle is an invariant**, ``intact_vma``; it raises ``IntactVMAViolated``.
* **A data race is recorded, not raised** (``Oracle.race``, asked where the
  oracle is): raising would end the search at the race, and Hypothesis would
  shrink it and stop, hiding an intact-VMA violation found later. So a run that
  races goes on, the shortest race seen is kept (and shrunk by
  ``minimize_race``), and a variant that only races spends its whole budget
  looking for a violation.
* The counterexample is the engine's own decision path (``Execution.path``),
  with the thread choices recorded the way ``Execution.run`` records them, so
  ``fuzz/corpus.py`` replays it with ``ReplayChooser`` and no Hypothesis.
  Of all failing runs seen (generation and shrinking) the one with the fewest
  steps is kept, ties to the fewest stale choices.
* ``target()`` (in teardown) steers toward stale reads and toward writer
  progress while a lookup is open; ``event()`` reports outcome statistics.
"""

from __future__ import annotations

import contextlib
import random
import time
import zlib
from typing import Any, Callable

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, event, seed as hyp_seed, settings, target
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition, rule,
                                 run_state_machine_as_test)

from models import limits
from models.engine import Execution, FirstChooser, Picked
from models.protocol import Observation
from models.scenario import Scenario, ScenarioError, World, build, count

from .guided import FIRST_RUNS as GUIDED_FIRST_RUNS, LONG_STEPS, RUNS_PER_EXAMPLE as GUIDED_RUNS_PER_EXAMPLE, \
    GuidedSearch
from .minimize import minimize, minimize_race
from .oracle import DataRace, Oracle, Violation, lookup_finished

# The default longest burst: long enough for a writer to run a whole cycle
# (about 15 operations per VMA) in one draw.
DEFAULT_BURST = 32
# Operations one run may take unless --steps says otherwise.
DEFAULT_MAX_STEPS = 400
# The model-aware shrinking pass stops after this long (without --seconds) with the
# shortest run found so far; the shipped variants need well under a second.
MINIMIZE_SECONDS = 60.0

# Every operation draws from at least 0..MIN_RANGE (see run_thread).
MIN_RANGE = 3

PROFILE_CI = "vmafuzz-ci"
PROFILE_DEV = "vmafuzz-dev"


def register_profiles() -> None:
    """Settings profiles. "ci": derandomized (the same examples on every CI run,
    so a red CI is reproducible) and no example database. "dev": random, with
    the example database under .hypothesis/, so a failure found once is tried
    first next time. Registering twice is harmless."""
    common = dict(deadline=None, suppress_health_check=list(HealthCheck), print_blob=False,
                  verbosity=Verbosity.quiet, report_multiple_bugs=False)
    settings.register_profile(PROFILE_CI, derandomize=True, database=None, **common)
    settings.register_profile(PROFILE_DEV, **common)


register_profiles()


class IntactVMAViolated(AssertionError):
    """The oracle found a lookup that succeeded on a VMA that was not intact."""

    def __init__(self, violation: Violation, steps: int):
        super().__init__(f"{violation.rule} at step {steps}: {violation.detail}")
        self.violation = violation
        self.steps = steps


class _GuidedFound(KeyboardInterrupt):
    """Raised from the machine factory when the coverage-guided phase found a
    failure: Hypothesis stops (a KeyboardInterrupt, as ``_BudgetSpent``), and the
    model-aware pass shrinks what the phase found."""


class _BudgetSpent(KeyboardInterrupt):
    """Raised from the machine factory when --seconds is spent. Hypothesis passes
    only KeyboardInterrupt straight through (any other exception, even a
    BaseException, is treated as a failure to shrink), so it is one; ``fuzz``
    catches it before a real Ctrl-C would be."""


@attrs.frozen(slots=True)
class Failure:
    """One failing run: the execution stopped at the violating step."""

    violation: Violation
    execution: Execution
    steps: int
    stale: int          # rf/co decisions that did not take the newest option
    world: World | None = attrs.field(default=None, eq=False)   # its scenario, when drawn

    @classmethod
    def of(cls, violation: Violation, ex: Execution, world: World | None = None) -> "Failure":
        """A run stopped at its violation; its stale choices counted from its path."""
        return cls(violation, ex, ex.steps, sum(1 for d in ex.path if d.kind != "thread" and d.index), world)

    def rank(self) -> tuple:
        return (self.steps, self.stale, sum(d.index for d in self.execution.path))


@attrs.frozen(slots=True)
class RaceFound:
    """A run with a data race: the execution stopped where it was found."""

    race: DataRace
    execution: Execution
    steps: int
    world: World | None = attrs.field(default=None, eq=False)


@attrs.define
class Recorder:
    """What one fuzz run has seen so far (one per run: no module state).
    Mutable because the machines of one run report into it."""

    started: float = attrs.field(factory=time.perf_counter)
    deadline: float | None = None
    examples: int = 0              # machines started (generation and shrinking)
    steps: int = 0                 # operations run in all examples
    first_example: int | None = None
    first_seconds: float | None = None
    failures: int = 0
    lookups: int = 0               # lookups the oracle checked, in all examples
    best: Failure | None = None
    race: RaceFound | None = None  # the shortest data race seen
    races: int = 0                 # examples that raced
    first_race_seconds: float | None = None
    guided_runs: int = 0           # runs of the coverage-guided phase (fuzz/guided.py)
    found_by: str | None = None    # "hypothesis" | "guided": who found the first failure
    first_guided: int | None = None  # coverage-guided runs up to the first failure
    window_cuts: int = 0           # option lists the stale window cut (models/engine.py)
    max_steps: int = 0             # steps an example may take
    run_steps: int = 0             # steps of the sequentially consistent run (a whole run)
    guided_steps: int = 0          # steps a coverage-guided run may take
    started_cpu: float = attrs.field(factory=time.process_time)
    first_cpu: float | None = None  # CPU seconds of this process to the first failure

    def raced(self, race: DataRace, ex: Execution, world: World | None = None) -> None:
        self.races += 1
        if self.first_race_seconds is None:
            self.first_race_seconds = time.perf_counter() - self.started
        if self.race is None or ex.steps < self.race.steps:
            # the run goes on stepping ``ex``: keep a copy of it as it is now
            self.race = RaceFound(race, ex.fork(), ex.steps, world)

    def found(self, f: Failure, by: str = "hypothesis") -> None:
        self.failures += 1
        if self.found_by is None:
            self.found_by = by
            self.first_guided = self.guided_runs
        if self.first_example is None:
            self.first_example = self.examples
            self.first_seconds = time.perf_counter() - self.started
            self.first_cpu = time.process_time() - self.started_cpu
        if self.best is None or f.rank() < self.best.rank():
            self.best = f


@attrs.frozen(slots=True)
class Sizes:
    """Scenario sizes ``run`` draws as part of each example when the user fixes
    none: every option in ``upto`` that is larger than in ``base`` is drawn
    between the two (Hypothesis shrinks it toward ``base``)."""

    base: Scenario
    upto: Scenario

    @property
    def drawn(self) -> tuple:
        return tuple(a.name for a in attrs.fields(Scenario)
                     if getattr(self.upto, a.name) != getattr(self.base, a.name))

    @classmethod
    def around(cls, variant: type, base: Scenario) -> "Sizes":
        """Two more writer cycles, one more VMA and reader (those the family
        grows), within the scenario bounds."""
        upto = base
        for opt in variant.grows:
            if opt not in variant.scenario_options:
                continue
            try:
                upto = attrs.evolve(upto, **{opt: getattr(upto, opt) + (2 if opt == "cycles" else 1)})
            except ScenarioError:
                pass
        return cls(base, upto)


def _guided_slice(guided: GuidedSearch, recorder: Recorder) -> None:
    """The coverage-guided phase's share before one example: a fixed number of
    runs (so a seeded run is the same every time), more before the second example
    than later; a failure ends the search."""
    for _ in range(GUIDED_FIRST_RUNS if recorder.examples == 1 else GUIDED_RUNS_PER_EXAMPLE):
        f = _guided_run(guided, recorder)
        if f is not None:
            recorder.found(f, by="guided")
            raise _GuidedFound()


def _guided_run(guided: GuidedSearch, recorder: Recorder) -> Failure | None:
    """One guided run, counted in the recorder; its failure, if it found one."""
    before = guided.steps, guided.lookups, guided.window_cuts
    f = guided.run()
    recorder.guided_runs += 1
    recorder.window_cuts += guided.window_cuts - before[2]
    recorder.steps += guided.steps - before[0]
    recorder.lookups += guided.lookups - before[1]
    return None if f is None else Failure.of(f.violation, f.execution, guided.world)


_SPAN_LABELS: dict[int, int] = {}


def _index_drawer(data) -> Callable[[int], int]:
    """A function drawing an option index in 0..hi from a rule's ``st.data()``: the
    same choice, in the same span, as ``data.draw(st.integers(0, hi))``, so
    Hypothesis's database entries and its shrinking see what they always saw, at
    about a third of the cost (no strategy validation, draw timing, notes or
    deprecation checks per draw: most of an example's time went there).
    Hypothesis without these internals gets the public draw."""
    cd = getattr(data, "conjecture_data", None)
    if cd is None or not all(hasattr(cd, a) for a in ("start_span", "stop_span", "draw_integer")):
        return lambda hi: data.draw(st.integers(0, hi))
    start, stop, integer = cd.start_span, cd.stop_span, cd.draw_integer

    def draw(hi: int) -> int:
        label = _SPAN_LABELS.get(hi)
        if label is None:
            from hypothesis.strategies._internal.lazy import unwrap_strategies
            label = _SPAN_LABELS[hi] = unwrap_strategies(st.integers(0, hi)).label
        start(label)
        try:
            return integer(0, hi)
        finally:
            stop()
    return draw


class _World:
    """A built scenario with what every example on it shares (one per scenario)."""

    def __init__(self, world: World, data_races):
        self.world = world
        self.oracle = Oracle(world, data_races)
        self.check_cache: dict = {}     # memory verdicts, shared by every example
        self.writers = frozenset(world.writers)
        self.readers = frozenset(world.readers)


def machine_for(world: World, recorder: Recorder, max_steps: int = DEFAULT_MAX_STEPS,
                max_burst: int = DEFAULT_BURST, data_races=None,
                sizes: Sizes | None = None,
                guided: GuidedSearch | None = None) -> type[RuleBasedStateMachine]:
    """A state machine class for one built scenario. Every example builds a fresh
    ``Execution`` of ``world.threads``. With ``sizes``, each example first draws
    its scenario (``world`` is then the largest, ``sizes.upto``). With ``guided``,
    the coverage-guided phase takes its runs before each example
    (until a failure is found)."""
    built: dict = {}

    def world_for(sc: Scenario) -> _World:
        if sc not in built:
            built[sc] = _World(world if sc == world.scenario else build(world.variant, sc), data_races)
        return built[sc]

    fixed = world_for(world.scenario) if sizes is None else None
    names = [spec.name for spec in world.threads]

    class VMAFuzz(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            if recorder.deadline is not None and recorder.best is None \
                    and time.perf_counter() > recorder.deadline:
                raise _BudgetSpent()
            # Between examples: the first (a failure the example database saved, or
            # Hypothesis's simplest) runs before any guided run.
            if guided is not None and recorder.best is None and recorder.examples:
                _guided_slice(guided, recorder)
            recorder.examples += 1
            self.w = None
            self.ex = None
            self.violation = None
            if fixed is not None:
                self.begin(fixed)

        def begin(self, w: _World) -> None:
            self.w = w
            self.ex = Execution(w.world.threads, w.check_cache)
            readers = w.readers
            self.seen_ghosts = 0
            self.violation: Violation | None = None
            self.raced = False
            self.stale = 0
            self.open_lookup = {tid: False for tid in readers}
            self.writer_steps_in_lookup = 0

        def can_step(self, tid: int) -> bool:
            return self.ex is not None and self.violation is None and self.ex.steps < max_steps \
                and tid < len(self.ex.threads) and tid in self.ex.runnable()

        def run_thread(self, tid: int, burst: int, data) -> None:
            ex = self.ex
            w = self.w
            oracle, writers, readers = w.oracle, w.writers, w.readers
            draw = _index_drawer(data)
            for _ in range(burst):
                ready = ex.runnable()
                if tid not in ready or ex.steps >= max_steps:
                    break
                # One draw per operation, even when there is only one option
                # (a trivial draw): every operation then owns exactly one
                # choice, so when shrinking removes a writer step the reader's
                # later draws stay aligned with the reads they were made for.
                # Index 0 is the newest store: shrinking moves toward SC.
                # The draw's range does not shrink below 0..MIN_RANGE and the
                # value is clamped to the oldest allowed option: "2 stores
                # back" stays "as stale as allowed" when shrinking removes a
                # writer store, instead of turning into an invalid choice that
                # Hypothesis would replace with 0 (the newest).
                n = len(ex.options(tid))
                i = min(draw(max(n - 1, MIN_RANGE)), n - 1)
                if i:
                    self.stale += 1
                ex.schedule(ready, tid)
                ex.step(tid, Picked(i))
                recorder.steps += 1
                if tid in writers and any(self.open_lookup.values()):
                    self.writer_steps_in_lookup += 1
                if tid in readers:
                    self.open_lookup[tid] = True
                if lookup_finished(ex, self.seen_ghosts):
                    for g in ex.ghosts[self.seen_ghosts:]:
                        if isinstance(g[1], Observation):
                            recorder.lookups += 1
                            self.open_lookup[g[0]] = False
                            event(f"lookup outcome: {g[1].outcome}")
                    self.seen_ghosts = len(ex.ghosts)
                    if not self.raced:
                        # Before the invariant: a run that breaks it may race too.
                        r = oracle.race(ex)
                        if r is not None:
                            self.raced = True
                            recorder.raced(r, ex, w.world)
                    v = oracle.check(ex)
                    if v is not None:
                        self.violation = v
                        recorder.found(Failure(v, ex, ex.steps, self.stale, w.world))
                        return
                self.seen_ghosts = len(ex.ghosts)

        @precondition(lambda self: self.ex is not None and (
            self.violation is not None or self.ex.steps >= max_steps or not self.ex.runnable()))
        @rule()
        def idle(self):
            """Nothing can step (finished, blocked or out of steps): a no-op, so
            that Hypothesis always has a valid rule."""

        @invariant()
        def intact_vma(self):
            if self.violation is not None:
                raise IntactVMAViolated(self.violation, self.ex.steps)

        def teardown(self):
            if self.ex is None:
                return
            recorder.window_cuts += self.ex.window_cuts
            target(float(self.stale), label="stale reads")
            target(float(self.writer_steps_in_lookup), label="writer steps while a lookup is open")
            if self.raced:
                event("run: data race")
            event("run: violated" if self.violation is not None else
                  "run: finished" if self.ex.finished else
                  "run: step budget" if self.ex.steps >= max_steps else "run: blocked")

    # Powers of two up to the longest burst: a long burst (a writer racing through
    # whole cycles while a reader is stalled) is as likely as a short one.
    bursts = sorted({min(1 << k, max_burst) for k in range(max_burst.bit_length() + 1)})

    def make_rule(tid: int):
        @precondition(lambda self: self.can_step(tid))
        @rule(burst=st.sampled_from(bursts), data=st.data())
        def step(self, burst, data):
            self.run_thread(tid, burst, data)
        step.__name__ = step.__qualname__ = f"step_{names[tid]}"
        return step

    for tid in range(len(world.threads)):
        setattr(VMAFuzz, f"step_{names[tid]}", make_rule(tid))
    if sizes is not None:
        lo, hi = sizes.base, sizes.upto

        @initialize(data=st.data())
        def scenario_size(self, data):
            """The example's scenario: each drawn option between its base and upto."""
            sc = lo
            for opt in sizes.drawn:
                sc = attrs.evolve(sc, **{opt: data.draw(st.integers(getattr(lo, opt), getattr(hi, opt)),
                                                        label=opt)})
            self.begin(world_for(sc))
        VMAFuzz.scenario_size = scenario_size
    VMAFuzz.__name__ = VMAFuzz.__qualname__ = f"VMAFuzz_{world.variant.name}".replace("-", "_")
    return VMAFuzz


@attrs.frozen(slots=True)
class FuzzResult:
    variant: str
    scenario: Scenario
    verdict: str                    # "holds" | "violated" | "inconclusive" (no lookup ever finished)
    failure: Failure | None
    examples: int                   # test cases run (generation and shrinking)
    examples_to_first: int | None   # test cases up to and including the first failure
    seconds: float
    seconds_to_first: float | None
    steps: int                      # operations run over all examples
    interrupted: bool = False
    budget_spent: bool = False      # stopped by --seconds rather than --max-examples
    lookups: int = 0                # lookups the oracle checked over all examples
    race: RaceFound | None = None   # the shortest data race seen (shrunk)
    races: int = 0                  # examples that raced
    seconds_to_first_race: float | None = None
    sizes: Sizes | None = None      # the scenarios drawn from, when the user fixed none
    guided_runs: int = 0            # runs of the coverage-guided phase (fuzz/guided.py)
    found_by: str | None = None     # "hypothesis" | "guided": what found the first failure
    guided_to_first: int | None = None  # coverage-guided runs up to the first failure
    window_cuts: int = 0            # option lists the stale window cut (long runs only)
    max_steps: int = 0              # steps an example may take
    run_steps: int = 0              # steps of a whole (sequentially consistent) run
    guided_steps: int = 0           # steps a coverage-guided run may take
    cpu_to_first: float | None = None  # CPU seconds (this process) to the first failure

    def limits_text(self) -> str:
        """The bounds of a long scenario's runs, when they bit ("" when not)."""
        parts = []
        if self.run_steps and self.max_steps < self.run_steps:
            guided = (f", the coverage-guided runs up to {self.guided_steps}"
                      if self.guided_runs and self.guided_steps > self.max_steps else "")
            parts.append(f"Hypothesis's examples cut at {self.max_steps} steps of a "
                         f"{self.run_steps}-step run{guided}")
        if self.window_cuts:
            from models.engine import STALE_WINDOW
            parts.append(f"loads read at most {STALE_WINDOW} stores back "
                         f"({count(self.window_cuts, 'option list')} cut)")
        return "".join(f"; {p}" for p in parts)

    @property
    def shrunk_steps(self) -> int | None:
        return self.failure.steps if self.failure is not None else None

    def bound(self, variant: type | None = None) -> str:
        """What a verdict covers, in words: the search and the scenario(s)."""
        if self.sizes is not None:
            drawn = ", ".join(self.sizes.drawn)
            where = (f"scenarios drawn ({drawn}) from {self.sizes.base.describe(variant)} "
                     f"up to {self.sizes.upto.describe(variant)}")
        else:
            where = f"scenario {self.scenario.describe(variant)}"
        runs = f" and {count(self.guided_runs, 'coverage-guided run')}" if self.guided_runs else ""
        return (f"fuzzed: {count(self.examples, 'example')}{runs}, {count(self.lookups, 'lookup')} checked, "
                f"{where}{self.limits_text()}")

    def bound_json(self, variant: type | None = None) -> dict:
        return {"search": "fuzzed", "examples": self.examples, "guided_runs": self.guided_runs,
                "lookups": self.lookups, "max_steps": self.max_steps, "run_steps": self.run_steps,
                "guided_steps": self.guided_steps, "window_cuts": self.window_cuts,
                "scenario": (self.sizes.base if self.sizes else self.scenario).to_json(),
                "upto": self.sizes.upto.to_json() if self.sizes else None,
                "drawn": list(self.sizes.drawn) if self.sizes else [],
                "text": self.bound(variant)}


def sc_run(world: World) -> Execution:
    """One sequentially consistent run (every choice 0) to its end, judged by
    the invariant at the end: a protocol step or invariant that raises, or a
    protocol that breaks the API's rules, fails here, before any search."""
    ex = Execution(world.threads)
    ex.run(FirstChooser())
    if ex.settled:
        Oracle(world, lambda g: ()).check(ex)
    world.protocol.lint(ex)
    return ex


def sc_length(world: World) -> int:
    """Operations of one sequentially consistent run (every choice 0)."""
    return sc_run(world).steps


def fuzz(variant: type, scenario: Scenario, *, max_examples: int = 2000,
         seconds: float | None = None, seed: int | None = None, max_steps: int | None = None,
         max_burst: int = DEFAULT_BURST, profile: str = PROFILE_DEV,
         database: str | ExampleDatabase | None = None, recorder: Recorder | None = None,
         shrink: bool = True, data_races=None, sizes: Sizes | None = None,
         guided: bool = True) -> FuzzResult:
    """Fuzz one variant on one scenario until a violation (then shrink) or the
    budget (``max_examples`` test cases, or ``seconds``) is spent.

    ``database``: a directory for Hypothesis's example database, or a database
    itself (a shared one: ``campaign --database``); None: none.
    ``shrink=False`` stops at the first failure (CI checks only ask "caught?").
    KeyboardInterrupt is not swallowed: the caller reads ``recorder`` for what
    was found (see run_cmd). ``data_races``: the race finder (default: the
    model's; tests pass their own). ``sizes``: draw each example's scenario
    between ``sizes.base`` and ``sizes.upto`` (``scenario`` is then the base).
    ``guided``: run the coverage-guided phase (fuzz/guided.py) between examples."""
    # --seconds is also checked inside every step (models/limits.py): an example on a
    # big scenario can outlast the whole budget (issue 11); a little grace first, so
    # a run that spends its budget normally stops between examples.
    hard = None if seconds is None else seconds + limits.GRACE
    recorder = recorder if recorder is not None else Recorder()
    with limits.budget(hard, f"--seconds {seconds or 0:g} spent"), limits.working(lambda: _progress(recorder)):
        return _fuzz(variant, scenario, max_examples=max_examples, seconds=seconds, seed=seed,
                     max_steps=max_steps, max_burst=max_burst, profile=profile, database=database,
                     recorder=recorder, shrink=shrink, data_races=data_races, sizes=sizes,
                     guided=guided)


@contextlib.contextmanager
def _no_local_constants():
    """Hypothesis sometimes draws a constant found in the source of any local module
    loaded so far (``providers._get_local_constants``): then which modules a process
    happened to import (a test suite's other tests, models.litmus) changes a
    derandomized run's examples. Our draws are indices and sizes, for which no
    module's constants mean anything: the pool is empty while we run, so a seeded or
    CI run is the same in every process."""
    try:
        from hypothesis.internal.conjecture import providers
        get = providers._get_local_constants
        empty = type(providers._local_constants)()
    except (ImportError, AttributeError, TypeError):     # another Hypothesis: nothing to do
        yield
        return
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = get


def _progress(rec: Recorder | None) -> str:
    if rec is None:
        return "fuzzing"
    return f"{count(rec.examples, 'example')}, {count(rec.steps, 'step')}"


def _fuzz(variant: type, scenario: Scenario, *, max_examples, seconds, seed, max_steps, max_burst, profile,
          database, recorder, shrink, data_races, sizes, guided) -> FuzzResult:
    world = build(variant, scenario if sizes is None else sizes.upto)
    sc_steps = sc_length(world)
    guided_steps = max_steps
    if max_steps is None:
        # Weak runs can take a few more steps than the SC run (a lookup that
        # reads a stale value goes down another branch); leave room.
        max_steps = min(DEFAULT_MAX_STEPS, 2 * sc_steps + 20)
        # The guided runs are no Hypothesis examples (no draws to overrun): a long
        # scenario's whole run (1,024 writer cycles: about 20,000 steps).
        guided_steps = 2 * sc_steps + 20
    # Rule calls per example. Every call but ``idle`` runs at least one
    # operation, and once the threads are done Hypothesis keeps calling
    # ``idle`` up to this count, so keep it near the length of a whole run.
    rule_calls = min(max_steps, sc_steps + 10)
    rec = recorder if recorder is not None else Recorder()
    rec.started = time.perf_counter()
    rec.started_cpu = time.process_time()
    rec.deadline = rec.started + seconds if seconds is not None else None
    rec.max_steps, rec.run_steps, rec.guided_steps = max_steps, sc_steps, guided_steps if guided else 0
    search = None
    if guided:
        # On the smallest scenario drawn from: what it finds needs no scenario shrinking.
        gworld = world if sizes is None else build(variant, sizes.base)
        goracle = Oracle(gworld, data_races)
        search = GuidedSearch(gworld, goracle, guided_steps, random.Random(_guided_seed(variant, seed, profile)),
                              on_race=(lambda r, ex: rec.raced(r, ex, gworld)) if goracle.races_modelled else None)
    cls = machine_for(world, rec, max_steps=max_steps, max_burst=max_burst, data_races=data_races,
                      sizes=sizes, guided=search)

    def factory(chunk_seed: int | None):
        def make():
            return cls()
        return make if chunk_seed is None else hyp_seed(chunk_seed)(make)

    db = database if isinstance(database, ExampleDatabase) else \
        DirectoryBasedExampleDatabase(database) if database else None
    interrupted = spent = cut = False
    try:
        # Hypothesis keeps a tree of every choice it tried, for the whole run: a long
        # run is cut into runs of CHUNK_EXAMPLES, each with a fresh tree, so memory
        # stays bounded (issue 14). The first chunk is the run as it always was.
        left = max_examples
        chunk = 0
        while left > 0:
            n = min(left, CHUNK_EXAMPLES)
            run_settings = settings(settings.get_profile(profile), max_examples=n,
                                    stateful_step_count=rule_calls, database=db,
                                    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target)
                                    # drawn scenarios: shrunk below, on the smallest failing scenario
                                    + ((Phase.shrink,) if shrink and sizes is None else ()))
            with _no_local_constants():
                run_state_machine_as_test(factory(_chunk_seed(variant, seed, profile, chunk)),
                                          settings=run_settings)
            left -= n
            chunk += 1
    except (IntactVMAViolated, _GuidedFound):
        pass
    except _BudgetSpent:
        spent = True
    except limits.OutOfTime:
        # --seconds (and its grace) ran out inside an example: what the examples
        # checked stands; nothing more runs (no shrinking).
        spent = cut = True
    except HypothesisException:
        # e.g. Unsatisfiable when every example was invalid; with a failure in
        # hand the recorder still has it, otherwise it is a real error.
        if rec.best is None:
            raise
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        # read by the caller even when interrupted
        rec.deadline = None
    best = rec.best
    minimized = False
    if cut:
        shrink = False
    if best is not None and shrink and search is not None and rec.found_by == "guided" \
            and best.world is search.world:
        # Found by the guided runs, on the smallest scenario (sizes.base when drawn):
        # shrunk by their own search, which keeps the schedules it has kept.
        end = rec.started + seconds if seconds is not None else time.perf_counter() + MINIMIZE_SECONDS
        best = rec.best = _guided_shrink(search, best, rec, max(end, time.perf_counter() + 1.0))
        minimized = True
    elif best is not None and shrink and sizes is not None:
        # The smallest scenario that still fails, then the usual shrinking on it.
        best = _smaller_scenario(variant, sizes, best, rec, seconds=seconds, seed=seed, guided=guided,
                                 max_burst=max_burst, profile=profile, data_races=data_races)
        left = None if seconds is None else max(1.0, rec.started + seconds - time.perf_counter())
        r = fuzz(variant, best.world.scenario, max_examples=max_examples, seconds=left, seed=seed,
                 max_burst=max_burst, profile=profile, data_races=data_races, recorder=Recorder(),
                 guided=guided)
        rec.examples += r.examples
        rec.guided_runs += r.guided_runs
        rec.steps += r.steps
        rec.lookups += r.lookups
        if r.failure is not None and r.failure.steps <= best.steps:
            best = attrs.evolve(r.failure, world=r.failure.world or best.world)
            minimized = True
        rec.best = best
    if best is not None and shrink and not minimized:
        # The model-aware pass counts against --seconds like Hypothesis's own
        # shrinking; without --seconds it has MINIMIZE_SECONDS.
        end = rec.started + seconds if seconds is not None else time.perf_counter() + MINIMIZE_SECONDS
        best = _minimized(best.world or world, best, max(end, time.perf_counter() + 1.0))
        rec.best = best
    if rec.race is not None and shrink:
        rw = rec.race.world or world
        got, ex = minimize_race(rw, rec.race.race, rec.race.execution, Oracle(rw, data_races))
        rec.race = RaceFound(got, ex, ex.steps, rw)
    elapsed = time.perf_counter() - rec.started
    found = best.world if best is not None else rec.race.world if rec.race is not None else None
    return FuzzResult(variant.name, found.scenario if found is not None else scenario,
                      _verdict(best, rec), best,
                      rec.examples, rec.first_example, elapsed, rec.first_seconds, rec.steps,
                      interrupted, spent, rec.lookups, rec.race, rec.races, rec.first_race_seconds,
                      sizes=sizes, guided_runs=rec.guided_runs, found_by=rec.found_by,
                      guided_to_first=rec.first_guided, window_cuts=rec.window_cuts,
                      max_steps=rec.max_steps, run_steps=rec.run_steps, guided_steps=rec.guided_steps,
                      cpu_to_first=rec.first_cpu)


# Each smaller scenario the scenario-shrinking pass tries gets this long (or what
# is left of --seconds, at least a tenth of it).
SMALLER_SECONDS = 5.0


def _smaller_scenario(variant: type, sizes: Sizes, best: Failure, rec: Recorder, *, seconds, seed, guided,
                      max_burst, profile, data_races) -> Failure:
    """Shrink a drawn scenario: a failure found on a bigger scenario than
    ``sizes.base`` is looked for again, with a short fixed-scenario run, on each
    scenario one size smaller (one option at a time); the smallest that still
    fails is kept. Hypothesis shrinks the draws too, but rarely across a change
    of scenario, which renumbers every later choice."""
    sc = best.world.scenario
    while True:
        for opt in sizes.drawn:
            if getattr(sc, opt) <= getattr(sizes.base, opt):
                continue
            smaller = attrs.evolve(sc, **{opt: getattr(sc, opt) - 1})
            budget = SMALLER_SECONDS
            if seconds is not None:
                budget = max(seconds / 10, min(budget, rec.started + seconds - time.perf_counter()))
            sub = Recorder()
            r = fuzz(variant, smaller, max_examples=1000, seconds=budget, seed=seed, max_burst=max_burst,
                     profile=profile, shrink=False, data_races=data_races, recorder=sub, guided=guided)
            rec.examples += r.examples
            rec.steps += r.steps
            rec.lookups += r.lookups
            rec.guided_runs += r.guided_runs
            if r.failure is not None:
                f = r.failure
                best = Failure(f.violation, f.execution, f.steps, f.stale, f.world or build(variant, smaller))
                sc = smaller
                break
        else:
            return best


# Examples per Hypothesis run within one fuzz run (see _fuzz). Hypothesis keeps
# about 40 KB per example it counts (its tree of tried choices and its cache of
# results), and counts about 1.6 per example asked for: 1,000 holds that to about
# 60 MB (5,000 let B's run reach 330 MB; bench/memory.py).
CHUNK_EXAMPLES = 1_000


def _chunk_seed(variant: type, seed: int | None, profile: str, chunk: int) -> int | None:
    """Hypothesis's seed for the ``chunk``-th run of a long fuzz run: the first is
    ``--seed`` (or none); later ones are derived from it, so a seeded run is the same
    every time and each chunk draws new examples (a derandomized profile would
    otherwise repeat the first chunk's)."""
    if chunk == 0:
        return seed
    base = seed if seed is not None else _guided_seed(variant, None, profile)
    return (base * 1_000_003 + chunk) % (1 << 64)


def _guided_seed(variant: type, seed: int | None, profile: str) -> int:
    """The coverage-guided phase's generator seed: ``--seed``; in the derandomized
    CI profile, one derived from the variant's name (the same on every CI run);
    otherwise a fresh one, as Hypothesis's own."""
    if seed is not None:
        return seed
    if settings.get_profile(profile).derandomize:
        return zlib.crc32(variant.name.encode())
    return random.SystemRandom().getrandbits(64)


def _verdict(best: Failure | None, rec: Recorder) -> str:
    # "holds" claims the invariant was checked: with --steps too small for any
    # lookup to finish, nothing was. An intact-VMA violation is the verdict even
    # when the runs raced too (the race is reported with it).
    return "violated" if best else "data race" if rec.race else "holds" if rec.lookups else "inconclusive"


# After its first failure the coverage-guided phase goes on for as many runs again
# (at least this many), looking only for shorter failures.
GUIDED_SHRINK_RUNS = 6000
# 15: the guided runs reach C-foreign-mm-put's first failure in about a quarter of the
# runs they took before issue 14's changes (363 against 1,745, median), and with 5 times
# those its shrinking reached the explorer's 43 steps in 16 of 20 seeds (19 of 20
# before); 15 times gives it about the runs it had. More runs never shrink less: the
# first ones are the same runs.
GUIDED_SHRINK_FACTOR = 15
# The guided shrinking starts a fresh search (no kept schedule, no coverage) every this
# many runs, the first at its start. C-foreign-mm-put, seeds 0-19: 15/20 shrunk to the
# explorer's 43 steps with the finding search's coverage kept (at least 2,000 runs); of
# the other 5, 4 with one fresh search, all 5 with a restart every 1,500 runs and at
# least 6,000 runs (17/20 with a restart every 500: a fresh search needs 500 to 1,500
# runs to reach the 43-step route; docs/benchmarks.md).
GUIDED_SHRINK_RESTART = 1500


# On a long scenario (runs of guided.LONG_STEPS steps or more) the shrinking runs are
# counted in steps instead, at most this many (about 10 s of CPU at 4,900-step runs of
# A-narrow-seq): 15 times the runs to a wrap-around found in its 1st to 50th run would be
# minutes to hours, and a shorter route is rarely there (the wrap needs its cycles).
LONG_SHRINK_STEPS = 250_000


def _guided_shrink(search: GuidedSearch, best: Failure, rec: Recorder, deadline: float) -> Failure:
    """Shrink a failure the coverage-guided phase found: the model-aware pass, then
    more runs of the phase capped one step below the best so far (every shorter
    failure is shrunk by the pass in turn). The phase found its failure in some
    route through the protocol (the reader's lookup racing the writer's unmap, or
    its detach); a shorter route is another failure, not a shrinking of this one,
    which only a new search finds. Runs are counted, not timed, so a seeded run
    shrinks the same way every time; ``deadline`` stops it early."""
    world = search.world
    best = _minimized(world, best, deadline)
    runs = max(GUIDED_SHRINK_RUNS, GUIDED_SHRINK_FACTOR * search.runs)
    steps_cap = LONG_SHRINK_STEPS if search.max_steps >= LONG_STEPS else None
    start = search.steps
    search.biased = False       # a shorter route, not the next link of a chain
    for i in range(runs):
        if best.steps <= 1 or time.perf_counter() > deadline:
            break
        if steps_cap is not None and search.steps - start >= steps_cap:
            break
        if i % GUIDED_SHRINK_RESTART == 0:
            # A fresh search under the cap: the first search's coverage was reached by
            # longer runs (a pair it holds blocks the short run that reaches it again
            # from being kept), and a restart tries other chains.
            search.restart()
        search.max_steps = best.steps - 1
        f = _guided_run(search, rec)
        if f is not None:
            found = _minimized(world, f, deadline)
            if found.steps < best.steps:
                best = found
    return best


def _minimized(world: World, best: Failure, deadline: float) -> Failure:
    """Hypothesis's shrinking, then the model-aware pass of fuzz/minimize.py."""
    v, ex = minimize(world, best.violation, best.execution, deadline=deadline)
    if ex.steps >= best.steps:
        return best
    return Failure.of(v, ex, world)


def result_from_recorder(variant: type, scenario: Scenario, rec: Recorder,
                         sizes: Sizes | None = None) -> FuzzResult:
    """What an interrupted run had found (Ctrl-C)."""
    limits.interrupt_handled()      # saving it replays traces: no more Ctrl-C from check()
    best = rec.best
    if best is not None and best.world is not None:
        scenario = best.world.scenario
    return FuzzResult(variant.name, scenario, _verdict(best, rec), best,
                      rec.examples, rec.first_example, time.perf_counter() - rec.started,
                      rec.first_seconds, rec.steps, interrupted=True, lookups=rec.lookups,
                      race=rec.race, races=rec.races, seconds_to_first_race=rec.first_race_seconds,
                      sizes=sizes, guided_runs=rec.guided_runs, found_by=rec.found_by,
                      guided_to_first=rec.first_guided, window_cuts=rec.window_cuts,
                      max_steps=rec.max_steps, run_steps=rec.run_steps, guided_steps=rec.guided_steps)


def database_dir(variant: type, scenario: Scenario) -> str:
    """Per machine example-database directory: a saved failure is replayed only
    against the variant and scenario that produced it."""
    import hashlib
    import json
    key = json.dumps({"variant": variant.name, "scenario": scenario.to_json()}, sort_keys=True)
    return f".hypothesis/vmafuzz/{hashlib.sha256(key.encode()).hexdigest()[:16]}"


__all__: list[Any] = ["IntactVMAViolated", "Failure", "FuzzResult", "RaceFound", "Recorder", "fuzz",
                      "machine_for", "PROFILE_CI", "PROFILE_DEV", "database_dir"]
