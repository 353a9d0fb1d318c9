"""Resident memory of a long fuzz run of a holding variant (issue 14: under 500 MB
after 100,000 examples).

Each configuration runs in its own process (``--one``), so each has its own peak
resident set (``ru_maxrss``); the driver prints them side by side, in one run:

* ``chunked``: the fuzzer as shipped: Hypothesis's run is cut into runs of
  ``fuzz.machine.CHUNK_EXAMPLES`` examples, each with a fresh tree of tried choices;
* ``one run``: the same with one Hypothesis run for all examples (the chunk size
  set past ``--examples``), as before the change.

Also printed: the entries of the engine's check caches (the memory verdicts shared by
every example, and by the coverage-guided runs) and the resident set sampled every
``--every`` examples.

    python bench/memory.py [--examples 100000] [--variant B] [--every 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def one(variant: str, examples: int, chunk: int | None, every: int) -> dict:
    import fuzz.machine as machine
    from models.scenario import Scenario
    from models.variants import BY_NAME

    if chunk is not None:
        machine.CHUNK_EXAMPLES = chunk
    v = BY_NAME[variant]
    rec = machine.Recorder()
    samples = []
    caches = []
    original = machine._World.__init__

    def keep(self, *a, **k):
        original(self, *a, **k)
        caches.append(self.check_cache)
    machine._World.__init__ = keep
    real_init = machine.Recorder.__setattr__

    def watch(self, name, value):
        real_init(self, name, value)
        if name == "examples" and value % every == 0 and value:
            samples.append((value, round(rss_mb())))
            # as they come, so a run stopped early still says what it reached
            print(f"# {value} examples, {time.perf_counter() - t0:.0f} s: RSS {samples[-1][1]} MB",
                  file=sys.stderr, flush=True)
    machine.Recorder.__setattr__ = watch
    t0 = time.perf_counter()
    r = machine.fuzz(v, Scenario.default_for(v), max_examples=examples, seed=1, database=None,
                     recorder=rec)
    return {"verdict": r.verdict, "examples": r.examples, "guided_runs": r.guided_runs,
            "seconds": round(time.perf_counter() - t0, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "cache_entries": sum(len(c) for c in caches), "samples": samples}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100_000)
    ap.add_argument("--variant", default="B")
    ap.add_argument("--every", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=("chunked", "one run"), help="run one configuration only")
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.variant, args.examples, args.chunk, args.every)))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f}; {args.variant}, {args.examples} examples, seed 1")
    configs = {"chunked": None, "one run": args.examples + 1}
    for name, chunk in configs.items():
        if args.only and name != args.only:
            continue
        cmd = [sys.executable, __file__, "--one", "--variant", args.variant, "--examples",
               str(args.examples), "--every", str(args.every)]
        if chunk is not None:
            cmd += ["--chunk", str(chunk)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.splitlines()[-1])
        print(f"{name:<8} {r['verdict']} over {r['examples']} examples and {r['guided_runs']} guided runs, "
              f"{r['seconds']} s: max RSS {r['max_rss_mb']} MB; check-cache entries {r['cache_entries']}; "
              f"RSS (MB) by examples: {r['samples']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
