"""The explorer with and without invisible steps first (issue 14), side by side.

For every shipped variant (or those named), on its default scenario and on one more
cycle, a second reader and a second writer (where the scenario allows), prints the
verdict, rule and shortest steps of ``check_variant`` with the reduction (the
default) and without it (``invisible=False``, the symmetry and readers-alone
reductions still on), their states and CPU seconds, and whether the reduced search
decided or stepped aside for the full one. Ends with the number of rows that
differ (expected: 0) and the load average.

    python bench/invisible.py [VARIANT...] [--max-states N]

A scenario whose search without the reduction stops at ``--max-states`` (default
60,000) is reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.exhaustive import check_variant  # noqa: E402
from models.scenario import Scenario, ScenarioError  # noqa: E402
from models.variants import SHIPPED  # noqa: E402


def scenarios(v) -> list:
    base = Scenario.default_for(v)
    out = [base]
    for extra in ({"cycles": base.cycles + 1}, {"readers": 2}, {"writers": 2}):
        try:
            out.append(attrs.evolve(base, **extra))
        except (ScenarioError, TypeError, ValueError):
            pass
    return out


def timed(v, sc, **kw):
    c = time.process_time()
    r = check_variant(v, sc, **kw)
    return r, time.process_time() - c


def outcome(r) -> tuple:
    return (r.verdict, r.violation.rule if r.violation else None, r.shortest_steps, r.race is not None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*")
    ap.add_argument("--max-states", type=int, default=60_000)
    args = ap.parse_args(argv)
    chosen = [v for v in SHIPPED if not args.variants or v.name in args.variants]
    print(f"{'variant':<22} {'scenario':<52} {'without: verdict':<17} {'steps':>5} {'states':>7} "
          f"{'cpu s':>6}  {'with: verdict':<14} {'states':>7} {'cpu s':>6}  decided by")
    differ = rows = 0
    for v in chosen:
        for sc in scenarios(v):
            full, t_full = timed(v, sc, invisible=False, max_states=args.max_states)
            if full.verdict == "incomplete":
                print(f"{v.name:<22} {sc.describe(v):<52} stopped at {args.max_states} states without "
                      f"the reduction: skipped", flush=True)
                continue
            red, t_red = timed(v, sc, max_states=args.max_states)
            same = outcome(red) == outcome(full)
            rows += 1
            differ += not same
            by = ("the reduced search" if red.invisible else
                  "the full search (after the reduced one found a violation)"
                  if red.verdict == "violated" else "the full search (the reduced one stepped aside)")
            print(f"{v.name:<22} {sc.describe(v):<52} {full.verdict:<17} "
                  f"{full.shortest_steps if full.shortest_steps is not None else '-':>5} "
                  f"{full.stats.states:>7} {t_full:>6.1f}  {red.verdict:<14} {red.stats.states:>7} "
                  f"{t_red:>6.1f}  {by}{'' if same else '   <-- DIFFERS'}", flush=True)
    load = os.getloadavg()
    print(f"{rows} rows, {differ} differ (verdict, rule, shortest steps or race); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
