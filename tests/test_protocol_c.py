"""Protocol C (models/vma_lock/, docs/protocols-c.md): the section 7 verdicts from
exploration, the shipped counterexample of the real use-after-free, the report a
kernel developer reads, and the litmus shape of C-relaxed-inc against herd7."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.cli import main
from fuzz.corpus import collect, load, replay, resolve_variant
from fuzz.exhaustive import check_variant
from fuzz.oracle import matches_expected
from fuzz.report import render_violation
from models import litmus
from models.protocol import registry, shipped
from models.registry import resolve
from models.scenario import Scenario
from models.vma_lock.invariant import DETACHED, FOREIGN, RANGE, USE_AFTER_FREE, WRITE_LOCKED
from models.vma_lock.kernel import MmFree, SlabGhost

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "protocol-c"
CORPUS = ROOT / "corpus" / "C"

# The rules the explorer's shortest counterexample breaks, per violated variant.
RULES = {
    "C-foreign-mm-put": {USE_AFTER_FREE},
    "C-no-mm-check": {FOREIGN},
    "C-no-range-check": {RANGE},
    "C-no-seq-check": {WRITE_LOCKED, DETACHED},
    "C-inc-always": {WRITE_LOCKED, DETACHED},
    "C-relaxed-inc": {WRITE_LOCKED, FOREIGN, RANGE, DETACHED},
}
C_FAMILY = [v for v in shipped() if v.family == "C"]


def test_registry_discovers_the_family_package():
    assert {"C", *RULES} <= set(registry())
    assert [v.name for v in C_FAMILY] == ["C", *RULES]


def test_list_shows_protocol_c(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["C-foreign-mm-put", "C"] for line in out.splitlines())


@pytest.mark.parametrize("variant", C_FAMILY, ids=lambda v: v.name)
def test_exploration_gives_the_section_7_verdict(variant):
    r = check_variant(variant, Scenario.default_for(variant))
    assert matches_expected(variant.expected, r.verdict, r.race is not None), r.verdict
    assert r.race is None
    if r.verdict == "violated":
        assert r.violation.rule in RULES[variant.name]


def test_c_holds_on_the_real_race_and_the_fix_is_what_makes_it_hold():
    """The real race's scenario: a reader, its own process unmapping, another
    process mapping the freed slot, unmapping and exiting. C holds on it; the code
    before the fix, on the same scenario, frees the other mm under the reader."""
    scenario = Scenario(writers=2, cycles=1)
    assert check_variant(resolve("C"), scenario).verdict == "holds"
    bug = check_variant(resolve("C-foreign-mm-put"), scenario)
    assert bug.verdict == "violated" and bug.violation.rule == USE_AFTER_FREE


def _foreign_mm_put_file() -> Path:
    files = collect([CORPUS / "C-foreign-mm-put"])
    assert files, "no corpus file for C-foreign-mm-put"
    return files[0]


def test_corpus_holds_the_real_bug_in_order():
    """The shipped trace replays, and holds the bug's steps in order: the reader's
    increment on the reused slot; its decrement, which the other process's wait for
    readers reads (so that wait does not sleep); the other mm's free; then the
    reader's wake-up touching that mm."""
    path = _foreign_mm_put_file()
    entry = load(path)
    r = replay(entry, resolve_variant(entry, str(path)))
    assert r.reproduces, r.reason
    assert r.violation.rule == USE_AFTER_FREE
    ex = r.execution
    reader = next(t.tid for t in ex.threads if t.spec.name == "reader0")
    other = next(t.tid for t in ex.threads if t.spec.name == "writer1")
    ev = ex.events
    reuse = next(e.eid for e in ev if isinstance(e.ghost, SlabGhost) and e.ghost.op == "alloc"
                 and e.tid == other)
    inc = next(e.eid for e in ev if e.tid == reader and e.kind == "W" and e.rmw is not None
               and e.loc.name == "vma->vm_refcnt" and e.value == ev[e.rmw].value + 1)
    dec = next(e.eid for e in ev if e.tid == reader and e.kind == "W" and e.rmw is not None
               and e.loc.name == "vma->vm_refcnt" and e.value == ev[e.rmw].value - 1)
    wait = next(e.eid for e in ev if e.tid == other and e.label == "refcount_read" and e.eid > dec)
    free = next(e.eid for e in ev if isinstance(e.ghost, MmFree) and e.ghost.mm == "other_mm")
    wake = next(e.eid for e in ev if e.tid == reader and e.label == "rcuwait_wake_up")
    assert reuse < inc < dec < wait < free < wake
    assert ex.rf[wait] == dec                                        # the wait read the reader's put
    assert not any(e.tid == other and e.label == "schedule" for e in ev)   # and did not sleep
    assert ex.rf[wake] == free                                       # the wake-up read freed memory
    assert r.execution.steps == check_variant(resolve("C-foreign-mm-put"),
                                              entry.scenario).shortest_steps


def test_use_after_free_report_reads_like_the_bug():
    path = _foreign_mm_put_file()
    entry = load(path)
    r = replay(entry, resolve_variant(entry, str(path)))
    text = render_violation(r.violation, r.execution)
    for needle in ("use after free", "kmem_cache_free", "the same slot becomes a VMA of other_mm",
                   "refcount_inc_not_zero_limited_acquire: vm_refcnt 1 -> 2",
                   "it does not sleep", "__mmdrop frees other_mm",
                   "rcuwait_wake_up reads other_mm->vma_writer_wait", "rule broken"):
        assert needle in text, needle


@pytest.mark.parametrize("name", ["C-relaxed-inc", "C-acquire-inc"])
def test_relaxed_inc_litmus_agrees_with_herd7(name):
    """The essential shape of C-relaxed-inc (docs/protocols-c.md): herd7's committed
    verdict and states, and vmafuzz litmus's."""
    path = DATA / f"{name}.litmus"
    herd = litmus.read_herd_output(path.with_suffix(".herd7.out").read_text())
    result = litmus.run(litmus.parse_file(str(path)))
    assert litmus.state_lines(result) == herd.states
    assert result.observation == herd.observation
    assert herd.observation == ("Sometimes" if name == "C-relaxed-inc" else "Never")


def test_bad_scenario_option_is_one_line(capsys):
    assert main(["explore", "C", "--vmas", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "C" in err[0]
