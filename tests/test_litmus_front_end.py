"""The litmus front end: bad input gives one line and exit 2; the language subset
and herd7's output layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuzz import cli
from models import litmus

OWN = Path(__file__).parent / "litmus"

SB = """C sb-front
(* Result: Sometimes *)
{ int x; int y; }
P0(int *x, int *y) { int r0; WRITE_ONCE(*x, 1); r0 = READ_ONCE(*y); }
P1(int *x, int *y) { int r0; WRITE_ONCE(*y, 1); r0 = READ_ONCE(*x); }
exists (0:r0=0 /\\ 1:r0=0)
"""


def vmafuzz(monkeypatch, capsys, *argv):
    # Only the litmus subcommand: the others are other modules' business.
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"litmus": cli.SUBCOMMANDS["litmus"]})
    status = cli.main(["litmus", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


BAD = {
    "empty": ("", "1:1: empty file"),
    "truncated": (SB[:SB.index("P1") + 25], "end of file"),
    "unknown-primitive": (SB.replace("READ_ONCE(*y)", "READ_TWICE(*y)"), "4:54: unknown primitive 'READ_TWICE'"),
    # herd7 needs no declaration for a register, but the thread must exist.
    "condition-thread": (SB.replace("exists (0:r0=0", "exists (5:r0=0"), "6:9: register '5:r0' of a thread"),
    "init-thread": (SB.replace("{ int x; int y; }", "{ int x; 7:r0=1; }"), "3:10: the init block names thread P7"),
    "struct": (SB.replace("{ int x; int y; }", "{ struct foo s; }"), "3:3: unsupported construct 'struct'"),
    "unsupported-loop": (SB.replace("int r0; WRITE_ONCE(*x, 1);", "int r0; while (1) ;"), "unsupported construct 'while'"),
    "no-condition": (SB[:SB.index("exists")], "expected a condition"),
    "not-c": ("AArch64 SB\n{}\n", "only C litmus tests"),
    "lvalue": (SB.replace("READ_ONCE(*y)", "READ_ONCE(y)"), "needs an lvalue"),
    "non-pointer": (SB.replace("WRITE_ONCE(*x, 1)", "WRITE_ONCE(*r0, 1)"), "dereference of a non-pointer value 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2(case, tmp_path, monkeypatch, capsys):
    text, expected = BAD[case]
    path = write(tmp_path, f"{case}.litmus", text)
    status, out, err = vmafuzz(monkeypatch, capsys, path)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith(f"vmafuzz: {path}:")
    assert expected in err


def test_missing_file(tmp_path, monkeypatch, capsys):
    status, _, err = vmafuzz(monkeypatch, capsys, tmp_path / "nope.litmus")
    assert status == 2 and "cannot read" in err and err.count("\n") == 1


def test_bad_file_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    bad = write(tmp_path, "bad.litmus", "")
    good = write(tmp_path, "good.litmus", SB)
    status, out, err = vmafuzz(monkeypatch, capsys, bad, good)
    assert status == 2
    assert "Observation sb-front Sometimes 1 3" in out
    assert err.count("\n") == 1


def test_herd_layout(tmp_path, monkeypatch, capsys):
    status, out, err = vmafuzz(monkeypatch, capsys, write(tmp_path, "sb.litmus", SB))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[:6] == ["Test sb-front Allowed", "States 4", "0:r0=0; 1:r0=0;", "0:r0=0; 1:r0=1;",
                         "0:r0=1; 1:r0=0;", "0:r0=1; 1:r0=1;"]
    assert lines[6:11] == ["Ok", "Witnesses", "Positive: 1 Negative: 3",
                           "Condition exists (0:r0=0 /\\ 1:r0=0)", "Observation sb-front Sometimes 1 3"]
    assert lines[11].startswith("Time sb-front ")


def test_json(tmp_path, monkeypatch, capsys):
    ptr = (OWN / "mp-release-addr.litmus")
    status, out, _ = vmafuzz(monkeypatch, capsys, "--json", ptr, write(tmp_path, "sb.litmus", SB))
    assert status == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["name"] == "mp-release-addr" and first["observation"] == "Never"
    assert {"1:r0": "x", "1:r1": 1} in first["states"]          # pointers by name
    assert second["states"][0] == {"0:r0": 0, "1:r0": 0}
    for rec in (first, second):
        assert {"name", "observation", "states", "positive", "negative", "executions", "seconds",
                "flags"} <= set(rec)
        assert rec["flags"] == []       # no plain access, no race
        assert rec["positive"] + rec["negative"] == rec["executions"]


def test_check_flags_a_verdict_mismatch(tmp_path, monkeypatch, capsys):
    wrong = write(tmp_path, "wrong.litmus", SB.replace("Result: Sometimes", "Result: Never"))
    status, _, err = vmafuzz(monkeypatch, capsys, "--check", wrong)
    assert status == 1 and "Result: Never" in err


def run_text(text):
    return litmus.run(litmus.parse(text, "t.litmus"))


def test_quantifiers_and_filter_and_locations():
    base = SB.replace("exists (0:r0=0 /\\ 1:r0=0)", "@COND@")
    never = run_text(base.replace("@COND@", "~exists (0:r0=0 /\\ 1:r0=0)"))
    assert never.condition.startswith("~exists") and not never.ok and never.positive == 1
    always = run_text(base.replace("@COND@", "forall (0:r0=1 \\/ 1:r0=1 \\/ ~(x=1))"))
    assert always.observation == "Sometimes" and not always.ok
    assert always.condition == "forall (0:r0=1 \\/ 1:r0=1 \\/ not ([x]=1))"   # herd7's words
    filtered = run_text(base.replace("@COND@", "filter (0:r0=1) exists (1:r0=0)"))
    assert filtered.positive + filtered.negative == 2 and len(filtered.states) == 2
    located = run_text(base.replace("@COND@", "locations [x; 1:r0] exists (0:r0=0)"))
    assert located.keys == ("0:r0", "1:r0", "[x]")


def test_expressions_if_else_and_plain_accesses():
    text = """C expr
{ int x = 3; 0:r2 = 5; }
P0(int *x, int *y) {
    int r0; int r1; int r2;
    r0 = *x;                       // a plain read
    if (r0 > 2 && !(r0 == 4)) { r1 = (r0 * 4 + 2) % 5 - -1; } else r1 = 100;
    *y = r1 << 1;                  // a plain write
    r2 = r2 + (r0 || 0);
}
exists (0:r1=5 /\\ [y]=10 /\\ 0:r2=6)
"""
    r = run_text(text)
    assert r.observation == "Always" and r.states == ((3 * 0 + 5, 6, 10),)


def test_spinlock_declaration_accepted_and_checked():
    text = (OWN / "mp-locks.litmus").read_text()
    assert "spinlock_t l;" in text
    assert run_text(text).observation == "Never"
    with pytest.raises(litmus.LitmusError, match="not a spinlock_t"):
        run_text(text.replace("spin_lock(l);\n\tWRITE_ONCE(*x, 1);", "spin_lock(x);\n\tWRITE_ONCE(*x, 1);"))


def test_never_evaluates_input():
    with pytest.raises(litmus.LitmusError):
        litmus.parse(SB.replace("READ_ONCE(*y)", "__import__('os')"), "t.litmus")


def test_litmus_command_imports_no_fuzzing_machinery(tmp_path):
    # Start-up is most of what `vmafuzz litmus` costs on small tests (issue 12,
    # item 5): the command must not import Hypothesis or the fuzzer's modules.
    import subprocess
    import sys
    test = write(tmp_path, "sb.litmus", SB)
    probe = ("import sys, io, contextlib\n"
             "from fuzz import cli\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             f"    status = cli.main(['litmus', {str(test)!r}])\n"
             "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'hypothesis'\n"
             "                or m in ('fuzz.machine', 'fuzz.corpus', 'fuzz.campaign', 'fuzz.run_cmd',\n"
             "                         'fuzz.replay_cmd', 'fuzz.oracle', 'models.protocols'))\n"
             "print(status, loaded)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == "0 []"
