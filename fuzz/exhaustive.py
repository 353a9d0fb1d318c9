"""Bounded exhaustive check of a protocol variant on a scenario.

Breadth first over the engine's states (``models/explore.py``): the oracle is
asked at every state where a lookup has just finished, so the first violation
found is one with the fewest steps, and its decision path replays it. A
variant holds on the scenario when every state was visited and none violated.
"""

from __future__ import annotations

import attrs

from models.engine import Execution
from models.explore import ExploreStats, explore
from models.scenario import Scenario, build

from .oracle import Oracle, Violation


@attrs.define
class CheckResult:
    variant: str
    scenario: Scenario
    verdict: str                 # "holds" | "violated" | "incomplete" (state budget hit)
    stats: ExploreStats
    violation: Violation | None = None
    execution: Execution | None = None

    @property
    def shortest_steps(self) -> int | None:
        return self.execution.steps if self.execution is not None else None

    def to_json(self) -> dict:
        return {
            "variant": self.variant,
            "scenario": self.scenario.to_json(),
            "verdict": self.verdict,
            "rule": self.violation.rule if self.violation else None,
            "executions": self.stats.executions,
            "states": self.stats.states,
            "blocked": self.stats.blocked,
            "seconds": round(self.stats.seconds, 3),
            "shortest_steps": self.shortest_steps,
            "wrapped": bool(self.violation and self.violation.wrapped),
        }


class _Found(Exception):
    pass


def check_variant(variant: type, scenario: Scenario, max_states: int | None = None) -> CheckResult:
    world = build(variant, scenario)
    oracle = Oracle(world)
    stats = ExploreStats()
    found: list = []
    done = [0]

    def prune(ex: Execution) -> bool:
        # A violation can only appear where a lookup just reported.
        if ex.ghosts and ex.step_starts and ex.ghosts[-1][2] >= ex.step_starts[-1] \
                and ex.ghosts[-1][1][0] == "lookup":
            v = oracle.check(ex)
            if v is not None:
                found.append((v, ex))
                raise _Found
        # Once every reader has made all its lookups, no state below can violate:
        # the writers' remaining steps are not explored. Such a state counts as one
        # complete execution (every lookup's outcome is fixed).
        if all(ex.threads[r].done for r in world.readers):
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
        return CheckResult(variant.name, scenario, "violated", stats, v, ex)
    stats.executions += done[0]
    verdict = "incomplete" if stats.truncated else "holds"
    return CheckResult(variant.name, scenario, verdict, stats)
