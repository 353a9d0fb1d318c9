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
from models.scenario import Scenario, build

from .oracle import DATA_RACE, DataRace, Oracle, Violation


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
        return CheckResult(variant.name, scenario, "violated", stats, v, ex, *_race(raced))
    stats.executions += done[0]
    verdict = DATA_RACE if raced else "incomplete" if stats.truncated else "holds"
    return CheckResult(variant.name, scenario, verdict, stats, None, None, *_race(raced))


def _race(raced: list) -> tuple:
    return raced[0] if raced else (None, None)
