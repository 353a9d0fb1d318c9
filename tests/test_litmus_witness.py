"""``vmafuzz litmus --witness`` (``models.litmus.witness``): a depth-first search for one
execution that satisfies an ``exists`` clause, pruned where a register the clause pins
took another value at its last assignment.

Its verdict must be the exhaustive run's: Sometimes where that says Sometimes or
Always (with a state the exhaustive run lists), and, where no witness exists, the
exhaustive run's own result (it falls back to it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models import litmus

ROOT = Path(__file__).resolve().parent.parent


def _kernel_dir() -> Path:
    env = os.environ.get("VMAFUZZ_SHARED")
    base = Path(env) if env else ROOT.parent / "shared"
    return base / "litmus" / "kernel"


KERNEL = _kernel_dir()
KERNEL_FILES = sorted(KERNEL.glob("*.litmus"))


def _test(text: str) -> litmus.Program:
    return litmus.parse(text, "w.litmus")


@pytest.mark.parametrize("path", KERNEL_FILES, ids=[p.stem for p in KERNEL_FILES])
def test_witness_verdict_is_herd7s_on_the_kernel_suite(path):
    prog = litmus.parse_file(str(path))
    herd = litmus.read_herd_output(path.with_suffix(".herd7.out").read_text())
    result = litmus.witness(prog)
    if prog.quantifier != "exists" or herd.observation == "Never":
        assert result.search == "exhaustive"
        assert result.observation == herd.observation
        assert litmus.state_lines(result) == herd.states
        return
    assert result.search == "witness"
    assert result.observation == "Sometimes" and result.ok
    assert litmus.state_lines(result) <= herd.states


def test_a_register_assigned_again_is_not_pruned_at_its_first_value():
    # r0's first load may read 0; only its second is pinned by the clause.
    prog = _test("""C reassigned
{ x=0; }
P0(int *x) { int r0; r0 = READ_ONCE(*x); if (r0 == 0) { r0 = READ_ONCE(*x); } }
P1(int *x) { WRITE_ONCE(*x, 1); }
exists (0:r0=1)
""")
    result = litmus.witness(prog)
    assert (result.search, result.observation) == ("witness", "Sometimes")
    assert litmus.state_lines(result) <= litmus.state_lines(litmus.run(prog))


def test_pinned_values_prune_and_no_witness_falls_back_to_the_exhaustive_run():
    # MP with both fences: the clause never holds; the pruned search proves no
    # Never (load buffering), so the verdict and counts are the exhaustive run's.
    prog = _test("""C MP+wmb+rmb
{ x=0; y=0; }
P0(int *x, int *y) { WRITE_ONCE(*x, 1); smp_wmb(); WRITE_ONCE(*y, 1); }
P1(int *x, int *y) { int r0; int r1; r0 = READ_ONCE(*y); smp_rmb(); r1 = READ_ONCE(*x); }
exists (1:r0=1 /\\ 1:r1=0)
""")
    result = litmus.witness(prog)
    full = litmus.run(prog)
    assert result.search == "exhaustive"
    assert (result.observation, result.positive, result.negative) == ("Never", 0, full.negative)
    assert litmus.state_lines(result) == litmus.state_lines(full)


def test_always_is_reported_as_a_witness_not_as_always():
    prog = _test("""C always
{ x=0; }
P0(int *x) { int r0; WRITE_ONCE(*x, 1); r0 = READ_ONCE(*x); }
exists (0:r0=1)
""")
    assert litmus.run(prog).observation == "Always"
    result = litmus.witness(prog)
    assert (result.search, result.observation) == ("witness", "Sometimes")
    assert "Always" in litmus.herd_text(result)        # "Sometimes or Always": no claim either way


@pytest.mark.parametrize("cond", ["~exists (0:r0=1)", "forall (0:r0=1)", "exists (0:r0=1 \\/ 0:r0=0)",
                                  "exists ([x]=1)"])
def test_nothing_pinned_is_the_exhaustive_run(cond):
    prog = _test(f"""C other
{{ x=0; }}
P0(int *x) {{ int r0; r0 = READ_ONCE(*x); }}
P1(int *x) {{ WRITE_ONCE(*x, 1); }}
{cond}
""")
    result = litmus.witness(prog)
    assert result.search == "exhaustive"
    assert litmus.herd_text(result).splitlines()[1:-1] == litmus.herd_text(litmus.run(prog)).splitlines()[1:-1]


def test_the_filter_is_kept():
    # 1:r1=0 holds in executions with 1:r0=0, which the filter leaves out: with the
    # fences no execution the filter keeps has it.
    prog = _test("""C filtered
{ x=0; y=0; }
P0(int *x, int *y) { WRITE_ONCE(*x, 1); smp_wmb(); WRITE_ONCE(*y, 1); }
P1(int *x, int *y) { int r0; int r1; r0 = READ_ONCE(*y); smp_rmb(); r1 = READ_ONCE(*x); }
filter (1:r0=1)
exists (1:r1=0)
""")
    result = litmus.witness(prog)
    assert (result.search, result.observation) == ("exhaustive", "Never")


def test_command_prints_a_witness_search_and_no_counts(tmp_path):
    f = tmp_path / "mp.litmus"
    f.write_text("""C MP
{ x=0; y=0; }
P0(int *x, int *y) { WRITE_ONCE(*x, 1); WRITE_ONCE(*y, 1); }
P1(int *x, int *y) { int r0; int r1; r0 = READ_ONCE(*y); r1 = READ_ONCE(*x); }
exists (1:r0=1 /\\ 1:r1=0)
""")
    r = subprocess.run([sys.executable, "-m", "fuzz", "litmus", "--witness", str(f)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "Witness search (vmafuzz litmus --witness)" in r.stdout
    assert "Positive:" not in r.stdout
    assert "1:r0=1; 1:r1=0;" in r.stdout
    assert "Observation MP Sometimes (witness" in r.stdout
    r = subprocess.run([sys.executable, "-m", "fuzz", "litmus", "--witness", "--json", str(f)],
                       capture_output=True, text=True, cwd=ROOT)
    record = json.loads(r.stdout)
    assert record["search"] == "witness" and record["observation"] == "Sometimes"
    assert record["positive"] is None and record["states_searched"] > 0


def test_a_search_cut_short_is_no_verdict():
    path = ROOT / "tests" / "exports" / "C" / "C-foreign-mm-put" / "9af0fd28f222dd3ef384.litmus"
    with pytest.raises(litmus.LitmusIncomplete, match="no witness found in the states searched"):
        litmus.witness(litmus.parse_file(str(path)), max_states=20)
    r = subprocess.run([sys.executable, "-m", "fuzz", "litmus", "--witness", "--max-states", "20", str(path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 3 and r.stdout == ""
    assert "more than 20 states: no witness found" in r.stderr


def test_a_register_pinned_to_two_values_is_left_to_the_end():
    prog = _test("""C twice
{ x=0; }
P0(int *x) { int r0; r0 = READ_ONCE(*x); }
P1(int *x) { WRITE_ONCE(*x, 1); }
exists (0:r0=1 /\\ 0:r0=0)
""")
    result = litmus.witness(prog)
    assert (result.search, result.observation) == ("exhaustive", "Never")
