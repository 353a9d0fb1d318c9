"""Campaign benchmark: the campaign with one worker and with N, in one run.

    python bench/campaign.py [--workers 2] [--full] [--profile ci|dev] [--seconds S] [VARIANT...]

Runs ``vmafuzz campaign --json`` as a child process twice, ``--workers 1`` then
``--workers N``, each in a fresh temporary folder with its own corpus (nothing is
saved to the checkout's corpus, and no example database is carried from one run to
the other), and prints wall-clock and CPU seconds (user + system of the children),
the ratio of the wall-clock times, and whether every variant got the same verdict
in both runs (exit 1 if not).

Default: a representative subset (two holding variants, which spend their whole
budget, and violated ones of each family and of each budget factor); ``--full``
runs every shipped variant, the campaign of ``tox -e fuzz``. Default profile
``ci``: derandomized and without an example database, so both runs draw the same
examples and do the same work (``dev``, the campaign's own default, draws new
random examples in each run). The goal (issue 10): ratio >= 1.7 with 2 workers
on 2 otherwise idle cores, with the same verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Both holding (a whole budget each) and violated variants of both VMA protocols
# and the seqlock, one of them with a budget factor of 4 (B-narrow-seq, 2 cycles).
SUBSET = ["A", "seqlock", "A-no-wmb", "A-swapped-loads", "B-no-rmb", "B-no-end-wmb",
          "B-narrow-seq", "B-early-rcu-unlock", "seqlock-no-retry", "seqlock-no-begin-wmb"]


def run_campaign(variants: list[str], workers: int, extra: list[str]) -> dict:
    """One campaign in a fresh folder: wall and CPU seconds, verdicts, summary."""
    with tempfile.TemporaryDirectory(prefix="vmafuzz-bench-") as tmp:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        argv = [sys.executable, "-m", "fuzz", "campaign", *variants, "--json", "--workers", str(workers),
                "--corpus", str(Path(tmp) / "corpus"), *extra]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"campaign --workers {workers} failed with exit status {proc.returncode}")
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    verdicts = {x["variant"]: (x["verdict"], x["rule"], x["matches"]) for x in lines if "variant" in x}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "verdicts": verdicts, "summary": lines[-1]["summary"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*", help=f"default: {' '.join(SUBSET)}")
    ap.add_argument("--workers", type=int, default=2, help="the parallel run's workers (default 2)")
    ap.add_argument("--full", action="store_true", help="every shipped variant (the tox -e fuzz campaign)")
    ap.add_argument("--profile", choices=("ci", "dev"), default="ci")
    ap.add_argument("--seconds", type=float, help="the campaign's --seconds (default: its own, 20)")
    ap.add_argument("--max-examples", type=int, help="the campaign's --max-examples (default: its own, 1500)")
    args = ap.parse_args(argv)
    if args.full and args.variants:
        ap.error("--full runs every shipped variant: name none")
    variants = [] if args.full else (args.variants or SUBSET)
    extra = ["--profile", args.profile]
    if args.seconds is not None:
        extra += ["--seconds", f"{args.seconds:g}"]
    if args.max_examples is not None:
        extra += ["--max-examples", str(args.max_examples)]
    print(f"campaign of {'every shipped variant' if args.full else ' '.join(variants)}; "
          f"{' '.join(extra)}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before")
    runs = {}
    for w in (1, args.workers):
        r = runs[w] = run_campaign(variants, w, extra)
        s = r["summary"]
        print(f"--workers {w}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU; {s['variants']} variants, "
              f"{s['as_expected']} as expected", flush=True)
    one, many = runs[1], runs[args.workers]
    same = one["verdicts"] == many["verdicts"]
    print(f"ratio {one['wall'] / many['wall']:.2f} (goal >= 1.7 with 2 workers on 2 idle cores); "
          f"verdicts {'identical' if same else 'DIFFER'}; load average {os.getloadavg()[0]:.2f} after")
    if not same:
        for name in sorted(set(one["verdicts"]) | set(many["verdicts"])):
            a, b = one["verdicts"].get(name), many["verdicts"].get(name)
            if a != b:
                print(f"  {name}: --workers 1 {a}, --workers {args.workers} {b}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
