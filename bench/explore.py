"""Exhaustive-check benchmark: every shipped variant at its default scenario.

Prints per variant: verdict (and whether it is the table's), rule, shortest trace,
executions, distinct states, wall-clock seconds and CPU seconds (the CPU figure
does not depend on what else the machine runs); then the total. Targets (issue 3): every
default scenario under 30 s, all together under 5 minutes.

    python bench/explore.py [VARIANT...] [--also-holding-bigger] [--bigger2] [--no-reduction]
                            [--max-states N]

``--also-holding-bigger`` also checks each holding variant with 1 reader x 1
lookup against 2 writer cycles, and against 1 cycle with 2 VMAs (the VMA family);
for protocol C, 2 own-mm cycles on the real race's scenario (about 200000 states).
Every shipped family is listed: protocols A and B, the seqlock, protocol C.

``--bigger2`` (issue 14) checks each holding variant of protocols A and B against
2 writers x 2 cycles (1 reader x 1 lookup) and against 2 readers x 2 lookups x 2
cycles (1 writer); ``--max-states`` stops each row there (no verdict:
``incomplete``). ``--no-reduction`` turns off the explorer's symmetry, invisible-steps-first and
readers-alone reductions (``fuzz/exhaustive.py``), for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.exhaustive import check_variant  # noqa: E402
from fuzz.oracle import matches_expected  # noqa: E402
from models.scenario import Scenario  # noqa: E402
from models.variants import SHIPPED  # noqa: E402


REDUCE = {"symmetry": True, "alone": True, "invisible": True}
MAX_STATES: list = [None]
CPU = [0.0]


def row(v, scenario) -> float:
    t = time.perf_counter()
    c = time.process_time()
    r = check_variant(v, scenario, max_states=MAX_STATES[0], **REDUCE)
    dt = time.perf_counter() - t
    cpu = time.process_time() - c
    mark = "" if matches_expected(v.expected, r.verdict, r.race is not None) else \
        "   <-- differs from the table"
    rule = " + ".join(([r.violation.rule] if r.violation else []) + (["data race"] if r.race else [])) or "-"
    print(f"{v.name:<22} {scenario.describe(v):<48} {r.verdict:<9} {rule:<27} "
          f"{(r.shortest_steps if r.shortest_steps is not None else '-'):>5} "
          f"{r.stats.executions:>7} {r.stats.states:>8} {dt:>8.2f} {cpu:>8.2f}{mark}", flush=True)
    CPU[0] += cpu
    return dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*")
    ap.add_argument("--also-holding-bigger", action="store_true")
    ap.add_argument("--bigger2", action="store_true",
                    help="holding A and B variants at 2 writers x 2 cycles and 2 readers x 2 lookups x 2 cycles")
    ap.add_argument("--no-reduction", action="store_true", help="no symmetry, no readers alone, no invisible steps first")
    ap.add_argument("--max-states", type=int, default=None)
    args = ap.parse_args(argv)
    if args.no_reduction:
        REDUCE.update(symmetry=False, alone=False, invisible=False)
    MAX_STATES[0] = args.max_states
    chosen = [v for v in SHIPPED if not args.variants or v.name in args.variants]
    print(f"{'variant':<22} {'scenario':<48} {'verdict':<9} {'rule':<27} {'steps':>5} "
          f"{'execs':>7} {'states':>8} {'seconds':>8} {'cpu s':>8}")
    total = 0.0
    slowest = 0.0
    for v in chosen:
        dt = row(v, Scenario.default_for(v))
        total += dt
        slowest = max(slowest, dt)
    print(f"total {total:.1f} s ({CPU[0]:.1f} s CPU), slowest {slowest:.1f} s")
    if args.also_holding_bigger:
        for v in chosen:
            if v.expected == "holds":
                row(v, Scenario.default_for(v, cycles=2))
                if "vmas" in v.scenario_options:
                    row(v, Scenario.default_for(v, vmas=2))
    if args.bigger2:
        for v in chosen:
            if v.expected == "holds" and v.family in ("A", "B"):
                row(v, Scenario.default_for(v, writers=2, cycles=2))
                row(v, Scenario.default_for(v, readers=2, lookups=2, cycles=2))
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
