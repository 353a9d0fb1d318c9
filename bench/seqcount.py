"""CPU time of ``vmafuzz litmus`` on the two exhaustive-exploration benchmarks of
``../shared/litmus/bench/`` (issue 14: ``seqcount-2c2r`` under 0.5 s of CPU for the
whole command, GenMC's 0.29 s being the mark to beat; ``seqcount-2c3r`` under 30 s;
execution counts unchanged), with the stores-first reduction (the default) and
without it (``--no-reduction``: every interleaving, as before the reduction), in one
run. herd7 too when it is installed (``--herd7``, ``$PATH`` or
``/opt/herd/bin/herd7``; its 2c3r takes far longer than ours, so only with
``--herd7-2c3r``).

Each figure is the user + system time of the child process (``python -m fuzz
litmus FILE``, start-up included, bytecode cache warm), best of ``--repeat``
rounds. The start-up alone is measured the same way on an empty litmus run of a
one-line test, and the bare interpreter (``python -c pass``), so the share of the
exploration can be read off even on a loaded machine.

    python bench/seqcount.py [--repeat 3] [--shared DIR] [--skip-full-2c3r]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from litmus_vs_herd7 import children_cpu, find_herd7  # noqa: E402

TINY = """C tiny
{}
P0(int *x)
{
	WRITE_ONCE(*x, 1);
}
exists (x=1)
"""


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    """CPU seconds (user + system) of one run of ``cmd``, and its executions: the
    Observation line's positive + negative counts ("" if it prints none)."""
    u0, s0 = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env).stdout
    u1, s1 = children_cpu()
    m = re.search(r"^Observation \S+ \S+ (\d+) (\d+)", out, re.M)
    return (u1 - u0) + (s1 - s0), f"{int(m.group(1)) + int(m.group(2))}" if m else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shared", default=os.environ.get("VMAFUZZ_SHARED") or str(ROOT.parent / "shared"))
    ap.add_argument("--skip-full-2c3r", action="store_true",
                    help="leave out 2c3r without the reduction (minutes)")
    ap.add_argument("--herd7", default=None)
    ap.add_argument("--herd7-2c3r", action="store_true", help="also run herd7 on 2c3r (very long)")
    args = ap.parse_args(argv)
    bench = Path(args.shared) / "litmus" / "bench"
    if not (bench / "seqcount-2c2r.litmus").is_file():
        print(f"no seqcount tests under {bench}", file=sys.stderr)
        return 2
    herd7 = find_herd7(args.herd7)
    lkmm = Path(args.shared) / "oracle" / "lkmm"
    py = sys.executable
    script = Path(py).parent / "vmafuzz"     # pip's entry point (not a pyenv shim)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        tiny = Path(tmp) / "tiny.litmus"
        tiny.write_text(TINY)
        ours = [py, "-m", "fuzz", "litmus"]
        timed(ours + [str(tiny)], env)        # warm the bytecode cache, untimed
        rows: list[tuple[str, list[str]]] = [
            ("python -c pass", [py, "-c", "pass"]),
            ("vmafuzz litmus, one-line test (start-up)", ours + [str(tiny)]),
        ]
        for name in ("seqcount-2c2r", "seqcount-2c3r"):
            f = str(bench / f"{name}.litmus")
            rows.append((f"{name}, reduced (default)", ours + [f]))
            if name == "seqcount-2c2r" and script.is_file():
                rows.append((f"{name}, reduced, console script", [str(script), "litmus", f]))
            if name == "seqcount-2c2r" or not args.skip_full_2c3r:
                rows.append((f"{name}, --no-reduction", ours + ["--no-reduction", f]))
            if herd7 and (name == "seqcount-2c2r" or args.herd7_2c3r):
                rows.append((f"{name}, herd7",
                             [herd7, "-I", str(lkmm), "-conf", str(lkmm / "linux-kernel.cfg"), f]))
        best: dict[str, float] = {}
        counts: dict[str, str] = {}
        for round_ in range(args.repeat):       # interleaved: every row sees the same load
            for label, cmd in rows:
                if "2c3r" in label and round_ > 0:
                    continue                    # long: one run
                cpu, n = timed(cmd, env)
                best[label] = min(best.get(label, float("inf")), cpu)
                counts[label] = n or counts.get(label, "")
    print(f"load average {load:.2f} at the start; CPU seconds (user + system), best of {args.repeat} "
          f"(2c3r rows: one run)")
    for label, _cmd in rows:
        extra = f"  executions {counts[label]}" if counts.get(label) else ""
        print(f"  {label:44} {best[label]:8.3f}{extra}")
    r2 = best["seqcount-2c2r, reduced (default)"]
    f2 = best["seqcount-2c2r, --no-reduction"]
    start = best["vmafuzz litmus, one-line test (start-up)"]
    print(f"  2c2r: reduction saves {f2 - r2:.3f} s ({f2 / r2:.1f} x); exploration past start-up "
          f"{r2 - start:.3f} s; goal 0.5 s for the whole command: {'met' if r2 < 0.5 else 'not met'}")
    r3 = best["seqcount-2c3r, reduced (default)"]
    print(f"  2c3r: {r3:.1f} s; goal 30 s: {'met' if r3 < 30 else 'not met'}"
          + (f"; without the reduction {best['seqcount-2c3r, --no-reduction']:.1f} s"
             if "seqcount-2c3r, --no-reduction" in best else ""))
    if not herd7:
        print("  herd7: not installed (give --herd7 PATH): no comparison")
    return 0


if __name__ == "__main__":
    sys.exit(main())
