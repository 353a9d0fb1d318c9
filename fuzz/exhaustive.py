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
"""

from __future__ import annotations

import attrs

from models.engine import Execution
from models.explore import ExploreStats, explore
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

    def bound(self) -> str:
        """What the verdict covers, in words: the search and the scenario."""
        what = self.described or self.scenario.describe()
        if self.verdict == "incomplete":
            return f"exhaustive search of {what} stopped after {self.stats.states} states: no verdict"
        if self.verdict == "violated":
            text = (f"exhaustive, breadth first, on {what}: no shorter run of it violates "
                    f"({self.stats.states} distinct states explored)")
        else:
            text = f"exhaustive: every execution of {what} ({self.stats.states} distinct states)"
        if self.smaller:
            text += "; deepened from " + "; ".join(f"{lv.described} ({lv.verdict}, {lv.states} states)"
                                                   for lv in self.smaller)
        if self.cut_short is not None:
            text += (f"; {self.cut_short.described} not completed within the deepening budget "
                     f"({self.cut_short.states} states explored)")
        return text

    def bound_json(self) -> dict:
        return {"search": "exhaustive", "states": self.stats.states, "complete": self.verdict != "incomplete",
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


def check_variant(variant: type, scenario: Scenario, max_states: int | None = None,
                  data_races=None) -> CheckResult:
    """``data_races``: the race finder (default: the model's; tests pass their own)."""
    world = build(variant, scenario)
    oracle = Oracle(world, data_races)
    stats = ExploreStats()
    found: list = []
    raced: list = []
    done = [0]

    def prune(ex: Execution) -> bool:
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
        # complete execution (every lookup's outcome is fixed).
        if ex.settled and all(ex.threads[r].done for r in world.readers):
            done[0] += 1
            return True
        return False

    root = Execution(world.threads)
    try:
        for _ in explore(root, stats, max_states=max_states, prune=prune, breadth_first=True):
            pass
    except _Found:
        v, ex = found[0]
        stats.executions += done[0]
        return CheckResult(variant.name, scenario, "violated", stats, v, ex, *_race(raced),
                           described=scenario.describe(variant))
    stats.executions += done[0]
    verdict = DATA_RACE if raced else "incomplete" if stats.truncated else "holds"
    return CheckResult(variant.name, scenario, verdict, stats, None, None, *_race(raced),
                       described=scenario.describe(variant))


# States the deepening may spend beyond the first scenario (``check_deepening``):
# the next scenario is about six times the last, so this completes the shipped
# one-cycle variants at two cycles in a few seconds.
DEEPEN_STATES = 12_000
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
                    deepen_states: int = DEEPEN_STATES, data_races=None) -> CheckResult:
    """``explore`` without scenario options: the variant's own scenario, then
    bigger ones (``ladder``) while the deepening budget of states lasts. Stops
    at the first violation or data race (its shortest trace, in the scenario
    where it appeared); otherwise the verdict is that of the largest scenario
    explored completely, which ``CheckResult.bound`` names with the smaller ones
    and the one cut short."""
    first = check_variant(variant, base, max_states=max_states, data_races=data_races)
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
        r = check_variant(variant, scenario, max_states=left, data_races=data_races)
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


def _race(raced: list) -> tuple:
    return raced[0] if raced else (None, None)
