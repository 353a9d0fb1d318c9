"""Hostile command lines (issue 11, "Also" and item 8): bad numbers for every
budget and scenario option of every command, bad shards, bad variant names. Each
is refused in one line naming the option or the value, exit 2, before any work."""

from __future__ import annotations

import pytest

from hostile_support import GOOD_CORPUS, GOOD_LITMUS, assert_one_line, call

BASE = {
    "explore": ["explore", "A"],
    "run": ["run", "A", "--no-save"],
    "campaign": ["campaign", "A", "--no-save"],
    "litmus": ["litmus", str(GOOD_LITMUS)],
    "replay": ["replay", str(GOOD_CORPUS)],
}
FLOATS = ["0", "-1", "nan", "inf", "-inf", "abc", "", "1e400", "0x10"]
COUNTS = ["0", "-5", "x", "1.5", "-0", "1e3"]

CASES: list[tuple[str, str, str]] = []
for cmd in BASE:
    for v in FLOATS:
        CASES.append((cmd, "--max-memory", v))
        CASES.append((cmd, "--step-seconds", v))
        CASES.append((cmd, "--seconds", v))
for cmd in ("explore", "litmus"):
    for v in COUNTS:
        CASES.append((cmd, "--max-states", v))
for cmd in ("run", "campaign"):
    for opt in ("--max-examples", "--steps", "--burst"):
        for v in ("0", "-1", "x", "2.5"):
            CASES.append((cmd, opt, v))
    CASES.append((cmd, "--seed", "x"))
    CASES.append((cmd, "--profile", "prod"))
for cmd in ("explore", "run", "campaign"):
    for opt, values in {"--writers": ("0", "-1", "99", "x"), "--cycles": ("0", "1025"), "--readers": ("9",),
                        "--lookups": ("65",), "--vmas": ("0", "1025"), "--width": ("0", "65", "-1"),
                        "--spare-files": ("-1", "100000"), "--slab": ("nope",)}.items():
        for v in values:
            CASES.append((cmd, opt, v))
for v in ("3/2", "0/0", "x", "-1/2", "1/0", "", "2/1", "1/2/3", "a/b"):
    CASES.append(("campaign", "--shard", v))
for v in ("0", "-1", "x"):
    CASES.append(("campaign", "--workers", v))
CASES.append(("explore", "--deepen-states", "-1"))


@pytest.mark.parametrize("cmd,opt,value", CASES, ids=[f"{c}{o}={v}" for c, o, v in CASES])
def test_bad_option_value(capsys, cmd, opt, value):
    o = call([*BASE[cmd], f"{opt}={value}"], capsys)
    line = assert_one_line(o, opt.lstrip("-").split("-")[0] if opt != "--max-examples" else "max-examples")
    assert len(line) < 400
    assert o.seconds < 5      # refused before any work
    assert not o.out.strip(), o.out


NAMES = ["no-such-variant", "../../etc/passwd", "x.py", "/dev/zero:x", "/nonexistent/p.py:X", "A" * 5000,
         "corpus/seqlock:x", "", "-", "A:B:C"]
NAME_CASES = [(c, n) for c in ("explore", "run", "campaign") for n in NAMES]


@pytest.mark.parametrize("cmd,name", NAME_CASES, ids=[f"{c}-{n[:20]}" for c, n in NAME_CASES])
def test_bad_variant_name(capsys, cmd, name):
    argv = [cmd, name, "--no-save"] if cmd != "explore" else [cmd, name]
    o = call(argv, capsys)
    assert_one_line(o, "vmafuzz: ")
    assert not o.out.strip()


MISSING = [["litmus", "/nonexistent.litmus", str(GOOD_LITMUS)], ["replay", "/nonexistent.json", str(GOOD_CORPUS)]]


@pytest.mark.parametrize("argv", MISSING, ids=["litmus", "replay"])
def test_missing_file_and_the_others_still_run(capsys, argv):
    o = call(argv, capsys)
    assert_one_line(o, "/nonexistent.")
    assert o.out.strip()
