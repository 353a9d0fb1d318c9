"""The printed counterexample: step numbers, commit lines, the violation report,
checked on every trace of the shipped corpus."""

import re
from pathlib import Path

import pytest

from fuzz.corpus import collect, load, replay, resolve_variant
from fuzz.oracle import USE_AFTER_FREE
from fuzz.report import render_trace, render_violation
from models.vma.kernel import Commit

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FILES = collect([CORPUS])


@pytest.fixture(scope="module", params=FILES, ids=lambda p: p.parent.name)
def replayed(request):
    e = load(request.param)
    r = replay(e, resolve_variant(e, str(request.param)))
    assert r.reproduces, r.reason
    if e.expected.rule == "data race":
        pytest.skip("a data-race trace: tests/test_data_race.py checks its report")
    return r


def test_every_step_numbered_once_in_order_and_fences_never(replayed):
    ex, v = replayed.execution, replayed.violation
    lines = render_trace(ex, v.at).splitlines()[1:]
    labels = [int(m.group(1)) for ln in lines if (m := re.match(r"\s*#(\d+) ", ln))]
    assert labels == list(range(1, ex.steps + 1))
    fences = ("smp_wmb()", "smp_rmb()", "smp_mb()", "rcu_read_lock()", "rcu_read_unlock()")
    for ln in lines:
        if ln.rstrip().endswith(fences):
            assert not ln[:5].strip(), ln


def test_one_commit_line_per_commit_before_the_violation(replayed):
    ex, v = replayed.execution, replayed.violation
    commits = [g for g in ex.ghosts if isinstance(g[1], Commit) and g[2] <= v.at]
    text = render_trace(ex, v.at)
    assert text.count("-- commit:") == len(commits)
    # a commit is a step of its own: it carries the step number
    for ln in text.splitlines():
        if "-- commit:" in ln:
            assert ln[:5].strip().startswith("#"), ln


def test_report_shows_the_real_committed_versions(replayed):
    v, ex = replayed.violation, replayed.execution
    report = render_violation(v, ex)
    assert report.startswith(f"VIOLATION: {v.rule}")
    if replayed.variant.family == "seqlock":
        # the seqlock's own report hook: the pair returned and where each value came from
        assert "values returned, and the stores they came from:" in report
        assert re.search(r"\n    a = \d+ +read at #\d+, from ", report)
        assert re.search(r"\n    b = \d+ +read at #\d+, from ", report)
        return
    if replayed.variant.family == "C":
        # protocol C's report hook (docs/protocols-c.md): the story of the use after
        # free, or the returned VMA's state and where it came from
        want = "how it happened:" if v.rule == USE_AFTER_FREE else \
            "the VMA when the lock was returned (the latest stores made by then):"
        assert want in report
        assert re.search(r"\n    (#\d+ |vm_mm +=)", report)
        return
    versions = report.split("committed versions at that point:")[1]
    assert "NULL" not in versions and "incarnation None" not in versions
    if v.rule == USE_AFTER_FREE:
        assert "vma0: vm_file=" in versions


def test_a_long_run_report_shows_the_versions_that_matter_and_counts_the_rest():
    """A-narrow-seq at 256 cycles commits 257 versions: the report shows the first,
    those whose file the lookup used, and the last three, and counts the others."""
    from models.events import Obj
    from models.vma.invariant import TORN, Consumed, Violation
    files = [Obj(f"file{k}", "file") for k in range(20)]
    versions = tuple((f"V{k}", {"vma0": {"vm_file": files[k], "vm_pgoff": k, "vm_start": 0,
                                         "incarnation": f"i{k}"}}) for k in range(20))
    used = (Consumed("vm_file", files[5], None, None), Consumed("vm_pgoff", 9, None, None))
    v = Violation(TORN, 2, 0, "vma0", used, versions, "no single version has these values together")
    lines = v.report_lines(None, None)
    text = "\n".join(lines)
    shown = [ln.split(":")[0].strip() for ln in lines if ln.startswith("    V")]
    assert shown == ["V0", "V5", "V17", "V18", "V19"]
    assert "... 4 more committed versions" in text and "... 11 more committed versions" in text
    short = Violation(TORN, 2, 0, "vma0", used, versions[:8], "x")
    assert len([ln for ln in short.report_lines(None, None) if ln.startswith("    V")]) == 8
