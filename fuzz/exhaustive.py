"""Bounded exhaustive check of a protocol variant on a scenario.

Breadth first over the engine's states (``models/explore.py``): the oracle is
asked at every state where a lookup has just finished, so the first violation
found is one with the fewest steps, and its decision path replays it. A
variant holds on the scenario when every state was visited and none violated.

A data race (``Oracle.race``) is asked at the same states. The first one found
(also the fewest steps) is kept, and the search goes on: the explorer stops only
at an intact-VMA violation or when every state was visited. So a scenario with
both reports the violation (verdict "violated") and the race found on the way,
if any; one that only races reports the race (verdict "data race"), after
checking every state for a violation.

Identical readers are swapped (``interchangeable``): of two states that differ
only by which of two interchangeable readers did what, one is explored (symmetry
reduction, ``models/explore.py``); the verdict, the rule and the shortest trace's
length are those of the full search, ``stats.states`` counts the states up to the
swaps and the bound says so.
"""

from __future__ import annotations

import attrs

from models.engine import STALE_WINDOW, Execution
from models.events import PLAIN
from models.explore import ExploreStats, NotAlone, NotInvisible, NotProtected, explore, invisible_first
from models.protocol import Observation
from models.scenario import Scenario, ScenarioError, build

from .oracle import DATA_RACE, DataRace, Oracle, Violation


@attrs.frozen(slots=True)
class Level:
    """One scenario the deepening explored completely, and what it found."""

    scenario: Scenario
    described: str
    verdict: str
    states: int


@attrs.define
class CheckResult:
    variant: str
    scenario: Scenario
    verdict: str                 # "holds" | "violated" | "data race" | "incomplete" (state budget hit)
    stats: ExploreStats
    violation: Violation | None = None
    execution: Execution | None = None
    race: DataRace | None = None
    race_execution: Execution | None = None     # the run stopped where the race was found
    described: str = ""                         # the scenario in the family's words
    # Deepening (``check_deepening``): the smaller scenarios explored before this
    # one, and the next one, cut short by the budget (None: not tried or none).
    smaller: tuple = ()                          # of Level
    cut_short: Level | None = None
    # Symmetry reduction: the groups of interchangeable threads whose swaps were
    # explored once (``interchangeable``); () when none.
    symmetric: tuple = ()
    alone: tuple = ()        # readers explored one at a time (``readers_alone``); () when not
    # The search took invisible steps first (``invisible_first``): it decides the
    # verdict only. A violation it finds is searched for again without it
    # (``check_variant``); ``shortest_known`` False: that search ran out of states,
    # so this run violates but a shorter one may exist.
    invisible: bool = False
    shortest_known: bool = True
    # Some load read only among the newest stores of its location (the engine's stale
    # window, models/engine.py): the search covered those executions only.
    window_cut: bool = False

    def bound(self) -> str:
        """What the verdict covers, in words: the search and the scenario."""
        what = self.described or self.scenario.describe()
        up_to = "".join(([", identical readers swapped"] if self.symmetric else []) +
                        ([", readers one at a time"] if self.alone else []) +
                        ([", invisible steps first"] if self.invisible else []) +
                        ([f", loads among the {STALE_WINDOW} newest stores of a location only "
                          f"(the stale window)"] if self.window_cut else []))
        if self.verdict == "incomplete":
            return f"exhaustive search of {what} stopped after {self.stats.states} states{up_to}: no verdict"
        if self.verdict == "violated" and not self.shortest_known:
            text = (f"exhaustive on {what}: this run violates ({self.stats.states} distinct states "
                    f"explored{up_to}); the breadth-first search for a shorter one stopped first")
        elif self.verdict == "violated":
            text = (f"exhaustive, breadth first, on {what}: no shorter run of it violates "
                    f"({self.stats.states} distinct states explored{up_to})")
        else:
            text = f"exhaustive: every execution of {what} ({self.stats.states} distinct states{up_to})"
        if self.smaller:
            text += "; deepened from " + "; ".join(f"{lv.described} ({lv.verdict}, {lv.states} states)"
                                                   for lv in self.smaller)
        if self.cut_short is not None:
            text += (f"; {self.cut_short.described} not completed within the deepening budget "
                     f"({self.cut_short.states} states explored)")
        return text

    def bound_json(self) -> dict:
        return {"search": "exhaustive", "states": self.stats.states, "complete": self.verdict != "incomplete",
                "symmetric_threads": [list(g) for g in self.symmetric],
                "readers_alone": list(self.alone),
                "invisible_first": self.invisible,
                "stale_window_cut": self.window_cut,
                "shortest": self.verdict == "violated" and self.shortest_known,
                "scenario": self.scenario.to_json(), "text": self.bound(),
                "smaller": [{"scenario": lv.scenario.to_json(), "verdict": lv.verdict, "states": lv.states}
                            for lv in self.smaller],
                "cut_short": None if self.cut_short is None else
                {"scenario": self.cut_short.scenario.to_json(), "states": self.cut_short.states}}

    @property
    def shortest_steps(self) -> int | None:
        return self.execution.steps if self.execution is not None else None

    def to_json(self) -> dict:
        return {
            "variant": self.variant,
            "scenario": self.scenario.to_json(),
            "verdict": self.verdict,
            "rule": self.violation.rule if self.violation else DATA_RACE if self.race else None,
            "executions": self.stats.executions,
            "states": self.stats.states,
            "blocked": self.stats.blocked,
            "seconds": round(self.stats.seconds, 3),
            "shortest_steps": self.shortest_steps,
            "wrapped": bool(self.violation and self.violation.wrapped),
            "data_race": self.race_json(),
            "bound": self.bound_json(),
        }

    def race_json(self) -> dict | None:
        if self.race is None:
            return None
        from .report import race_accesses
        return {"steps": self.race_execution.steps,
                "accesses": race_accesses(self.race, self.race_execution),
                "more_pairs": self.race.more}


class _Found(Exception):
    pass


def _reader_roles() -> list:
    """(family base class, role of a reader thread from its arguments) for the shipped
    families whose readers are interchangeable: the same reader code, whose number
    only names it (in its observation record, which the invariant does not read) or
    picks what it looks up. Two readers with the same role run the same program; the
    invariant judges each lookup by the reader's own events and the writers' ghost
    records, whatever the reader's thread id, so it treats them alike."""
    from models.seqlock import Seqlock
    from models.vma.protocols import SpeculativeLookup
    from models.vma_lock.protocols import VmaLock
    # The third item: the family's readers only read (loads, fences, observations),
    # so they can be explored one at a time (``readers_alone``).
    return [
        # reader(rid, lookups): lookup n is of VMA (rid + n) % VMAs
        (SpeculativeLookup, lambda proto, args: (args[0] % len(proto.k.vmas),) + tuple(args[1:]), True),
        # reader(rid, reads): rid unused
        (Seqlock, lambda proto, args: tuple(args[1:]), True),
        # reader(rid, lookups): rid only in the observation records; takes the VMA's
        # read lock (an RMW of vm_refcnt), so not read-only
        (VmaLock, lambda proto, args: tuple(args[1:]), False),
    ]


def interchangeable(world) -> tuple:
    """Groups of thread ids of ``world`` that the explorer may swap (symmetry reduction).

    A family may say so itself: ``interchangeable_threads(scenario)`` on the protocol,
    returning groups of thread ids (it vouches that their programs and its invariant
    treat them alike). Otherwise only the readers of a shipped family (protocols A and
    B, the seqlock, protocol C) whose variant keeps the family's own ``reader``,
    ``threads`` and ``check`` and with the same role (``_reader_roles``); never with
    load buffering (promises are per thread)."""
    proto = world.protocol
    if any(t.promises for t in world.threads):
        return ()
    hook = getattr(proto, "interchangeable_threads", None)
    if callable(hook):
        return tuple(tuple(g) for g in hook(world.scenario) if len(g) > 1)
    groups, _ = _readers_of_family(world)
    return groups


def _readers_of_family(world) -> tuple:
    """(interchangeable groups, whether the readers only read) for a shipped family's
    readers (``_reader_roles``); ((), False) for anything else."""
    proto = world.protocol
    cls = type(proto)
    for base, role, read_only in _reader_roles():
        if not isinstance(proto, base) or any(getattr(cls, m) is not getattr(base, m)
                                              for m in ("reader", "threads", "check")):
            continue
        groups: dict = {}
        for tid in world.readers:
            body = world.threads[tid].body
            if getattr(body, "__func__", None) is not base.reader or getattr(body, "__self__", None) is not proto:
                return (), False
            groups.setdefault(role(proto, world.threads[tid].args), []).append(tid)
        return tuple(tuple(g) for g in groups.values() if len(g) > 1), read_only
    return (), False


def readers_alone(world) -> tuple:
    """The readers the explorer may run one at a time (``explore``'s ``alone``):
    those of a shipped family whose readers only read, with its own ``reader``,
    ``threads`` and ``check`` (``_reader_roles``); () otherwise, and with load
    buffering or a single reader.

    Why no verdict and no shorter trace is lost. Let the readers only read (the
    explorer checks it: a reader store voids the search, ``NotAlone``, and
    ``check_variant`` explores again in full). Then no thread ever reads a
    reader's event, so the writers do the same with or without any reader. Take a
    state of the full search and drop every event of all readers but one, R: what is
    left is consistent (LKMM's axioms forbid cycles and overlaps of relations that
    only lose edges when events go, and a reader's events are no store any read
    depends on), so it is a state the writers and R alone reach, in fewer steps or
    as many. The family's invariant judges R's lookups by R's own events and the
    writers' records (commits, provenance of stores), so R's findings are the same
    in both. So a violation of the full search is one of a search with one reader,
    at no more steps, and a state of that search is a state of the full one. A data
    race needs a plain access: the first plain access anywhere makes
    ``check_variant`` explore again in full, so a race is always judged there."""
    return tuple(world.readers) if len(world.readers) > 1 and _read_only(world) else ()


class _Plain(Exception):
    pass


class _Windowed(Exception):
    """The engine's stale window (``models/engine.py``, ``STALE_WINDOW``) left a store
    out of a load's options. Invisible steps first makes loads later than the full
    search does, when more stores may lie between them and what they read, so its
    argument needs every load to see every store: the full search decides."""


def check_variant(variant: type, scenario: Scenario, max_states: int | None = None,
                  data_races=None, symmetry: bool = True, alone: bool = True,
                  invisible: bool = True, fallback: bool = True) -> CheckResult:
    """``data_races``: the race finder (default: the model's; tests pass their own).
    ``symmetry``: swap interchangeable readers (``interchangeable``); ``alone``:
    run read-only readers one at a time (``readers_alone``); ``invisible``: decide
    first with invisible steps first (``models/explore.py``, ``invisible_first``),
    which keeps the verdict but not the shortest trace, so a violation it finds is
    searched for again without it, breadth first; when it runs out of ``max_states``
    the search without it runs (it may reach a shallow violation sooner) unless
    ``fallback`` is False (the deepening: a bigger search would run out too). All
    False explores every state."""
    world = build(variant, scenario)
    solo = readers_alone(world) if alone else ()
    quick = None
    # Not with load buffering: a store may fulfil a promise, and a promise's load
    # reads a store made later (the argument for moving steps assumes the other way).
    if invisible and not any(t.promises for t in world.threads):
        try:
            quick = _check(variant, scenario, world, max_states, data_races, symmetry, solo, first=True)
        except (NotAlone, NotInvisible, NotProtected, _Plain, _Windowed):
            pass
    if quick is not None and quick.verdict != "violated":
        # --seconds, --max-memory or Ctrl-C leave no time for another search; out of
        # states, the search without it decides (unless ``fallback`` is False)
        if quick.verdict != "incomplete" or quick.stats.stopped or not fallback:
            return quick
        quick = None
    result = _full(variant, scenario, world, max_states, data_races, symmetry, solo)
    if quick is not None and result.verdict == "incomplete":
        # A real violating run, but the search for a shorter one ran out of states.
        quick.shortest_known = False
        return quick
    return result


def _full(variant, scenario, world, max_states, data_races, symmetry, solo) -> CheckResult:
    if solo:
        try:
            return _check(variant, scenario, world, max_states, data_races, symmetry, solo)
        except (NotAlone, _Plain):
            pass
    return _check(variant, scenario, world, max_states, data_races, symmetry, ())


def _check(variant, scenario, world, max_states, data_races, symmetry, solo, first=False) -> CheckResult:
    groups = interchangeable(world) if symmetry else ()
    oracle = Oracle(world, data_races)
    stats = ExploreStats()
    found: list = []
    raced: list = []
    done = [0]
    cut = [False]       # the stale window cut some load's options (the bound says so)

    def prune(ex: Execution) -> bool:
        if ex.window_cuts:
            if first:
                raise _Windowed
            cut[0] = True
        if (solo or first) and ex.step_starts and any(PLAIN in e.tags for e in ex.events[ex.step_starts[-1]:]):
            raise _Plain      # a data race may need two readers: explore in full
        # A violation can only appear where a lookup just reported.
        # With load buffering, only once no promise is open (oracle.lookup_finished).
        if ex.settled and (ex.just_settled or ex.ghosts and ex.step_starts
                           and ex.ghosts[-1][2] >= ex.step_starts[-1]
                           and isinstance(ex.ghosts[-1][1], Observation)):
            if not raced:
                r = oracle.race(ex)
                if r is not None:
                    # ``ex`` goes on to become a successor state: keep a copy.
                    raced.append((r, ex.fork()))
            v = oracle.check(ex)
            if v is not None:
                found.append((v, ex))
                raise _Found
        # Once every reader has made all its lookups, no state below can violate:
        # the writers' remaining steps are not explored. Such a state counts as one
        # complete execution (every lookup's outcome is fixed). Readers alone: the
        # reader that took steps (the others never will).
        readers = world.readers
        if solo:
            readers = [r for r in readers if r in ex.step_tids]
        if ex.settled and readers and all(ex.threads[r].done for r in readers):
            done[0] += 1
            return True
        return False

    root = Execution(world.threads)
    try:
        for _ in explore(root, stats, max_states=max_states, prune=prune, breadth_first=True,
                         symmetry=groups, alone=solo,
                         persistent=invisible_first(_protected(world), _read_only(world)) if first else None):
            pass
    except _Found:
        v, ex = found[0]
        stats.executions += done[0]
        return CheckResult(variant.name, scenario, "violated", stats, v, ex, *_race(raced),
                           described=scenario.describe(variant), symmetric=groups,
                           alone=solo, invisible=first, window_cut=cut[0])
    stats.executions += done[0]
    verdict = DATA_RACE if raced else "incomplete" if stats.truncated else "holds"
    return CheckResult(variant.name, scenario, verdict, stats, None, None, *_race(raced),
                       described=scenario.describe(variant), symmetric=groups,
                       alone=solo, invisible=first, window_cut=cut[0])


# States the deepening may spend beyond the first scenario (``check_deepening``).
# Counted in the searches' own states: with invisible steps first, most of them are
# a lookup's loads late in a run, each dearer than an average state of the full
# search, so the budget is half what it was without it (12,000); it completes
# protocols A and B at 2 VMAs x 2 cycles x 2 readers in a few seconds.
DEEPEN_STATES = 6_000
DEEPEN_LEVELS = 6


def ladder(variant: type, base: Scenario) -> list[Scenario]:
    """Bigger scenarios after ``base``: one more of each of the family's
    ``grows`` options in turn (cycles, then VMAs, then readers, ...), within the
    scenario bounds."""
    out = []
    cur = base
    grows = [g for g in variant.grows if g in variant.scenario_options]
    for k in range(DEEPEN_LEVELS * max(1, len(grows))):
        if not grows or len(out) >= DEEPEN_LEVELS:
            break
        opt = grows[k % len(grows)]
        try:
            cur = attrs.evolve(cur, **{opt: getattr(cur, opt) + 1})
        except ScenarioError:
            continue
        out.append(cur)
    return out


def check_deepening(variant: type, base: Scenario, max_states: int | None = None,
                    deepen_states: int = DEEPEN_STATES, data_races=None,
                    reduce: bool = True) -> CheckResult:
    """``explore`` without scenario options: the variant's own scenario, then
    bigger ones (``ladder``) while the deepening budget of states lasts. Stops
    at the first violation or data race (its shortest trace, in the scenario
    where it appeared); otherwise the verdict is that of the largest scenario
    explored completely, which ``CheckResult.bound`` names with the smaller ones
    and the one cut short."""
    first = check_variant(variant, base, max_states=max_states, data_races=data_races,
                          symmetry=reduce, alone=reduce, invisible=reduce)
    if first.verdict != "holds":
        return first
    best = first
    smaller: list[Level] = []
    spent = 0
    for scenario in ladder(variant, base):
        left = deepen_states - spent
        if max_states is not None:
            left = min(left, max_states)
        if left < 1:
            break
        r = check_variant(variant, scenario, max_states=left, data_races=data_races,
                          symmetry=reduce, alone=reduce, invisible=reduce, fallback=False)
        spent += r.stats.states
        if r.verdict == "incomplete":
            best.cut_short = Level(scenario, scenario.describe(variant), "incomplete", r.stats.states)
            break
        smaller.append(Level(best.scenario, best.described, best.verdict, best.stats.states))
        r.smaller = tuple(smaller)
        best = r
        if r.verdict != "holds":
            break
    return best


def _read_only(world) -> frozenset:
    """The readers of a shipped family whose readers only read (``_reader_roles``),
    none with load buffering."""
    if any(t.promises for t in world.threads):
        return frozenset()
    _, read_only = _readers_of_family(world)
    return frozenset(world.readers) if read_only else frozenset()


def _protected(world) -> dict:
    """The family's ``protected_by()``: ``{location: lock word}``, the locations only
    a holder of the lock stores to (the family vouches; the explorer checks every
    store it makes against it)."""
    hook = getattr(world.protocol, "protected_by", None)
    return dict(hook()) if callable(hook) else {}


def _race(raced: list) -> tuple:
    return raced[0] if raced else (None, None)
