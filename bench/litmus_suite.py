"""Run the kernel's 35 LKMM litmus tests in one process: time and executions per
test, the total, and how many agree with herd7 (states, Observation and flags).

    python bench/litmus_suite.py [--repeat N] [--shared DIR]

DIR is the ``shared`` folder holding ``litmus/kernel`` (default: ``../shared``
beside the repository, or ``$VMAFUZZ_SHARED``). With ``--repeat`` each figure is
the best of N runs. Figures are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import litmus  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--shared", default=os.environ.get("VMAFUZZ_SHARED")
                    or str(Path(__file__).resolve().parents[2] / "shared"))
    args = ap.parse_args(argv)
    files = sorted((Path(args.shared) / "litmus" / "kernel").glob("*.litmus"))
    if not files:
        print(f"no litmus tests under {args.shared}/litmus/kernel", file=sys.stderr)
        return 2
    progs = [litmus.parse_file(str(f)) for f in files]   # parsing is outside the timing
    best: dict[str, float] = {}
    totals = []
    results = {}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for p in progs:
            r = litmus.run(p)
            results[p.name] = r
            best[p.name] = min(best.get(p.name, float("inf")), r.seconds)
        totals.append(time.perf_counter() - t0)
    match = 0
    print(f"{'test':58} {'seconds':>8} {'execs':>6}  herd7")
    for f, p in zip(files, progs):
        r = results[p.name]
        herd = litmus.read_herd_output(f.with_suffix(".herd7.out").read_text())
        same = (litmus.state_lines(r) == herd.states and r.observation == herd.observation
                and frozenset(r.flags) == herd.flags)
        match += same
        print(f"{p.name:58} {best[p.name]:8.4f} {r.executions:6d}  {'same' if same else 'DIFFERS'}")
    print(f"total {min(totals):.3f} s for {len(files)} tests (best of {args.repeat}); "
          f"{match}/{len(files)} agree with herd7")
    return 0


if __name__ == "__main__":
    sys.exit(main())
