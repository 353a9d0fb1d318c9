"""Scaling benchmark (issue 14): steps/s of one random run of the engine as the
run grows.

One world of protocol A (``A``, unbounded counters) with 1 writer x N cycles
(N = 1, 16, 256, 1,024) and one reader racing. Each figure is one run of the
engine (``Execution.run`` with a seeded ``RandomChooser``: every decision, the
thread and the option, uniform at random), as a fuzz example runs it, with its
own check cache. CPU time (``time.process_time``), so other jobs on the machine
change little. A size whose run takes less than ``--min-cpu`` is repeated with
the next seeds (the 1-cycle run takes about a millisecond); ``steps`` and
``events`` are the first run's, steps/s is over all of them, and the ratio is to
the first size of the same shape. ``opts/step`` is the mean number of options
offered at a step (each one a question to the model); ``opts/s`` the options
offered per CPU second, and its ratio, the cost per question.

Two shapes of reader: ``1 lookup`` (the reader races the first cycles, then the
writer goes on alone) and ``lookups = cycles`` (the reader keeps racing the
writer for the whole run: every step of the run has real options).

A third shape, ``late`` (``late reader``): the writer runs all its cycles first,
then the reader's one lookup, every choice the newest (the fuzzer's first,
sequentially consistent run): each of the reader's loads has the whole run's
stores behind it, of which it looks at the newest ``engine.STALE_WINDOW``.

``models/scenario.py`` caps writer work at 1,024 and reader work at 64; this bench
builds the world directly (``_scenario`` skips their validation), so the lookups
of ``lookups=cycles`` may pass the reader bound.

    python bench/scaling.py [--cycles 1 16 256 1024] [--seed 0] [--variant A]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.engine import Execution, FirstChooser, RandomChooser  # noqa: E402
from models.scenario import Scenario, build  # noqa: E402
from models.variants import BY_NAME  # noqa: E402


def _scenario(**fields) -> Scenario:
    """A Scenario past the bounds of models/scenario.py (validators skipped)."""
    sc = object.__new__(Scenario)
    for a in attrs_fields():
        object.__setattr__(sc, a.name, fields.get(a.name, a.default))
    return sc


def attrs_fields():
    import attrs
    return attrs.fields(Scenario)


def one_run(variant, cycles: int, lookups: int, seed: int, late: bool = False) -> tuple[int, int, float, int]:
    """Steps, events, CPU seconds, and the options offered over the run's steps
    (every option of a step is one consistency question to the model). ``late``:
    the writer runs all its cycles first, then the reader (every choice the newest,
    as the fuzzer's first, sequentially consistent run): each of the reader's loads
    then has a long run's stores behind it (the stale window's case)."""
    world = build(variant, _scenario(cycles=cycles, lookups=lookups))
    ex = Execution(world.threads, {})
    c = time.process_time()
    ex.run(FirstChooser() if late else RandomChooser(random.Random(seed)))
    cpu = time.process_time() - c
    chosen = [d for d in ex.path if d.kind != "thread"]
    options = sum(d.n for d in chosen) + ex.steps - len(chosen)
    return ex.steps, len(ex.events), cpu, options


def measure(variant, cycles: int, lookups: int, seed: int, min_cpu: float, late: bool = False) -> tuple:
    """Runs with seeds ``seed``, ``seed + 1``, ... until ``min_cpu`` seconds of CPU
    (a short run alone is too quick to time): runs, steps and events of the first,
    total steps, total CPU seconds, total options."""
    runs = total_steps = total_options = 0
    total_cpu = 0.0
    first = None
    while runs == 0 or total_cpu < min_cpu:
        steps, events, cpu, options = one_run(variant, cycles, lookups, seed + runs, late)
        if first is None:
            first = (steps, events)
        runs += 1
        total_steps += steps
        total_options += options
        total_cpu += cpu
    return runs, first[0], first[1], total_steps, total_cpu, total_options


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, nargs="*", default=[1, 16, 256, 1024])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", default="A")
    ap.add_argument("--min-cpu", type=float, default=0.5,
                    help="repeat a size with the next seeds until this much CPU (default 0.5 s)")
    ap.add_argument("--shapes", nargs="*", default=["1", "cycles", "late"],
                    help="reader lookups: 1, or 'cycles' (one lookup per writer cycle); "
                         "'late': 1 lookup after the writer's last cycle")
    args = ap.parse_args(argv)
    v = BY_NAME[args.variant]
    print(f"load average {os.getloadavg()[0]:.2f}; variant {v.name}, seed {args.seed}")
    print(f"{'shape':<16} {'cycles':>6} {'runs':>5} {'steps':>7} {'events':>7} {'cpu s':>8} "
          f"{'steps/s':>9} {'ratio':>6} {'opts/step':>9} {'opts/s':>8} {'ratio':>6}")
    measure(v, 1, 1, args.seed, args.min_cpu)     # warm-up (first calls, imports), not shown
    for shape in args.shapes:
        base = obase = None
        for n in args.cycles:
            lookups = n if shape == "cycles" else 1 if shape == "late" else int(shape)
            runs, steps, events, total, cpu, options = measure(v, n, lookups, args.seed, args.min_cpu,
                                                               late=shape == "late")
            rate = total / cpu if cpu > 0 else float("inf")
            orate = options / cpu if cpu > 0 else float("inf")
            if base is None:
                base, obase = rate, orate
            name = "lookups=cycles" if shape == "cycles" else "late reader" if shape == "late" else \
                f"{lookups} lookup{'s' if lookups != 1 else ''}"
            print(f"{name:<16} {n:>6} {runs:>5} {steps:>7} {events:>7} {cpu:>8.3f} {rate:>9.0f} "
                  f"{rate / base:>6.2f} {options / total:>9.2f} {orate:>8.0f} {orate / obase:>6.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
