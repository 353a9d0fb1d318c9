"""CPU time of ``vmafuzz litmus`` on the kernel's litmus tests against herd7 on the
same tests, side by side in one run, as a user would run each: vmafuzz once over
all the files (one process, start-up included), herd7 once per file.

    python bench/litmus_vs_herd7.py [--repeat N] [--shared DIR] [--herd7 PATH]

CPU is user + system time of the child processes (``resource.getrusage(
RUSAGE_CHILDREN)`` around the runs); each figure is the best of N rounds. herd7
is taken from ``--herd7``, ``$PATH`` or ``/opt/herd/bin/herd7``; without it only
vmafuzz is measured, and the script says so. herd7 7.58 rejects ``spinlock_t x;``
in an init block (``../shared/litmus/README.md``), so it reads copies without
that line, made before the clock starts.

vmafuzz runs with Python's bytecode cache on (in a private cache folder, warmed
by one untimed run), as an installed package runs; the figure without the cache
(``PYTHONDONTWRITEBYTECODE=1``, every module compiled at each start) is printed
too. Figures are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def children_cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def cpu_of(commands: list[list[str]], env: dict[str, str] | None = None,
           cwd: Path | None = None) -> tuple[float, float, float]:
    """(user + system, user, system) CPU seconds of the commands, run one after the other."""
    u0, s0 = children_cpu()
    for cmd in commands:
        subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
    u1, s1 = children_cpu()
    return (u1 - u0) + (s1 - s0), u1 - u0, s1 - s0


def find_herd7(given: str | None) -> str | None:
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("herd7") or next(
        (p for p in ("/opt/herd/bin/herd7",) if os.access(p, os.X_OK)), None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shared", default=os.environ.get("VMAFUZZ_SHARED") or str(ROOT.parent / "shared"))
    ap.add_argument("--herd7", default=None, help="the herd7 binary (default: $PATH, /opt/herd/bin/herd7)")
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    files = sorted((shared / "litmus" / "kernel").glob("*.litmus"))
    if not files:
        print(f"no litmus tests under {shared}/litmus/kernel", file=sys.stderr)
        return 2
    herd7 = find_herd7(args.herd7)
    lkmm = shared / "oracle" / "lkmm"

    with tempfile.TemporaryDirectory() as tmp:
        pycache = Path(tmp) / "pycache"
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(pycache)
        uncached = dict(cached, PYTHONDONTWRITEBYTECODE="1")
        uncached.pop("PYTHONPYCACHEPREFIX")
        ours = [[sys.executable, "-m", "fuzz", "litmus", *map(str, files)]]
        cpu_of(ours, cached, ROOT)     # warm the bytecode cache, untimed

        herd_cmds = []
        if herd7:
            for f in files:
                copy = Path(tmp) / f.name
                copy.write_text(re.sub(r"(?m)^\s*spinlock_t\s+\w+;\s*$", "", f.read_text()))
                herd_cmds.append([herd7, "-I", str(lkmm), "-conf", str(lkmm / "linux-kernel.cfg"), str(copy)])

        inf = (float("inf"),) * 3
        best = {"vmafuzz": inf, "vmafuzz-nocache": inf, "herd7": inf}
        for _ in range(args.repeat):      # interleaved, so both see the same machine load
            best["vmafuzz"] = min(best["vmafuzz"], cpu_of(ours, cached, ROOT))
            best["vmafuzz-nocache"] = min(best["vmafuzz-nocache"], cpu_of(ours, uncached, ROOT))
            if herd_cmds:
                best["herd7"] = min(best["herd7"], cpu_of(herd_cmds))

    print(f"{len(files)} kernel litmus tests, CPU seconds, best of {args.repeat}:")
    print(f"  {'':38} {'total':>6} {'user':>6} {'system':>6}")
    rows = [("vmafuzz litmus, one process", "vmafuzz"),
            ("vmafuzz litmus, no bytecode cache", "vmafuzz-nocache")]
    if herd_cmds:
        rows.append(("herd7, one process per test", "herd7"))
    for label, key in rows:
        total, user, system = best[key]
        print(f"  {label:38} {total:6.3f} {user:6.3f} {system:6.3f}")
    if not herd_cmds:
        print("  herd7: not installed (give --herd7 PATH): no comparison")
        return 0
    ratio = best["vmafuzz"][0] / best["herd7"][0]
    print(f"  ratio vmafuzz / herd7 (total CPU)      {ratio:.2f} "
          f"(no bytecode cache: {best['vmafuzz-nocache'][0] / best['herd7'][0]:.2f}; "
          f"user time only: {best['vmafuzz'][1] / best['herd7'][1]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
