"""Fuzzer benchmark: each violated variant with 20 seeds, default settings.

Per variant: found (out of the seeds), median examples and (wall) seconds to the
first failure, median shrunk length, how many seeds shrank to the explorer's
shortest, the explorer's shortest for the same scenario, and median CPU seconds
of the process to the first failure and for the whole run (generation and
shrinking: the wall seconds depend on the machine's other jobs); then throughput, and
steps per CPU second of the fuzzer (Hypothesis's examples and the coverage-guided
runs between them) beside the same engine driven by a plain random chooser, on each
holding variant (issue 14's goal: a ratio of at least 0.5).

    python bench/fuzz.py [--seeds 20] [--max-examples 5000] [--seconds 120] [VARIANT...]

No example database (every seed starts from nothing). Targets (issue 4):
found >= 19/20, shortest in >= 18/20, median time to first failure < 5 s
(< 60 s for the wrap-around variants A-narrow-seq and B-narrow-seq). Every
shipped family is covered, protocol C included (issue 9: within 60 s, its
C-foreign-mm-put through the coverage-guided runs, docs/fuzzing.md).
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
from versus_random import random_runs  # noqa: E402  (bench/, the script's own folder)
from models.variants import SHIPPED  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--max-examples", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=120.0, help="generation budget per seed")
    ap.add_argument("--per-seed", action="store_true", help="also print each seed's shrunk length")
    ap.add_argument("--holding", type=int, default=0, metavar="N",
                    help="also run each holding variant for N examples")
    ap.add_argument("--throughput", type=float, default=10.0, metavar="SECONDS",
                    help="steps/s of the fuzzer beside a plain random chooser on each holding "
                    "variant, SECONDS of CPU each (0: skip)")
    args = ap.parse_args(argv)
    chosen = [v for v in SHIPPED if not args.variants or v.name in args.variants]
    print(f"{'variant':<22} {'found':>6} {'med ex':>7} {'med s':>7} {'med len':>7} "
          f"{'=expl':>6} {'explorer':>8} {'cpu 1st':>8} {'cpu all':>8}")
    total_examples = total_steps = 0
    total_seconds = 0.0
    for v in chosen:
        if v.expected != "violated":
            continue
        scenario = Scenario.default_for(v)
        shortest = check_variant(v, scenario).shortest_steps
        found, ex_first, s_first, lengths, cpu_first, cpu_all = 0, [], [], [], [], []
        for seed in range(args.seeds):
            c0 = time.process_time()
            r = fuzz(v, scenario, max_examples=args.max_examples, seconds=args.seconds, seed=seed,
                     profile=PROFILE_DEV, database=None)
            cpu_all.append(time.process_time() - c0)
            total_examples += r.examples
            total_steps += r.steps
            total_seconds += r.seconds
            if r.failure is not None:
                found += 1
                ex_first.append(r.examples_to_first)
                s_first.append(r.seconds_to_first)
                cpu_first.append(r.cpu_to_first)
                lengths.append(r.failure.steps)
        def med(xs, f="{:.0f}"):
            return f.format(statistics.median(xs)) if xs else "-"
        same = sum(1 for n in lengths if shortest is not None and n <= shortest)
        print(f"{v.name:<22} {found:>3}/{args.seeds:<2} {med(ex_first):>7} "
              f"{med(s_first, '{:.2f}'):>7} {med(lengths):>7} {same:>3}/{args.seeds:<2} "
              f"{shortest if shortest is not None else 'holds':>8} {med(cpu_first, '{:.2f}'):>8} "
              f"{med(cpu_all, '{:.1f}'):>8}", flush=True)
        if args.per_seed:
            print(f"  shrunk per seed: {lengths}", flush=True)
    if total_seconds:
        print(f"throughput (violated variants, generation and shrinking): "
              f"{total_examples / total_seconds:.0f} examples/s, "
              f"{total_steps / total_seconds:.0f} steps/s")
    if args.throughput:
        print(f"steps/s on holding variants, {args.throughput:g} s of CPU each "
              f"(fuzzer: generation only, seed 0; random: RandomChooser, seed 0)")
        ratios = []
        for v in chosen:
            if v.expected != "holds":
                continue
            fs, rs = fuzzer_steps_per_second(v, args.throughput), random_steps_per_second(v, args.throughput)
            ratios.append(fs / rs)
            print(f"{v.name:<22} fuzzer {fs:>8.0f} steps/s   random {rs:>8.0f} steps/s   ratio {fs / rs:.2f}",
                  flush=True)
        if ratios:
            print(f"ratio fuzzer / random: median {statistics.median(ratios):.2f}, min {min(ratios):.2f} "
                  f"(issue 14's goal: at least 0.5)")
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


def fuzzer_steps_per_second(v, seconds: float) -> float:
    """Operations per CPU second of ``fuzz`` on a holding variant (it runs its whole budget)."""
    c0 = time.process_time()
    r = fuzz(v, Scenario.default_for(v), max_examples=10**7, seconds=seconds, seed=0,
             profile=PROFILE_DEV, database=None)
    return r.steps / (time.process_time() - c0)


def random_steps_per_second(v, seconds: float) -> float:
    """Operations per CPU second of the same engine with a plain random chooser:
    bench/versus_random.py's naive random testing, going on past violations."""
    c0 = time.process_time()
    _, _, steps = random_runs(v, Scenario.default_for(v), 0, seconds, stop=False)
    return steps / (time.process_time() - c0)


if __name__ == "__main__":
    sys.exit(main())
