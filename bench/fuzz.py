"""Fuzzer benchmark: each violated variant with 20 seeds, default settings.

Per variant: found (out of the seeds), median examples and seconds to the first
failure, median shrunk length, how many seeds shrank to the explorer's
shortest, and the explorer's shortest for the same scenario; then throughput.

    python bench/fuzz.py [--seeds 20] [--max-examples 5000] [--seconds 120] [VARIANT...]

No example database (every seed starts from nothing). Targets (issue 4):
found >= 19/20, shortest in >= 18/20, median time to first failure < 5 s
(< 60 s for the wrap-around variants A-narrow-seq and B-narrow-seq). Every
shipped family is covered, protocol C included (issue 9: within 60 s); its
C-foreign-mm-put is not reached (docs/protocols-c.md, "Fuzzing").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.exhaustive import check_variant  # noqa: E402
from fuzz.machine import PROFILE_DEV, fuzz  # noqa: E402
from models.scenario import Scenario  # noqa: E402
from models.variants import SHIPPED  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--max-examples", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=120.0, help="generation budget per seed")
    ap.add_argument("--holding", type=int, default=0, metavar="N",
                    help="also run each holding variant for N examples")
    args = ap.parse_args(argv)
    chosen = [v for v in SHIPPED if not args.variants or v.name in args.variants]
    print(f"{'variant':<22} {'found':>6} {'med ex':>7} {'med s':>7} {'med len':>7} "
          f"{'=expl':>6} {'explorer':>8}")
    total_examples = total_steps = 0
    total_seconds = 0.0
    for v in chosen:
        if v.expected != "violated":
            continue
        scenario = Scenario.default_for(v)
        shortest = check_variant(v, scenario).shortest_steps
        found, ex_first, s_first, lengths = 0, [], [], []
        for seed in range(args.seeds):
            r = fuzz(v, scenario, max_examples=args.max_examples, seconds=args.seconds, seed=seed,
                     profile=PROFILE_DEV, database=None)
            total_examples += r.examples
            total_steps += r.steps
            total_seconds += r.seconds
            if r.failure is not None:
                found += 1
                ex_first.append(r.examples_to_first)
                s_first.append(r.seconds_to_first)
                lengths.append(r.failure.steps)
        def med(xs, f="{:.0f}"):
            return f.format(statistics.median(xs)) if xs else "-"
        same = sum(1 for n in lengths if shortest is not None and n <= shortest)
        print(f"{v.name:<22} {found:>3}/{args.seeds:<2} {med(ex_first):>7} "
              f"{med(s_first, '{:.2f}'):>7} {med(lengths):>7} {same:>3}/{args.seeds:<2} "
              f"{shortest if shortest is not None else 'holds':>8}", flush=True)
    if total_seconds:
        print(f"throughput (violated variants, generation and shrinking): "
              f"{total_examples / total_seconds:.0f} examples/s, "
              f"{total_steps / total_seconds:.0f} steps/s")
    for v in chosen:
        if v.expected != "holds" or not args.holding:
            continue
        t = time.perf_counter()
        r = fuzz(v, Scenario.default_for(v), max_examples=args.holding, seed=0,
                 profile=PROFILE_DEV, database=None)
        dt = time.perf_counter() - t
        print(f"{v.name:<22} {r.verdict} over {r.examples} examples, {r.steps} steps, {dt:.0f} s "
              f"({r.examples / dt:.0f} examples/s, {r.steps / dt:.0f} steps/s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
