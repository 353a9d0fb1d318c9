"""Pictures of an execution graph (``--graph FILE.svg|.png|.dot``), in herd7's style.

One column per thread, its events top to bottom in program order (``po``, the
unlabelled black arrows),
and the relations between threads: ``rf`` (red, store to the load that read it),
``co`` (blue, each store to the next one at its location), ``fr`` (orange, a load to
the store that overwrote what it read; both only between threads: within one the
coherence order is program order; a load of its own thread's store says so in its
label instead of an ``rf`` edge) and, thin and grey, the ``addr``/``data``
dependencies. The events of the broken rule (the values the failing lookup used,
the stores they came from, a data race's two accesses) are filled red; a load that
read a value already overwritten is marked STALE. Loads of initial values say so
in their label instead of drawing an edge from an initial write (herd7's
``showinitrf false``).

The DOT text is made here; Graphviz's ``dot`` command draws ``.svg`` and ``.png``
(Debian's ``graphviz`` package). A ``.dot`` file needs no Graphviz.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable

from models.engine import Execution
from models.events import Event, Loc

from .report import Trace, _fmt

FORMATS = (".svg", ".png", ".dot")
COLOURS = {"po": "black", "rf": "red", "co": "blue", "fr": "darkorange", "dep": "gray50"}


class GraphError(Exception):
    """A picture that cannot be made (bad suffix, no Graphviz): one line."""


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _value(v: Any) -> str:
    return v.name if isinstance(v, Loc) else _fmt(v)


def execution_dot(ex: Execution, upto: int | None = None, title: str = "",
                  highlight: Iterable[int] = (), steps: bool = True) -> str:
    """The DOT text of ``ex``'s graph (its events before ``upto``). ``highlight``:
    the events of the broken rule. ``steps``: label events with their step number
    in the run (``#12``), as the text trace does."""
    upto = len(ex.events) if upto is None else upto
    tr = Trace(ex, upto)
    events = ex.events
    hl = set(highlight)
    rmw_write = {e.rmw: e.eid for e in events[:upto] if e.rmw is not None}
    node_of: dict[int, int] = {}           # an RMW's write is drawn with its read
    for r, w in rmw_write.items():
        node_of[w] = r

    def node(eid: int) -> str:
        return f"e{node_of.get(eid, eid)}"

    def label(ev: Event) -> str:
        step = f"#{tr.step_of(ev.eid)} " if steps else ""
        if ev.kind == "F":
            return f"{ev.label}()"
        loc = ev.loc.name
        if ev.kind == "W":
            return f"{step}{ev.label}({loc}, {_value(ev.value)})"
        text = f"{step}{ev.label}({loc})"
        w = rmw_write.get(ev.eid)
        if w is not None:
            text += f": {_value(ev.value)} -> {_value(events[w].value)}"
        else:
            text += f" = {_value(ev.value)}"
        src = ex.rf.get(ev.eid)
        if src is not None and events[src].is_init:
            text += "  (initial)"
        elif src is not None and events[src].tid == ev.tid and ev.eid not in hl:
            # rfi: said in the label; an edge within a column only crowds it
            text += f"  (from #{tr.step_of(src)})" if steps else "  (rfi)"
        if ex.is_stale(ev.eid):
            text += "  STALE"
        return text

    out = ["digraph execution {",
           '  graph [rankdir=TB, nodesep=0.35, ranksep=0.3, fontname="Helvetica", fontsize=11, '
           f'labelloc=t, label="{_esc(title)}"];',
           '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", '
           'fontsize=10, height=0.3];',
           '  edge [fontname="Helvetica", fontsize=8, arrowsize=0.6];']
    shown: list[int] = []
    rows: list[list[str]] = []
    for t in ex.threads:
        evs = [e for e in t.events if e < upto
               and events[e].rmw is None]
        if not evs:
            continue
        # One column per thread: a title, then the events chained by po. No cluster
        # boxes: edges between columns then run straight instead of around boxes.
        head = f"t{t.tid}"
        out.append(f'  {head} [label="{_esc(t.spec.name)}", shape=plaintext, style="", fontsize=12];')
        chain = [head]
        for e in evs:
            ev = events[e]
            attrs_ = [f'label="{_esc(label(ev))}"']
            if ev.kind == "F":
                attrs_ += ["shape=plaintext", 'style=""', "fontcolor=darkgreen"]
            highlighted = e in hl or rmw_write.get(e) in hl
            if highlighted:
                attrs_ += ["fillcolor=mistyrose", "color=red", "penwidth=2"]
            elif ev.kind == "R" and ex.is_stale(e):
                attrs_ += ["fillcolor=lightyellow", "color=darkorange", "penwidth=2"]
            out.append(f"  {node(e)} [{', '.join(attrs_)}];")
            chain.append(node(e))
        out.append(f"  {head} -> {chain[1]} [style=invis, weight=100];")
        for a, b in zip(chain[1:], chain[2:]):
            out.append(f'  {a} -> {b} [color={COLOURS["po"]}, weight=100];')
        for i, n in enumerate(chain):
            if i >= len(rows):
                rows.append([])
            rows[i].append(n)
        shown += evs
    # herd7's grid: the i-th event of every thread on one row.
    for row in rows:
        if len(row) > 1:
            out.append("  { rank=same; " + "; ".join(row) + "; }")
    for a, b in zip(rows[0], rows[0][1:]):
        out.append(f"  {a} -> {b} [style=invis];")
    drawn = set(shown) | {rmw_write[r] for r in shown if r in rmw_write}
    # Cross edges do not move the columns (constraint=false): po alone lays them out.
    extra = "constraint=false"
    for r, w in sorted(ex.rf.items()):
        if r in drawn and w in drawn and (events[w].tid != events[r].tid or r in hl):
            style = "bold" if r in hl and w in hl else "solid"
            out.append(f'  {node(w)} -> {node(r)} [label="rf", color={COLOURS["rf"]}, '
                       f'fontcolor={COLOURS["rf"]}, style={style}, {extra}];')
    for loc, order in sorted(ex.co.items(), key=lambda kv: kv[0].name):
        ws = [w for w in order if w in drawn]
        for a, b in zip(ws, ws[1:]):
            if events[a].tid == events[b].tid:
                continue   # coi: po already orders them (CoWW)
            out.append(f'  {node(a)} -> {node(b)} [label="co", color={COLOURS["co"]}, '
                       f'fontcolor={COLOURS["co"]}, {extra}];')
        # fr: each load to the store right after the one it read (herd7 draws every
        # co-later store; the next one is enough to see the overwrite).
        for r, w in ex.rf.items():
            if r not in drawn or events[r].loc != loc or r in node_of.values() and r in rmw_write:
                continue
            pos = order.index(w) + 1 if w in order else None
            nxt = next((x for x in order[pos:] if x in drawn), None) if pos is not None else None
            if nxt is not None and node(nxt) != node(r) and events[nxt].tid != events[r].tid:
                out.append(f'  {node(r)} -> {node(nxt)} [label="fr", color={COLOURS["fr"]}, '
                           f'fontcolor={COLOURS["fr"]}, style=dashed, {extra}];')
    for e in shown:
        ev = events[e]
        for kind, srcs in (("addr", ev.addr), ("data", ev.data - {ev.rmw} if ev.rmw else ev.data)):
            for s in sorted(srcs):
                if s in drawn and node(s) != node(e) and s < e:
                    out.append(f'  {node(s)} -> {node(e)} [label="{kind}", color={COLOURS["dep"]}, '
                               f'fontcolor={COLOURS["dep"]}, penwidth=0.6, {extra}];')
    out.append("}")
    return "\n".join(out) + "\n"


def write_graph(dot_text: str, path: str | Path) -> Path:
    """Write ``dot_text`` to ``path``: as DOT for ``.dot``, drawn by Graphviz for
    ``.svg`` and ``.png``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise GraphError(f"{path}: --graph takes a .svg, .png or .dot file name")
    if suffix == ".dot":
        path.write_text(dot_text)
        return path
    dot = shutil.which("dot")
    if dot is None:
        raise GraphError(f"{path}: Graphviz's dot command is not installed "
                         f"(apt-get install graphviz), or ask for a .dot file")
    proc = subprocess.run([dot, f"-T{suffix[1:]}", "-o", str(path)], input=dot_text.encode(),
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GraphError(f"{path}: dot failed: {msg[0] if msg else proc.returncode}")
    return path


def check_graph_path(path: str | Path | None) -> None:
    """Refuse a bad ``--graph`` name before any work is done."""
    if path is not None and Path(path).suffix.lower() not in FORMATS:
        raise GraphError(f"{path}: --graph takes a .svg, .png or .dot file name")


# ---------------------------------------------------------------- what to draw

def violation_events(violation) -> set[int]:
    """The broken rule's events: every load the lookup used and its store."""
    out = set()
    for c in getattr(violation, "consumed", ()):   # a family's violation may name no loads
        if c.read is not None:
            out.add(c.read)
        if c.source is not None:
            out.add(c.source)
    return out


def race_events(race) -> set[int]:
    return {race.first, race.second}


def counterexample_dot(ex: Execution, title: str, violation=None, race=None) -> str:
    """The picture of a protocol counterexample stopped at its violation (or race)."""
    upto = violation.at if violation is not None else race.at if race is not None else None
    hl = violation_events(violation) if violation is not None else set()
    if race is not None:
        hl |= race_events(race)
    return execution_dot(ex, upto, title, hl)


def graph_path_for(path: str | Path, name: str, many: bool) -> Path:
    """``--graph`` with several tests or files: the test's name goes before the suffix."""
    path = Path(path)
    if not many:
        return path
    safe = "".join(c if c.isalnum() or c in "-_+." else "_" for c in name)
    return path.with_name(f"{path.stem}.{safe}{path.suffix}")


def litmus_witness(prog) -> tuple[Execution | None, bool]:
    """An execution of a litmus test to draw: the first one (in the explorer's
    order) whose final state satisfies the condition, else the first one; and
    whether it satisfies the condition."""
    from models import litmus
    from models.explore import explore_load_buffering, finals_only

    specs, locs = litmus.build(prog)
    keys = litmus._keys_of(prog.condition)
    first = None
    current = 0
    # every execution, as `vmafuzz litmus` explores them (no stale window, the
    # stores-first reduction: the same executions)
    for n, ex in explore_load_buffering(lambda spec: Execution(specs, speculation=spec, stale_window=None),
                                        persistent=finals_only(litmus.may_store(prog, locs))):
        if n != current:
            current, first = n, None
        state: dict[str, Any] = {k: 0 for k in keys if not k.startswith("[")}
        for t in ex.threads:
            for reg, v in t.result.items():
                state[f"{t.tid}:{reg}"] = v
        for name, loc in locs.items():
            state[f"[{name}]"] = ex.final_value(loc)
        if prog.filter is not None and not litmus._holds(prog.filter, state):
            continue
        if litmus._holds(prog.condition, state):
            return ex, True
        if first is None:
            first = ex
    return first, False


def litmus_dot(prog) -> str:
    ex, holds = litmus_witness(prog)
    if ex is None:
        raise GraphError(f"{prog.path}: the test has no execution to draw")
    what = "an execution satisfying the condition" if holds else "no execution satisfies the condition; the first one"
    return execution_dot(ex, None, f"{prog.name}: {what}", steps=False)


# ---------------------------------------------------------------- the commands' option

def add_graph_argument(p) -> None:
    p.add_argument("--graph", metavar="FILE",
                   help="draw the counterexample's execution graph to FILE.svg or FILE.png "
                        "(Graphviz's dot), or write FILE.dot")


def check_graph_option(path) -> None:
    """A bad ``--graph`` name is refused before any work (one line, exit 2)."""
    from .cli import UsageError
    try:
        check_graph_path(path)
    except GraphError as exc:
        raise UsageError(str(exc)) from None


def counterexample_title(variant_name: str, scenario: str, violation=None, race=None) -> str:
    what = violation.rule if violation is not None else "data race" if race is not None else "run"
    return f"{variant_name}: {what} ({scenario})"


def graph_counterexample(path, ex: Execution, variant_name: str, scenario: str, violation=None,
                         race=None) -> None:
    """``--graph FILE`` of ``explore``, ``run`` and ``replay``."""
    from .cli import UsageError
    try:
        write_graph(counterexample_dot(ex, counterexample_title(variant_name, scenario, violation, race),
                                       violation, race), path)
    except GraphError as exc:
        raise UsageError(str(exc)) from None


def graph_litmus(path, prog, many: bool) -> None:
    """``vmafuzz litmus --graph FILE``: one picture per test."""
    from .cli import UsageError
    try:
        write_graph(litmus_dot(prog), graph_path_for(path, prog.name, many))
    except GraphError as exc:
        raise UsageError(str(exc)) from None


def graph_replayed(graph, r, corpus_file, many: bool) -> None:
    """``replay --graph FILE``: the picture of one replayed corpus file (``corpus.Replayed``);
    with several files, each picture's name gets the variant and the file's hash."""
    if graph is None or (r.violation is None and r.race is None):
        return
    entry = r.entry
    is_race = entry.expected.rule == "data race"
    violation = None if is_race else r.violation
    race = r.race if violation is None else None
    out = graph_path_for(graph, f"{entry.variant_name}-{Path(corpus_file).stem}", many)
    from .export_litmus import _describe
    graph_counterexample(out, r.execution, entry.variant_name, _describe(entry.scenario, r.variant),
                         violation, race)


def add_counterexample_arguments(p) -> None:
    """``--graph FILE`` and ``--litmus FILE`` of ``explore`` and ``run``."""
    from .export_litmus import add_litmus_argument
    add_graph_argument(p)
    add_litmus_argument(p)


def counterexample_files(args, variant: type, scenario: str, ex: Execution | None, violation=None,
                         race=None) -> None:
    """Write what ``--graph`` and ``--litmus`` ask for, of the counterexample ``ex``
    stopped at ``violation`` (or ``race``); without one, say that nothing was written."""
    import sys
    wanted = [f for f in (getattr(args, "graph", None), getattr(args, "litmus", None)) if f]
    if not wanted:
        return
    if ex is None or (violation is None and race is None):
        sys.stderr.write(f"vmafuzz: no counterexample: {' and '.join(wanted)} not written\n")
        return
    if getattr(args, "graph", None):
        graph_counterexample(args.graph, ex, variant.name, scenario, violation, race)
    if getattr(args, "litmus", None):
        from .export_litmus import litmus_counterexample
        litmus_counterexample(args.litmus, ex, variant, scenario, violation, race)
