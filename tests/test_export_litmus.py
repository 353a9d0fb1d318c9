"""Counterexamples exported as LKMM C litmus tests (fuzz/export_litmus.py, tests/exports/).

Every shipped counterexample's export is committed with herd7's output
(tests/exports/regen). Here: the exporter still writes exactly the committed
text, herd7 answered Sometimes for each export (Never for the fixed shapes),
and ``vmafuzz litmus`` on each export agrees with herd7's states and verdict.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.corpus import collect
from fuzz.export_litmus import (FIXES, ExportError, c_name, export_execution, export_file, export_path,
                                fixed_path, strengthened_path)
from models import litmus
from models.engine import Execution, FirstChooser, ThreadSpec
from models.events import Obj
from models.ops import (READ_ONCE, WRITE_ONCE, refcount_add_not_zero, refcount_dec_and_test, refcount_inc,
                        refcount_inc_not_zero_limited_acquire, smp_store_release, smp_wmb)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
EXPORTS = ROOT / "tests" / "exports"


def _shipped(files: list[Path]) -> list[Path]:
    """The corpus files the repository ships (tracked by git). A campaign run in this
    checkout (the README's main job) saves new counterexamples beside them; those
    have no committed export, and are the user's, not the repository's."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", "corpus"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return files            # not a git checkout (an unpacked sdist): every file
    tracked = {(ROOT / p).resolve() for p in out.decode().split("\0") if p}
    return [f for f in files if f.resolve() in tracked] if tracked else files


CORPUS_FILES = _shipped(collect([CORPUS]))
TIMEOUTS = {line.strip() for line in (EXPORTS / "herd7-timeouts.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")} \
    if (EXPORTS / "herd7-timeouts.txt").exists() else set()
# Outputs herd7 gave with -speedcheck fast (tests/exports/regen's last try on a
# strengthened export): it stops at the first execution that satisfies the exists
# clause, so the output has that one state, "Ok", "Positive: 1 Negative: 0" and an
# Observation of Always that only means no other state was listed.
SPEEDCHECKED = {line.strip() for line in (EXPORTS / "herd7-speedcheck.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")} \
    if (EXPORTS / "herd7-speedcheck.txt").exists() else set()


# Corpus files the exporter refuses, with its one-line reason (written by
# tests/exports/regen): no litmus test can be shipped for them until it learns
# their shapes. Each must still be refused with exactly that reason: once the
# exporter can export one, regen exports it.
UNEXPORTABLE = dict(line.split(": cannot export: ", 1)
                    for line in (EXPORTS / "unexportable.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")) \
    if (EXPORTS / "unexportable.txt").exists() else {}


def _unexportable(p: Path) -> bool:
    return str(p.relative_to(ROOT)) in UNEXPORTABLE


def _protocol(p: Path) -> str:
    return p.relative_to(CORPUS).parts[0]


def _export_of(p: Path) -> Path:
    rel = p.relative_to(CORPUS)
    return export_path(EXPORTS, p, rel.parts[1], rel.parts[0])


def _exports() -> list[Path]:
    return sorted(EXPORTS.rglob("*.litmus"))


def _timed_out(p: Path) -> bool:
    """herd7 did not finish the export of corpus file ``p`` (herd7-timeouts.txt): regen
    then ships its strengthened export too (<hash>+acq.litmus, docs/exporting.md)."""
    target = _export_of(p)
    return str(target.relative_to(EXPORTS)) in TIMEOUTS


def _id(p: Path) -> str:
    return str(p.relative_to(EXPORTS if EXPORTS in p.parents else CORPUS))


# ------------------------------------------------------------ the committed exports

def test_every_shipped_counterexample_is_exported():
    assert CORPUS_FILES, "no corpus files found"
    missing = [str(_export_of(p)) for p in CORPUS_FILES
               if not _export_of(p).is_file() and not _unexportable(p)]
    assert not missing, f"not exported (run tests/exports/regen): {missing}"
    exported = {_export_of(p) for p in CORPUS_FILES if not _unexportable(p)}
    exported |= {fixed_path(p) for p in exported}
    strengthened = {strengthened_path(_export_of(p)) for p in CORPUS_FILES
                    if not _unexportable(p) and _timed_out(p)}
    missing = [str(p) for p in strengthened if not p.is_file()]
    assert not missing, f"herd7 did not finish these, and no strengthened export (run tests/exports/regen): {missing}"
    exported |= strengthened
    stale = [str(p) for p in _exports() if p not in exported]
    assert not stale, f"exports of no corpus file (run tests/exports/regen): {stale}"


@pytest.mark.parametrize("rel", sorted(UNEXPORTABLE))
def test_unexportable_files_are_still_refused_for_that_reason(rel):
    path = ROOT / rel
    assert path in CORPUS_FILES, f"{rel}: listed in unexportable.txt but not in the corpus"
    with pytest.raises(ExportError) as info:
        export_file(path, source=rel)
    assert str(info.value) == UNEXPORTABLE[rel].strip()
    assert not _export_of(path).exists()


@pytest.mark.parametrize("path", [p for p in CORPUS_FILES if not _unexportable(p)], ids=_id)
def test_export_is_what_the_exporter_writes(path):
    exported, entry = export_file(path, source=str(path.relative_to(ROOT)))
    target = _export_of(path)
    assert target.read_text() == exported.test.render(), f"{target} is stale: run tests/exports/regen"
    if exported.fixed is None:
        assert entry.variant_name not in FIXES
        assert not fixed_path(target).exists()
    else:
        assert entry.variant_name in FIXES
        assert fixed_path(target).read_text() == exported.fixed.render()
    if _timed_out(path):
        strong, _ = export_file(path, source=str(path.relative_to(ROOT)), strengthen=True)
        assert strong.fixed is None
        assert strengthened_path(target).read_text() == strong.test.render(), \
            f"{strengthened_path(target)} is stale: run tests/exports/regen"


# Why herd7 cannot answer these at all, measured (docs/exporting.md, docs/benchmarks.md).
HERD7_OUT_OF_REACH = {
    "C/C-foreign-mm-put/9af0fd28f222dd3ef384+acq.litmus":
        ": 10^12.0 rf maps on its witness's event structure alone, 98% of them before the witness "
        "in -speedcheck fast's order; herd7 does some 3 x 10^4 a second",
}


def _herd(path: Path) -> litmus.HerdOutcome:
    rel = str(path.relative_to(EXPORTS))
    out = path.with_name(path.name[:-len(".litmus")] + ".herd7.out")
    if rel in TIMEOUTS:
        pytest.xfail(f"herd7 did not finish {rel} within tests/exports/regen's time limit "
                     f"(herd7-timeouts.txt){HERD7_OUT_OF_REACH.get(rel, '')}")
    assert out.is_file(), f"{out}: no herd7 output (run tests/exports/regen)"
    text = out.read_text()
    outcome = litmus.read_herd_output(text)
    if _speedchecked(path):
        # The exists clause held in some allowed execution (Ok): Sometimes, as far as
        # the run is concerned; No: none of them (the search is complete): Never.
        positive = re.search(r"^Positive: (\d+) ", text, re.M)
        ok = re.search(r"^Ok$", text, re.M) is not None and positive is not None and int(positive.group(1)) > 0
        return litmus.HerdOutcome(outcome.states, "Sometimes" if ok else "Never", outcome.flags)
    return outcome


def _speedchecked(path: Path) -> bool:
    out = path.with_name(path.name[:-len(".litmus")] + ".herd7.out")
    return str(out.relative_to(EXPORTS)) in SPEEDCHECKED


@pytest.mark.parametrize("path", _exports(), ids=_id)
def test_herd7_verdict(path):
    want = "Never" if path.name.endswith("+fixed.litmus") else "Sometimes"
    assert _herd(path).observation == want


# vmafuzz on the exports: the slow ones (several writer cycles) are left to -m slow.
SLOW_STATES = 400_000
# Exports vmafuzz's exhaustive run does not finish within SLOW_STATES, measured
# (`vmafuzz litmus FILE`): for these vmafuzz's verdict is its witness search's
# (`vmafuzz litmus --witness`, litmus.witness: depth first to the first execution
# satisfying the exists clause, pruned where a pinned register took another value),
# measured at 0.02-0.1 s and 40-200 states each; its one state must be one herd7 lists.
WITNESS_SEARCH = {
    "C/C-no-mm-check/e2b37403dc738d74333e+acq.litmus":
        "exhaustive: more than 1,000,000 states (479 s, 2.9 GB); herd7 answers it in 98 s",
    "C/C-no-mm-check/e2b37403dc738d74333e.litmus":
        "exhaustive: not finished in 120 s (1.4 GB); herd7 answers its strengthened export",
    "C/C-foreign-mm-put/9af0fd28f222dd3ef384.litmus":
        "exhaustive: not finished in 120 s (1.7 GB); nor does herd7 finish it",
    "C/C-foreign-mm-put/9af0fd28f222dd3ef384+acq.litmus":
        "exhaustive: more than 1,000,000 states (343 s, 3.1 GB); nor does herd7 finish it",
}


def _witness(path: Path) -> litmus.LitmusResult:
    result = litmus.witness(litmus.parse_file(str(path)), max_states=SLOW_STATES)
    assert result.search == "witness", f"{_id(path)}: no witness found ({WITNESS_SEARCH[_id(path)]})"
    return result


@pytest.mark.parametrize("path", _exports(), ids=_id)
def test_vmafuzz_litmus_agrees_with_herd7(path):
    herd = _herd(path)
    if _id(path) in WITNESS_SEARCH:
        result = _witness(path)
        assert result.observation == herd.observation == "Sometimes"
        assert litmus.state_lines(result) <= herd.states
        assert set(result.flags) <= set(herd.flags)
        return
    try:
        result = litmus.run(litmus.parse_file(str(path)), max_states=SLOW_STATES)
    except litmus.LitmusError as exc:
        if "not explored to the end" in str(exc):
            pytest.skip(f"more than {SLOW_STATES} states for vmafuzz")
        raise
    assert result.observation == herd.observation
    if _speedchecked(path):     # herd7 listed the witness alone
        assert herd.states <= litmus.state_lines(result)
        assert set(herd.flags) <= set(result.flags)
        return
    assert litmus.state_lines(result) == herd.states
    assert set(result.flags) == set(herd.flags)


@pytest.mark.parametrize("path", [p for p in _exports() if not p.name.endswith("+fixed.litmus")], ids=_id)
def test_witness_search_finds_a_state_herd7_lists(path):
    """The witness search on every export herd7 answered: one of herd7's states."""
    herd = _herd(path)
    result = litmus.witness(litmus.parse_file(str(path)), max_states=SLOW_STATES)
    assert result.search == "witness"
    assert result.observation == "Sometimes" == herd.observation
    assert litmus.state_lines(result) <= herd.states


# ------------------------------------------------------------ the exporter itself

def _run(*bodies):
    ex = Execution([ThreadSpec(f"t{i}", b) for i, b in enumerate(bodies)])
    ex.run(FirstChooser())
    return ex


def test_dependencies_become_c_dependencies():
    """addr through a pointer register, data as arithmetic on the register, ctrl as a branch."""
    target = Obj("obj", "thing", val=0)
    old = Obj("old", "thing", val=9)
    x = Obj("g", "globals", ptr=old, seq=3, out=0)

    def writer():
        yield WRITE_ONCE(target.val, 5)
        yield smp_wmb()
        yield smp_store_release(x.ptr, target)

    def reader():
        p = yield READ_ONCE(x.ptr)
        v = yield READ_ONCE(p.val)          # addr on the pointer load
        s = yield READ_ONCE(x.seq)
        if s == 3:                          # ctrl on s
            yield WRITE_ONCE(x.out, v + 1)  # data on v

    def order():    # the writer first, so the reader sees the pointer
        yield from writer()

    ex = Execution([ThreadSpec("writer0", order), ThreadSpec("reader0", reader)])
    ex.run(FirstChooser())
    text = export_execution(ex, "deps").render()
    assert "r1 = READ_ONCE(*r0);" in text
    assert "if (r2 == 3) {" in text
    assert "WRITE_ONCE(*g_out, r1 + 1);" in text
    assert "smp_store_release(g_ptr, obj_val);" in text
    assert "int *g_ptr=old_val;" in text
    assert "exists (1:r0=obj_val /\\ 1:r1=5 /\\ 1:r2=3)" in text
    # vmafuzz runs the export and finds the run allowed.
    prog = litmus.parse(text, "deps.litmus")
    assert litmus.run(prog).observation == "Sometimes"


def test_branch_followed_by_no_store_is_left_out():
    x = Obj("g", "globals", a=1, b=0)

    def reader():
        a = yield READ_ONCE(x.a)
        if a == 1:
            yield READ_ONCE(x.b)

    text = export_execution(_run(reader), "noctrl").render()
    assert "if (" not in text
    assert "r1 = READ_ONCE(*g_b);" in text


def test_two_fields_through_one_pointer_keep_both_dependencies_through_copies():
    """No structs in C litmus: the pointer location becomes one copy per field, every
    store to it a store to each copy, every load a load of each, and each field is
    reached through its own copy's register."""
    obj = Obj("o", "thing", f=0, g=0)
    new = Obj("o2", "thing", f=1, g=1)
    x = Obj("h", "globals", ptr=obj)

    def writer():
        yield WRITE_ONCE(x.ptr, new)

    def reader():
        p = yield READ_ONCE(x.ptr)
        yield READ_ONCE(p.f)
        yield READ_ONCE(p.g)

    text = export_execution(_run(reader, writer), "two").render()
    assert "int *h_ptr__f=o_f;" in text and "int *h_ptr__g=o_g;" in text
    assert "WRITE_ONCE(*h_ptr__f, o2_f);\n\tWRITE_ONCE(*h_ptr__g, o2_g);" in text
    assert "r0 = READ_ONCE(*h_ptr__f);\n\tr1 = READ_ONCE(*h_ptr__g);" in text
    assert "r2 = READ_ONCE(*r0);" in text and "r3 = READ_ONCE(*r1);" in text
    assert "0:r0=o_f /\\ 0:r1=o_g" in text
    assert litmus.run(litmus.parse(text, "two.litmus")).observation == "Sometimes"


def test_two_fields_through_pointers_from_two_locations_are_refused():
    obj = Obj("o", "thing", f=0, g=0)
    x = Obj("h", "globals", ptr=obj, other=obj)

    def writer():
        yield WRITE_ONCE(x.ptr, None)
        yield WRITE_ONCE(x.other, None)

    def reader():
        p = yield READ_ONCE(x.ptr)
        yield READ_ONCE(p.f)
        q = yield READ_ONCE(x.other)
        yield READ_ONCE(q.g)

    with pytest.raises(ExportError, match="loaded from 2 locations"):
        export_execution(_run(reader, writer), "two")


def test_refcount_rmws_are_the_atomic_they_are():
    """A successful *_not_zero loop is a fetch_add of its ordering with the old count
    pinned; a failed one is a relaxed read; sub_and_test is a release fetch_sub, its
    acquire on zero the model's smp_rmb() after the branch."""
    r = Obj("vma", "vm_area_struct", vm_refcnt=1, dead=0)

    def reader():
        yield refcount_inc_not_zero_limited_acquire(r.vm_refcnt, 8)
        yield refcount_add_not_zero(4, r.dead)           # 0: gives up
        yield refcount_inc(r.vm_refcnt)
        if (yield from refcount_dec_and_test(r.vm_refcnt)):
            yield WRITE_ONCE(r.dead, 1)

    text = export_execution(_run(reader), "ref").render()
    assert "r0 = atomic_fetch_add_acquire(1, vma_vm_refcnt); // refcount_inc_not_zero_limited_acquire" in text
    assert "r1 = READ_ONCE(*vma_dead); // refcount_add_not_zero (failed: no write)" in text
    assert "r2 = atomic_fetch_add_relaxed(1, vma_vm_refcnt); // refcount_inc" in text
    assert "r3 = atomic_fetch_sub_release(1, vma_vm_refcnt); // refcount_dec_and_test" in text
    assert "0:r0=1 /\\ 0:r1=0 /\\ 0:r2=2 /\\ 0:r3=3" in text
    assert litmus.run(litmus.parse(text, "ref.litmus")).observation == "Always"   # one thread


def test_c_names():
    assert c_name("vma0->vm_file") == "vma0_vm_file"
    assert c_name("mm->mm_mt[0x14000]") == "mm_mm_mt_0x14000"


# ------------------------------------------------------------ the command

def _vmafuzz(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "fuzz", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_command_writes_the_corpus_layout(tmp_path):
    src = next(p for p in CORPUS_FILES if p.parent.name == "A-no-wmb")
    r = _vmafuzz("export-litmus", str(src), "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    written = tmp_path / "A" / "A-no-wmb" / f"{src.stem}.litmus"
    assert r.stdout.split() == [str(written), str(fixed_path(written))]
    assert "smp_wmb();" in fixed_path(written).read_text()
    assert "smp_wmb();" not in written.read_text().split("*)", 1)[1]


def test_command_prints_without_output_dir():
    src = next(p for p in CORPUS_FILES if p.parent.name == "B-no-rmb")
    r = _vmafuzz("export-litmus", str(src))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("C B-no-rmb\n") and "C B-no-rmb+fixed\n" in r.stdout


def test_command_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    r = _vmafuzz("export-litmus", str(bad))
    assert r.returncode == 2
    assert r.stderr.startswith(f"vmafuzz: {bad}: line 1 column 2: invalid JSON")
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr


def test_explore_litmus_option_writes_the_shipped_export(tmp_path):
    """The explorer's shortest counterexample is the shipped corpus trace: same test."""
    out = tmp_path / "a.litmus"
    r = _vmafuzz("explore", "A-no-wmb", "--no-trace", "--litmus", str(out))
    assert r.returncode == 1, r.stderr
    src = next(p for p in CORPUS_FILES if p.parent.name == "A-no-wmb")
    shipped = _export_of(src)

    def body(text):
        return text.split("*)", 1)[1]

    assert body(out.read_text()) == body(shipped.read_text())
    assert body(fixed_path(out).read_text()) == body(fixed_path(shipped).read_text())


@pytest.mark.parametrize("path", [p for p in CORPUS_FILES if not _unexportable(p) and _timed_out(p)], ids=_id)
def test_herd7_answers_the_strengthened_export_where_the_export_did_not_finish(path):
    """The issue's done-when: every shipped counterexample has an export herd7 answers
    Sometimes. Where herd7 cannot finish the faithful one, the strengthened one (its
    loads that addresses depend on made acquires, docs/exporting.md) must be answered,
    Sometimes: LKMM then allows the run, whose orderings are weaker."""
    strong = strengthened_path(_export_of(path))
    assert _herd(strong).observation == "Sometimes"


def test_strengthened_export_makes_dependency_sources_acquires_and_unseen_accesses_fences():
    """--strengthen: a load addresses depend on is an acquire and the fields are named
    directly; an access no other thread can see or affect is an smp_mb() (a load of a
    location only its thread writes, whose value coherence fixes; a store to, or an
    RMW of, a location only its thread touches), and a branch or a stored value that
    used its register loses it."""
    obj = Obj("o", "thing", f=0, g=0)
    new = Obj("o2", "thing", f=1, g=1)
    x = Obj("h", "globals", ptr=obj, seq=4, mine=0)

    def writer():
        s = yield READ_ONCE(x.seq)              # only the writer writes seq: a fence
        yield WRITE_ONCE(x.mine, 7)              # nobody else touches mine: a fence
        yield WRITE_ONCE(new.f, 1)
        yield smp_wmb()
        yield WRITE_ONCE(x.ptr, new)
        if s == 4:
            yield WRITE_ONCE(x.seq, s + 1)       # the constant 5, no branch

    def reader():
        p = yield READ_ONCE(x.ptr)
        yield READ_ONCE(p.f)
        yield READ_ONCE(p.g)                     # nobody writes o2->g: a fence
        yield READ_ONCE(x.seq)

    faithful = export_execution(_run(writer, reader), "two").render()
    assert "h_ptr__f" in faithful                                   # split copies, registers
    text = export_execution(_run(writer, reader), "two", strengthen=True).render()
    body = text.split("*)", 1)[1]
    assert "__" not in body                                         # no copies
    assert "\tsmp_mb();\n\tWRITE_ONCE(*o2_f, 1);" in body            # the seq load and the mine store
    assert "if (" not in body and "WRITE_ONCE(*h_seq, 5);" in body
    assert "r0 = smp_load_acquire(h_ptr); // READ_ONCE, made an acquire (strengthened export)" in body
    assert "r1 = READ_ONCE(*o2_f);\n\tsmp_mb();\n\tr3 = READ_ONCE(*h_seq);" in body
    assert "exists (1:r0=o2_f /\\ 1:r1=1 /\\ 1:r3=5)" in body
    assert litmus.run(litmus.parse(text, "two.litmus")).observation == "Sometimes"


@pytest.mark.parametrize("rel", sorted(TIMEOUTS))
def test_vmafuzz_verdict_where_herd7_did_not_finish(rel):
    """No herd7 output to compare with: at least vmafuzz's own verdict must be the
    expected one (the run allowed, its fixed shape forbidden)."""
    path = EXPORTS / rel
    want = "Never" if path.name.endswith("+fixed.litmus") else "Sometimes"
    if rel in WITNESS_SEARCH:
        assert _witness(path).observation == want == "Sometimes"
        return
    try:     # A-narrow-seq: 23 s; C-no-range-check: 5 s
        result = litmus.run(litmus.parse_file(str(path)), max_states=SLOW_STATES)
    except litmus.LitmusError as exc:
        if "not explored to the end" in str(exc):
            pytest.skip(f"more than {SLOW_STATES} states for vmafuzz: too slow for the suite")
        raise
    assert result.observation == want
