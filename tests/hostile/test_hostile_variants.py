"""Hostile user variant files (issue 11, items 5 and 9, and "Also"): a bad
``counter_width``, ``sys.exit`` / ``SystemExit`` while loading or running,
exceptions in a step, endless steps. Each is one line naming the user's file and
line, exit 2 (never the user's exit status, never a traceback)."""

from __future__ import annotations

import json
import re

import pytest

from hostile_support import GOOD_CORPUS, assert_nothing_half_written, assert_one_line, assert_within, call, listing

HEAD = "import os, sys, time\nfrom models.seqlock import Seqlock\nfrom models.ops import smp_wmb, READ_ONCE\n\n\n"


def variant_file(tmp_path, body: str, attrs: str = "") -> tuple:
    """A user file whose class ``U`` (variant ``u``) has ``attrs`` and, when given,
    a writer made of ``body``; the line the body starts on."""
    text = HEAD + "class U(Seqlock):\n    name = 'u'\n" + "".join(f"    {a}\n" for a in attrs.splitlines())
    class_line = HEAD.count("\n") + 1
    body_line = None
    if body:
        text += "\n    def writer(self, wid, cycles):\n"
        body_line = text.count("\n") + 1
        text += "".join(f"        {ln}\n" for ln in body.splitlines())
    path = tmp_path / "my_protocol.py"
    path.write_text(text)
    return path, class_line, body_line


COMMANDS = {
    "explore": lambda spec: ["explore", spec, "--max-states", "20000", "--deepen-states", "0"],
    "run": lambda spec: ["run", spec, "--max-examples", "5", "--seconds", "5", "--no-save", "--profile", "ci"],
}


def run_case(tmp_path, capsys, command: str, path, extra=()):
    before = listing(tmp_path)
    o = call([*COMMANDS[command](f"{path}:u"), *extra], capsys)
    assert_nothing_half_written(tmp_path, before | {"__pycache__"} if (tmp_path / "__pycache__").exists() else before)
    return o


WIDTHS = {"negative": "-1", "zero": "0", "65": "65", "huge": "10 ** 100", "float": "1.5", "string": "'8'",
          "bool": "True", "list": "[]", "nan": "float('nan')"}
WIDTH_CASES = [(c, w) for c in COMMANDS for w in WIDTHS]


@pytest.mark.parametrize("command,width", WIDTH_CASES, ids=[f"{c}-{w}" for c, w in WIDTH_CASES])
def test_bad_counter_width(tmp_path, capsys, command, width):
    path, class_line, _ = variant_file(tmp_path, "", f"counter_width = {WIDTHS[width]}")
    o = run_case(tmp_path, capsys, command, path)
    line = assert_one_line(o, f"{path}:{class_line}: u.counter_width must be")
    assert len(line) < 300


@pytest.mark.parametrize("width", ["None", "1", "2", "64"])
def test_good_counter_width_runs(tmp_path, capsys, width):
    path, _, _ = variant_file(tmp_path, "", f"counter_width = {width}")
    o = run_case(tmp_path, capsys, "explore", path)
    assert o.status in (0, 1) and not o.err_lines, o.err


LOAD_EXITS = {"sys.exit(0)": "sys.exit(0)", "sys.exit(1)": "sys.exit(1)", "sys.exit-msg": "sys.exit('bye')",
              "SystemExit(3)": "raise SystemExit(3)", "exit()": "exit()", "quit(0)": "quit(0)",
              "ValueError": "raise ValueError('no')", "ImportError": "import no_such_module_here"}
LOAD_CASES = [(c, k) for c in COMMANDS for k in LOAD_EXITS]


@pytest.mark.parametrize("command,stmt", LOAD_CASES, ids=[f"{c}-{k}" for c, k in LOAD_CASES])
def test_exit_or_error_while_loading(tmp_path, capsys, command, stmt):
    """Issue 11, item 5: sys.exit(0) in a user file was the tool's exit status 0."""
    path = tmp_path / "my_protocol.py"
    path.write_text(HEAD + LOAD_EXITS[stmt] + "\n")
    o = run_case(tmp_path, capsys, command, path)
    line = assert_one_line(o, f"{path}:{HEAD.count(chr(10)) + 1}: ")
    assert "while loading" in line


STEP_FAULTS = {
    "sys.exit(0)": "yield smp_wmb()\nsys.exit(0)",
    "sys.exit(1)": "yield smp_wmb()\nsys.exit(1)",
    "SystemExit": "yield smp_wmb()\nraise SystemExit('x')",
    "ValueError": "yield smp_wmb()\nraise ValueError('boom')",
    "KeyError": "yield smp_wmb()\n{}['k']",
    "ZeroDivision": "yield smp_wmb()\n1 / 0",
    "AssertionError": "yield smp_wmb()\nassert False, 'no'",
    "TypeError": "yield smp_wmb()\nlen(5)",
    "before-yield": "raise RuntimeError('first')\nyield smp_wmb()",
    "bad-yield": "yield 42",
}
STEP_CASES = [(c, k) for c in COMMANDS for k in STEP_FAULTS]


@pytest.mark.parametrize("command,fault", STEP_CASES, ids=[f"{c}-{k}" for c, k in STEP_CASES])
def test_a_step_that_fails_names_the_users_file_and_line(tmp_path, capsys, command, fault):
    path, _, body_line = variant_file(tmp_path, STEP_FAULTS[fault])
    o = run_case(tmp_path, capsys, command, path)
    if fault == "bad-yield":
        assert "not a kernel primitive" in assert_one_line(o, "writer0")
        return
    fails_at = body_line + (0 if fault == "before-yield" else 1)
    line = assert_one_line(o, f"{path}:{fails_at}: ")
    assert "writer0" in line


def test_an_invariant_that_exits(tmp_path, capsys):
    path = tmp_path / "my_protocol.py"
    path.write_text(HEAD + "class U(Seqlock):\n    name = 'u'\n\n    def check(self, ex):\n        sys.exit(0)\n")
    o = run_case(tmp_path, capsys, "explore", path)
    assert_one_line(o, f"{path}:{HEAD.count(chr(10)) + 5}: ")


ENDLESS = {
    "fences": ("while True:\n    yield smp_wmb()", "took more than"),
    "loads": ("while True:\n    yield READ_ONCE(self.s.seq)", None),
    "sleep": ("time.sleep(1000)\nyield smp_wmb()", "without yielding"),
    "loop": ("while True:\n    pass\nyield smp_wmb()", "without yielding"),
}
ENDLESS_CASES = [(c, k) for c in COMMANDS for k in ENDLESS]


@pytest.mark.parametrize("command,kind", ENDLESS_CASES, ids=[f"{c}-{k}" for c, k in ENDLESS_CASES])
def test_endless_step_is_a_user_error(tmp_path, capsys, command, kind):
    """Issue 11, item 9: a step that never returns could not be stopped."""
    body, words = ENDLESS[kind]
    path, _, body_line = variant_file(tmp_path, body)
    o = run_case(tmp_path, capsys, command, path, ("--step-seconds", "0.5"))
    assert_within(o, 5.0)
    if words is None:
        # A thread that keeps loading: the operations bound, or (run) its --steps
        # bound first, which is no error: it just never finishes a lookup.
        assert o.status in (2, 3), o.err
        if o.status == 2:
            assert_one_line(o, f"{path}:")
        return
    line = assert_one_line(o, f"{path}:")
    assert words in line
    got = int(re.match(rf"vmafuzz: {re.escape(str(path))}:(\d+):", line).group(1))
    assert body_line <= got <= body_line + 2


def test_replay_runs_a_named_user_file_and_the_others_still_replay(tmp_path, capsys):
    """A corpus file naming a user's file that exits in a step: one line, the good
    file still reproduces, exit 2."""
    path, _, body_line = variant_file(tmp_path, "yield smp_wmb()\nsys.exit(0)")
    doc = json.loads(GOOD_CORPUS.read_text())
    doc["variant"] = {"name": "u", "file": str(path)}
    doc["expected"]["rule"] = "torn read"
    bad = tmp_path / "uses_user_file.json"
    bad.write_text(json.dumps(doc))
    o = call(["replay", "--json", "--variant-file", path, bad, GOOD_CORPUS], capsys)
    line = assert_one_line(o, f"{path}:{body_line + 1}: ")
    assert str(bad) in line
    records = {r["file"]: r["status"] for r in map(json.loads, o.out.splitlines())}
    assert records == {str(bad): "error", str(GOOD_CORPUS): "reproduces"}


def test_export_litmus_of_a_failing_user_file_and_the_others_still_export(tmp_path, capsys):
    path, _, body_line = variant_file(tmp_path, "yield smp_wmb()\nraise ValueError('boom')")
    doc = json.loads(GOOD_CORPUS.read_text())
    doc["variant"] = {"name": "u", "file": str(path)}
    doc["expected"]["rule"] = "torn read"
    bad = tmp_path / "uses_user_file.json"
    bad.write_text(json.dumps(doc))
    o = call(["export-litmus", "--variant-file", path, bad, GOOD_CORPUS], capsys)
    line = assert_one_line(o, f"{path}:{body_line + 1}: ")
    assert str(bad) in line and "ValueError" in line
    assert o.out.startswith("C "), "the good file was not exported"
