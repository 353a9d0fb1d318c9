"""The fuzzer against naive random testing (issue 14): time to the first failure.

For every shipped variant whose expected verdict is "violated", at its default
scenario, and for each seed, in one run:

* **vmafuzz**: ``fuzz.machine.fuzz`` with ``shrink=False`` (it stops at the first
  failure), that seed, no example database, the default profile and step budget;
* **random**: the same engine with no Hypothesis: each run starts from the
  initial state, picks a runnable thread uniformly at random and, for its
  operation, an option uniformly at random (``RandomChooser``), and asks the
  oracle (``fuzz.oracle.Oracle``) at every judgement point the fuzzer uses
  (``lookup_finished``); runs follow each other, sharing one check cache as the
  fuzzer's examples do, with the fuzzer's step budget (twice an SC run plus 20).
  Its random generator is seeded with the same seed.

Both are timed in CPU seconds of this process (``time.process_time``) from the
call, so building the scenario is included in both, and the machine's other jobs
change little. A seed that finds nothing within ``--seconds`` counts as not found
(its time is left out of the median). Prints per variant: found, median seconds,
the ratio of the medians (vmafuzz / random: below 1, vmafuzz is faster), and
median runs (examples) to the first failure.

    python bench/versus_random.py [--seeds 5] [--seconds 10] [VARIANT...]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.machine import DEFAULT_MAX_STEPS, PROFILE_DEV, fuzz, sc_length  # noqa: E402
from fuzz.oracle import Oracle, lookup_finished  # noqa: E402
from models.engine import Execution, RandomChooser  # noqa: E402
from models.scenario import Scenario, build  # noqa: E402
from models.variants import SHIPPED  # noqa: E402


def random_testing(variant, scenario: Scenario, seed: int, budget: float) -> tuple[float | None, int]:
    """CPU seconds to the first violation (None: none within ``budget``), and runs made."""
    seconds, runs, _ = random_runs(variant, scenario, seed, budget)
    return seconds, runs


def random_runs(variant, scenario: Scenario, seed: int, budget: float,
                stop: bool = True) -> tuple[float | None, int, int]:
    """Naive random testing for ``budget`` CPU seconds: CPU seconds to the first
    violation (None: none, or ``stop`` False), runs made and operations run.
    ``stop=False`` goes on past violations (bench/fuzz.py's steps per second)."""
    c0 = time.process_time()
    world = build(variant, scenario)
    oracle = Oracle(world)
    max_steps = min(DEFAULT_MAX_STEPS, 2 * sc_length(world) + 20)
    rng = random.Random(seed)
    chooser = RandomChooser(rng)
    cache: dict = {}
    runs = steps = 0
    while time.process_time() - c0 < budget:
        runs += 1
        ex = Execution(world.threads, cache)
        seen = 0
        while ex.steps < max_steps:
            ready = ex.runnable()
            if not ready:
                break
            tid = ready[rng.randrange(len(ready))]
            ex.schedule(ready, tid)
            ex.step(tid, chooser)
            steps += 1
            if lookup_finished(ex, seen):
                if oracle.check(ex) is not None and stop:
                    return time.process_time() - c0, runs, steps
            seen = len(ex.ghosts)
    return None, runs, steps


def vmafuzz(variant, scenario: Scenario, seed: int, budget: float) -> tuple[float | None, int]:
    c0 = time.process_time()
    r = fuzz(variant, scenario, max_examples=1_000_000, seconds=budget, seed=seed, shrink=False,
             profile=PROFILE_DEV, database=None)
    cpu = time.process_time() - c0
    if r.failure is None:
        return None, r.examples
    return cpu, r.examples_to_first


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0, help="budget per seed and tool")
    args = ap.parse_args(argv)
    chosen = [v for v in SHIPPED if v.expected == "violated" and (not args.variants or v.name in args.variants)]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.seeds} seeds, {args.seconds:g} s CPU budget each")
    print(f"{'variant':<22} {'fuzz found':>10} {'fuzz med s':>10} {'fuzz ex':>8} "
          f"{'rand found':>10} {'rand med s':>10} {'rand runs':>9} {'ratio':>7}")
    ratios = []
    for v in chosen:
        scenario = Scenario.default_for(v)
        results = {"fuzz": [], "rand": []}
        for seed in range(args.seeds):
            results["fuzz"].append(vmafuzz(v, scenario, seed, args.seconds))
            results["rand"].append(random_testing(v, scenario, seed, args.seconds))

        def summary(rs):
            found = [s for s, _ in rs if s is not None]
            n = [k for s, k in rs if s is not None]
            return (len(found), statistics.median(found) if found else None,
                    statistics.median(n) if n else None)

        ff, fs, fn = summary(results["fuzz"])
        rf, rs_, rn = summary(results["rand"])
        ratio = fs / rs_ if fs is not None and rs_ is not None and rs_ > 0 else None
        if ratio is not None:
            ratios.append(ratio)

        def fmt(x, f):
            return "-" if x is None else f.format(x)
        print(f"{v.name:<22} {ff:>5}/{args.seeds:<4} {fmt(fs, '{:.3f}'):>10} {fmt(fn, '{:.0f}'):>8} "
              f"{rf:>5}/{args.seeds:<4} {fmt(rs_, '{:.3f}'):>10} {fmt(rn, '{:.0f}'):>9} "
              f"{fmt(ratio, '{:.2f}'):>7}", flush=True)
    if ratios:
        print(f"ratio of medians (vmafuzz / random), over the {len(ratios)} variants both found: "
              f"median {statistics.median(ratios):.2f}, min {min(ratios):.2f}, max {max(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
