"""Pictures of execution graphs (fuzz/graph.py, ``--graph FILE``).

The DOT text is checked without Graphviz; drawing .svg/.png needs Graphviz's
``dot`` and those tests skip, saying why, where it is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.corpus import collect, load, replay, resolve_variant
from fuzz.graph import (GraphError, check_graph_path, counterexample_dot, execution_dot, graph_path_for,
                        litmus_dot, violation_events, write_graph)
from models import litmus
from models.engine import Execution, FirstChooser, ThreadSpec
from models.events import Obj
from models.ops import READ_ONCE, WRITE_ONCE

ROOT = Path(__file__).resolve().parent.parent
NEEDS_DOT = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (apt-get install graphviz)")

MP = """C MP+pooncerelease+poacquireonce

{
	int x;
	int y;
}

P0(int *x, int *y)
{
	WRITE_ONCE(*x, 1);
	smp_store_release(y, 1);
}

P1(int *x, int *y)
{
	int r0;
	int r1;

	r0 = smp_load_acquire(y);
	r1 = READ_ONCE(*x);
}

exists (1:r0=1 /\\ 1:r1=0)
"""


def _replayed(variant: str):
    path = next(p for p in collect([ROOT / "corpus"]) if p.parent.name == variant)
    entry = load(path)
    return replay(entry, resolve_variant(entry, str(path)))


def _edges(dot: str, kind: str) -> list[tuple[str, str]]:
    return re.findall(rf'(e\d+) -> (e\d+) \[label="{kind}"', dot)


def test_counterexample_graph_has_threads_relations_and_the_broken_rule():
    r = _replayed("A-no-wmb")
    dot = counterexample_dot(r.execution, "A-no-wmb", r.violation)
    assert 'label="writer0"' in dot and 'label="reader0"' in dot
    ex = r.execution
    # rf: the reader's vm_file load reads the writer's new file (a red edge between columns).
    reads = [c for c in r.violation.consumed if c.field == "vm_file"]
    assert (f"e{reads[0].source}", f"e{reads[0].read}") in _edges(dot, "rf")
    # Every value the lookup used, and its store, is highlighted.
    for eid in violation_events(r.violation):
        if ex.events[eid].is_init:
            continue            # initial writes are not drawn (herd7's showinitwrites false)
        node = ex.events[eid].rmw if ex.events[eid].rmw is not None else eid
        assert re.search(rf"\n  e{node} \[[^\n]*color=red", dot), eid
    # The stale recheck load is marked.
    assert dot.count("STALE") == sum(1 for e in ex.events[:r.violation.at] if e.kind == "R" and ex.is_stale(e.eid))
    assert dot.count("STALE") >= 1
    # fr: the stale vm_lock_seq loads point at the store that overwrote what they read.
    assert _edges(dot, "fr")
    # Nothing after the violation is drawn.
    assert f"e{r.violation.at} " not in dot


def test_co_and_fr_only_between_threads():
    """co and fr edges join threads; within a thread po already orders them."""
    g = Obj("g", "globals", x=0)

    def a():
        yield READ_ONCE(g.x)       # reads the initial value, then b overwrites it: fre
        yield WRITE_ONCE(g.x, 1)

    def b():
        yield WRITE_ONCE(g.x, 2)
        yield WRITE_ONCE(g.x, 3)   # coi with the one before: not drawn

    ex = Execution([ThreadSpec("a", a), ThreadSpec("b", b)])
    ex.run(FirstChooser())          # a runs first: co is a's 1, then b's 2, 3
    dot = execution_dot(ex)
    w1, w2, w3 = ex.threads[0].events[1], *ex.threads[1].events
    assert _edges(dot, "co") == [(f"e{w1}", f"e{w2}")]
    assert _edges(dot, "fr") == []          # r's overwrite is a's own store: fri, not drawn
    assert f"e{w3}" in dot and _edges(dot, "rf") == []
    assert "(initial)" in dot


def test_dot_file_needs_no_graphviz(tmp_path):
    out = write_graph("digraph execution {}\n", tmp_path / "g.dot")
    assert out.read_text() == "digraph execution {}\n"


def test_bad_suffix_is_refused(tmp_path):
    with pytest.raises(GraphError, match="takes a .svg, .png or .dot"):
        check_graph_path(tmp_path / "g.jpg")
    with pytest.raises(GraphError):
        write_graph("digraph {}", tmp_path / "g.pdf")


def test_several_graphs_get_the_test_name():
    assert graph_path_for("out.svg", "MP+x", many=False) == Path("out.svg")
    assert graph_path_for("out.svg", "MP+x", many=True) == Path("out.MP+x.svg")


@NEEDS_DOT
@pytest.mark.parametrize("suffix,magic", [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_drawn_by_graphviz(tmp_path, suffix, magic):
    r = _replayed("B-no-rmb")
    out = write_graph(counterexample_dot(r.execution, "B-no-rmb", r.violation), tmp_path / f"g{suffix}")
    assert out.read_bytes().startswith(magic)


def test_litmus_graph_draws_a_witness():
    prog = litmus.parse(MP, "mp.litmus")
    dot = litmus_dot(prog)
    assert "no execution satisfies" in dot       # release/acquire forbid the outcome
    weak = litmus.parse(MP.replace("smp_store_release(y, 1)", "WRITE_ONCE(*y, 1)")
                        .replace("smp_load_acquire(y)", "READ_ONCE(*y)"), "mp2.litmus")
    dot = litmus_dot(weak)
    assert "an execution satisfying the condition" in dot
    assert "READ_ONCE(y) = 1" in dot and "READ_ONCE(x) = 0" in dot
    assert len(_edges(dot, "rf")) == 1 and len(_edges(dot, "fr")) == 1


# ------------------------------------------------------------ the options

def _vmafuzz(*args):
    return subprocess.run([sys.executable, "-m", "fuzz", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("command,status", [
    (("replay", "corpus/A/A-no-wmb"), 0),      # it reproduces
    (("explore", "A-no-wmb"), 1),               # a violation
    (("run", "B-no-rmb", "--seed", "1", "--no-save", "--max-examples", "300"), 1),
])
def test_graph_option_writes_dot(tmp_path, command, status):
    out = tmp_path / "g.dot"
    r = _vmafuzz(*command, "--no-trace", "--graph", str(out))
    assert r.returncode == status, r.stderr
    text = out.read_text()
    assert text.startswith("digraph execution {") and 'label="reader0"' in text and "color=red" in text


def test_litmus_graph_option(tmp_path):
    test = tmp_path / "mp.litmus"
    test.write_text(MP)
    out = tmp_path / "g.dot"
    r = _vmafuzz("litmus", str(test), "--graph", str(out))
    assert r.returncode == 0, r.stderr
    assert 'label="P0"' in out.read_text()


def test_graph_option_without_counterexample_says_so(tmp_path):
    out = tmp_path / "g.dot"
    r = _vmafuzz("explore", "B", "--graph", str(out), "--no-trace")
    assert r.returncode == 0, r.stderr
    assert not out.exists()
    assert r.stderr == f"vmafuzz: no counterexample: {out} not written\n"


def test_graph_option_bad_suffix_is_one_line(tmp_path):
    r = _vmafuzz("replay", "corpus/A/A-no-wmb", "--graph", str(tmp_path / "g.jpg"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"vmafuzz: {tmp_path / 'g.jpg'}: --graph takes a .svg, .png or .dot file name"
