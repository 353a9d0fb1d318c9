"""Random small C litmus tests, judged by herd7 and by vmafuzz side by side.

    python tests/herd/differential.py [--seed N] [--count N] [--out DIR]

Each test has 2 to 4 threads of 2 or 3 statements over x, y, z: marked, plain,
release and acquire accesses, control and data dependencies, fences, RMWs, and
whole-thread RCU, SRCU or spinlock critical sections. Every test herd7 accepts
is run by ``litmus.run`` and compared (states, Observation word, flags); each
difference is printed as one line, ``FILE  what differs``, and the test and
herd7's output stay in DIR so a difference can be shrunk by hand into a
``tests/herd`` case (that is how ``LB3+po+lockread+lockwrites`` was found).

Needs herd7 (``HERD7``, else ``herd7`` on PATH, else ``/opt/herd/bin/herd7``) and
the LKMM (``LKMM``, else ``../shared/oracle/lkmm``); without them it says so and
exits 0, as ``regen`` does. Exit status 1 when some test differed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from models import litmus  # noqa: E402

LOCS = ("x", "y", "z")
FENCES = ("smp_mb();", "smp_rmb();", "smp_wmb();", "synchronize_rcu();", "synchronize_srcu(s);",
          "smp_mb__before_atomic();", "smp_mb__after_atomic();", "smp_mb__after_spinlock();",
          "smp_mb__after_unlock_lock();", "smp_mb__after_srcu_read_unlock();")


class _Thread:
    def __init__(self) -> None:
        self.stmts: list[str] = []
        self.regs: list[str] = []

    def new_reg(self) -> str:
        reg = f"r{len(self.regs)}"
        self.regs.append(reg)
        return reg


def _statement(rng: random.Random, th: _Thread, locs: tuple, stores: dict) -> None:
    kind = rng.choice(("store", "store", "load", "load", "fence", "rmw", "ctrl", "data"))
    loc = rng.choice(locs)
    if kind in ("store", "ctrl", "data"):
        stores[loc] += 1
        # Every store of a location writes its own value, so states tell them apart.
        value = th.regs[-1] if kind == "data" and th.regs else str(stores[loc])
        stmt = rng.choice((f"WRITE_ONCE(*{loc}, {value});", f"WRITE_ONCE(*{loc}, {value});",
                           f"*{loc} = {value};", f"smp_store_release({loc}, {value});"))
        if kind == "ctrl" and th.regs:
            stmt = f"if ({th.regs[-1]} == 1) {stmt}"
        th.stmts.append(stmt)
    elif kind == "load":
        reg = th.new_reg()
        th.stmts.append(rng.choice((f"{reg} = READ_ONCE(*{loc});", f"{reg} = READ_ONCE(*{loc});",
                                    f"{reg} = *{loc};", f"{reg} = smp_load_acquire({loc});")))
    elif kind == "fence":
        th.stmts.append(rng.choice(FENCES))
    else:
        stores[loc] += 1
        value = stores[loc]
        if rng.random() < 0.2:
            th.stmts.append(f"atomic_inc({loc});")
            return
        reg = th.new_reg()
        th.stmts.append(rng.choice((f"{reg} = xchg({loc}, {value});", f"{reg} = xchg_relaxed({loc}, {value});",
                                    f"{reg} = cmpxchg({loc}, 0, {value});",
                                    f"{reg} = atomic_fetch_add_relaxed(1, {loc});")))


def _wrap(rng: random.Random, th: _Thread) -> None:
    section = rng.choice((None, None, None, "rcu", "srcu", "lock"))
    if section == "rcu":
        # A grace period inside its own critical section has no execution at all
        # (tests/herd/lkmm/RCU-sync-inside-rscs): known, not worth finding again.
        th.stmts = ["rcu_read_lock();", *(s for s in th.stmts if s != "synchronize_rcu();"), "rcu_read_unlock();"]
    elif section == "srcu":
        th.stmts = ["r9 = srcu_read_lock(s);", *(s for s in th.stmts if s != "synchronize_srcu(s);"),
                    "srcu_read_unlock(s, r9);"]
        th.regs.append("r9")
    elif section == "lock":
        th.stmts = ["spin_lock(l);", *th.stmts, "spin_unlock(l);"]


def generate(rng: random.Random, name: str) -> str:
    nthreads = rng.choice((2, 2, 3, 3, 4))
    locs = LOCS if nthreads > 2 else LOCS[:2]
    stores = dict.fromkeys(LOCS, 0)
    threads = []
    for _ in range(nthreads):
        th = _Thread()
        for _ in range(2 if nthreads == 4 else rng.choice((2, 2, 3))):
            _statement(rng, th, locs, stores)
        _wrap(rng, th)
        threads.append(th)
    if not any(re.search(r"[*(][xyz]\b", " ".join(th.stmts)) for th in threads):
        threads[0].stmts.append("WRITE_ONCE(*x, 1);")  # fences only: give the test a location
    lines = [f"C {name}", "", "{}", ""]
    used: list[str] = []
    for tid, th in enumerate(threads):
        body = " ".join(th.stmts)
        params = [f"int *{loc}" for loc in LOCS if re.search(rf"[*(]{loc}\b", body)]
        used += [loc for loc in LOCS if re.search(rf"[*(]{loc}\b", body) and loc not in used]
        if "(l)" in body:
            params.append("spinlock_t *l")
        if "(s" in body:
            params.append("struct srcu_struct *s")
        lines += [f"P{tid}({', '.join(params)})", "{", *(f"\tint {r};" for r in th.regs), "",
                  *(f"\t{s}" for s in th.stmts), "}", ""]
    regs = [f"{tid}:{r}" for tid, th in enumerate(threads) for r in th.regs if r != "r9"]
    cond = " /\\ ".join(f"{r}=1" for r in regs) or f"[{sorted(used)[0]}]=1"
    lines += ["locations [" + " ".join(f"{loc};" for loc in sorted(used)) + "]", f"exists ({cond})", ""]
    return "\n".join(lines)


def differences(path: Path, herd_text: str) -> list[str]:
    herd = litmus.read_herd_output(herd_text)
    try:
        r = litmus.run(litmus.parse_file(str(path)), max_states=200_000)
    except litmus.LitmusError as exc:
        if "not explored to the end" in str(exc):
            return []  # too big for a quick comparison, as herd7's own timeout
        return [f"refused: {exc}"]
    ours = litmus.state_lines(r)
    found = []
    if ours - herd.states:
        found.append(f"extra {sorted(ours - herd.states)}")
    if herd.states - ours:
        found.append(f"missing {sorted(herd.states - ours)}")
    if r.observation != herd.observation:
        found.append(f"{r.observation} where herd7 says {herd.observation}")
    if set(r.flags) != set(herd.flags):
        found.append(f"flags {sorted(r.flags)} where herd7 has {sorted(herd.flags)}")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None, help="where the tests go (default: a new temporary folder)")
    args = ap.parse_args(argv)
    herd = os.environ.get("HERD7") or shutil.which("herd7") or "/opt/herd/bin/herd7"
    lkmm = Path(os.environ.get("LKMM") or ROOT.parent / "shared" / "oracle" / "lkmm")
    if not os.access(herd, os.X_OK) or not (lkmm / "linux-kernel.cat").is_file():
        print(f"differential: needs herd7 ({herd}) and the LKMM ({lkmm}): nothing done")
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="vmafuzz-differential-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    differ = 0
    for i in range(args.count):
        name = f"D{args.seed}_{i}"
        path = out / f"{name}.litmus"
        path.write_text(generate(rng, name))
        try:
            done = subprocess.run([herd, "-I", str(lkmm), "-conf", str(lkmm / "linux-kernel.cfg"), str(path)],
                                  capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            continue  # too big for a quick comparison (run() has killed herd7)
        if "\nObservation " not in done.stdout:
            continue  # herd7 refused it (it exits 0 all the same): not a comparison
        (out / f"{name}.herd7.out").write_text(done.stdout)
        found = differences(path, done.stdout)
        if found:
            differ += 1
            print(f"{path}  " + "; ".join(found))
    print(f"differential: {differ} of {args.count} differ (tests in {out})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
