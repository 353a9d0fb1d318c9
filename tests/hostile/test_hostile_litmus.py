"""Hostile litmus input (issue 11, items 2, 3, 6, 7 and the byte-order mark):
truncations, mutations, deep nesting, huge numbers, bad encodings. Every bad file
gets one located line and exit 2; the good test run with it is still run; values
are 32-bit C ints, so no number makes the run slow."""

from __future__ import annotations

import random
import re

import pytest

from hostile_support import (FORMS, GOOD_LITMUS, GOOD_LITMUS_NAME, assert_no_traceback, assert_nothing_half_written,
                             assert_one_line, assert_within, call, listing, truncations)

BUDGET = 2.0        # --seconds per test
BASES = ["cond-not", "cond-implies", "atomic-add-unless"]


def _base(name: str) -> str:
    return (FORMS / f"{name}.litmus").read_text()


def run_pair(tmp_path, capsys, data: bytes, extra=(), good_runs=True):
    """``litmus BAD GOOD``: the outcome, and the bad file's path."""
    bad = tmp_path / "bad.litmus"
    bad.write_bytes(data)
    before = listing(tmp_path)
    o = call(["litmus", "--seconds", BUDGET, *extra, bad, GOOD_LITMUS], capsys)
    assert_nothing_half_written(tmp_path, before)
    assert_within(o, 2 * BUDGET)
    assert not good_runs or f"Test {GOOD_LITMUS_NAME} " in o.out or f'"name": "{GOOD_LITMUS_NAME}"' in o.out, \
        "the good test was not run"
    return o, bad


def check_any(o, bad) -> None:
    """A mutant may still be a valid test: then a result and exit 0 (1 never: no
    --check); otherwise one located line and exit 2 (3: cut short, also one line)."""
    assert_no_traceback(o)
    if o.status == 0:
        assert not o.err_lines, o.err
        assert o.out.count("\nObservation ") == 2, o.out
        return
    line = assert_one_line(o, str(bad), (2, 3))
    assert re.match(rf"vmafuzz: {re.escape(str(bad))}:\d+:\d+: \S", line), line


# ---------------------------------------------------------------- generated cases

TRUNCATIONS = [(b, cut) for b in BASES for cut in truncations(_base(b), 60)]


@pytest.mark.parametrize("base,cut", TRUNCATIONS, ids=[f"{b}-{c}" for b, c in TRUNCATIONS])
def test_truncated(tmp_path, capsys, base, cut):
    o, bad = run_pair(tmp_path, capsys, _base(base)[:cut].encode())
    check_any(o, bad)


_ALPHABET = list("(){};*&^~!-+=<>|/\\,:[]0123456789xyzrP \n\t\"'") + ["0x", "<<", "(*", "*)", "/*", "//"]


def _mutants(count: int) -> list[tuple[str, int, str]]:
    rng = random.Random(11)
    out = []
    for k in range(count):
        base = BASES[k % len(BASES)]
        text = _base(base)
        for _ in range(1 + k % 3):
            i = rng.randrange(len(text))
            how = rng.choice(("replace", "insert", "delete", "swap-lines"))
            if how == "replace":
                text = text[:i] + rng.choice(_ALPHABET) + text[i + 1:]
            elif how == "insert":
                text = text[:i] + rng.choice(_ALPHABET) + text[i:]
            elif how == "delete":
                text = text[:i] + text[i + 1 + rng.randrange(4):]
            else:
                lines = text.split("\n")
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
                text = "\n".join(lines)
        out.append((base, k, text))
    return out


MUTANTS = _mutants(150)


@pytest.mark.parametrize("base,k,text", MUTANTS, ids=[f"{b}-{k}" for b, k, _ in MUTANTS])
def test_mutated(tmp_path, capsys, base, k, text):
    o, bad = run_pair(tmp_path, capsys, text.encode())
    check_any(o, bad)


def _in_thread(stmt: str) -> str:
    return _base("cond-not").replace("WRITE_ONCE(*x, 1);", stmt, 1)


def _nested() -> list[tuple[str, str, bool]]:
    """(id, text, too deep?): parentheses, braces, unary operators, conditions."""
    out = []
    for n in (10, 99, 100, 101, 150, 500, 3000):
        deep = n > 99
        out.append((f"parens-{n}", _in_thread("r0 = " + "(" * n + "1" + ")" * n + ";"), deep))
        out.append((f"braces-{n}", _in_thread("{" * n + "WRITE_ONCE(*x, 1);" + "}" * n), deep))
        out.append((f"if-{n}", _in_thread("if (1) " * n + "WRITE_ONCE(*x, 1);"), deep))
        out.append((f"cond-parens-{n}", _base("cond-not").replace(
            "exists (", "exists (" + "(" * n).replace("y=1)", "y=1)" + ")" * n), deep))
        out.append((f"cond-not-{n}", _base("cond-not").replace("exists (", "exists (" + "~" * n), deep))
    for op in ("-", "!", "~", "*"):
        for n in (50, 101, 5000):
            out.append((f"unary{op}-{n}", _in_thread("r0 = " + op * n + "r0;"), n > 99))
    return out


NESTED = _nested()


@pytest.mark.parametrize("text,deep", [(t, d) for _, t, d in NESTED], ids=[i for i, _, _ in NESTED])
def test_deep_nesting_is_one_located_line(tmp_path, capsys, text, deep):
    o, bad = run_pair(tmp_path, capsys, text.encode())
    if deep:
        line = assert_one_line(o, str(bad))
        assert "nested too deeply" in line
    else:
        check_any(o, bad)


LITERALS = ["0", "07", "08", "09", "010", "2147483647", "2147483648", "4294967295", "4294967296",
            "18446744073709551615", "18446744073709551616", "9" * 30, "9" * 5000, "0x7fffffff",
            "0xffffffff", "0x1ffffffffffffffff", "0x" + "f" * 5000, "0" * 5000 + "1"]
TOO_WIDE = {"18446744073709551616", "9" * 30, "9" * 5000, "0x1ffffffffffffffff", "0x" + "f" * 5000}


def _number_cases() -> list[tuple[str, str, bool]]:
    out = []
    for lit in LITERALS:
        short = lit if len(lit) < 24 else f"{lit[:6]}x{len(lit)}"
        wide = lit in TOO_WIDE
        out.append((f"assign-{short}", _in_thread(f"r0 = {lit};"), wide))
        out.append((f"store-{short}", _in_thread(f"WRITE_ONCE(*x, {lit});"), wide))
        out.append((f"init-{short}", _base("cond-not").replace("{}", f"{{ int x={lit}; }}", 1), wide))
        out.append((f"cond-{short}", _base("cond-not").replace("x!=0", f"x!={lit}"), wide))
        out.append((f"neg-{short}", _in_thread(f"r0 = -{lit};"), wide))
    return out


NUMBERS = _number_cases()


@pytest.mark.parametrize("text,wide", [(t, w) for _, t, w in NUMBERS], ids=[i for i, _, _ in NUMBERS])
def test_literals(tmp_path, capsys, text, wide):
    o, bad = run_pair(tmp_path, capsys, text.encode())
    if wide:
        assert "wider than 64 bits" in assert_one_line(o, str(bad))
    else:
        assert o.status == 0, o.err
        assert_no_traceback(o)


# (expression, what r0 ends as, or None: a located error naming the shift)
ARITHMETIC = [
    ("1 << 20000", None), ("1 << 32", None), ("1 << -1", None), ("-1 >> 40", None), ("r0 << 100000", None),
    ("1 << 31", -2147483648), ("2147483647 + 1", -2147483648), ("-2147483647 - 2", 2147483647),
    ("65536 * 65536", 0), ("0x7fffffff * 2", -2), ("-2147483647 - 1", -2147483648),
    ("(-2147483647 - 1) / -1", -2147483648), ("4294967295", -1), ("0xffffffff + 2", 1),
    ("~0", -1), ("1 << 30 << 1", -2147483648), ("(1 << 16) * (1 << 16) * 3", 0), ("7 % -3", 1),
    ("-7 / 2", -3), ("-1 >> 1", -1), ("3 >> 31", 0), ("08 + 07", 15),
]


# (the RMW on x, initially 2147483647 (INT_MAX), what it returns in r5) : atomic_t is
# a C int too, so what an RMW writes wraps
RMW_WRAPS = [
    ("atomic_add_return(1, x)", -2147483648), ("atomic_fetch_add(1, x)", 2147483647),
    ("atomic_inc_return(x)", -2147483648), ("atomic_add_return(2147483647, x)", -2),
    ("atomic_sub_return(-1, x)", -2147483648), ("atomic_xchg(x, 4294967295)", 2147483647),
]


@pytest.mark.parametrize("rmw,want", RMW_WRAPS, ids=[e for e, _ in RMW_WRAPS])
def test_rmw_results_are_32_bit_ints(tmp_path, capsys, rmw, want):
    text = (f"C rmw-wrap\n{{ x=2147483647; }}\nP0(atomic_t *x) {{ int r5; r5 = {rmw}; }}\n"
            "exists (0:r5=0)\n")
    o, _ = run_pair(tmp_path, capsys, text.encode(), ("--json",))
    assert o.status == 0 and not o.err_lines, o.err
    import json
    rec = [json.loads(ln) for ln in o.out.splitlines() if ln.startswith("{")][0]
    assert rec["states"] == [{"0:r5": want}], rec["states"]


@pytest.mark.parametrize("expr,want", ARITHMETIC, ids=[e for e, _ in ARITHMETIC])
def test_values_are_32_bit_ints(tmp_path, capsys, expr, want):
    text = _in_thread(f"r5 = {expr}; WRITE_ONCE(*x, r5);").replace(
        "exists (not (0:r0=1) /\\ ~1:r0=1 /\\ x!=0 /\\ not not y=1)", "exists (0:r5=0)")
    o, bad = run_pair(tmp_path, capsys, text.encode(), ("--json",))
    if want is None:
        assert "shift by" in assert_one_line(o, str(bad))
        return
    assert o.status == 0 and not o.err_lines, o.err
    import json
    rec = [json.loads(ln) for ln in o.out.splitlines() if ln.startswith("{")][0]
    assert rec["states"] == [{"0:r5": want}], rec["states"]


BOM_BASES = sorted(p.stem for p in FORMS.glob("*.litmus"))[:12]


@pytest.mark.parametrize("base", BOM_BASES)
def test_byte_order_mark_is_read(tmp_path, capsys, base):
    text = (FORMS / f"{base}.litmus").read_bytes()
    plain = tmp_path / "plain.litmus"
    plain.write_bytes(text)
    want = call(["litmus", plain], capsys)
    o, bad = run_pair(tmp_path, capsys, b"\xef\xbb\xbf" + text)
    assert_no_traceback(o)
    assert o.status == want.status == 0, o.err
    assert o.out.replace(str(bad), "").split("Time ")[0] == want.out.replace(str(plain), "").split("Time ")[0]


def _encodings() -> list[tuple[str, bytes]]:
    text = _base("cond-not").encode()
    out = []
    for k, pos in enumerate(truncations(text.decode(), 8)):
        for junk in (b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"):
            out.append((f"{junk.hex()}-at-{pos}", text[:pos] + junk + text[pos:]))
    out.append(("utf-16", _base("cond-not").encode("utf-16")))
    out.append(("utf-32", _base("cond-not").encode("utf-32")))
    out.append(("latin-1-comment", text.replace(b"not, ~", "n\u00f6t, ~".encode("latin-1"))))
    out.append(("nul", text.replace(b"\n", b"\n\x00", 1)))
    out.append(("all-nul", b"\x00" * 4096))
    out.append(("random", random.Random(3).randbytes(2048)))
    return out


ENCODINGS = _encodings()


@pytest.mark.parametrize("data", [d for _, d in ENCODINGS], ids=[i for i, _ in ENCODINGS])
def test_bad_encoding_is_one_located_line(tmp_path, capsys, data):
    o, bad = run_pair(tmp_path, capsys, data)
    line = assert_one_line(o, str(bad))
    assert re.match(rf"vmafuzz: {re.escape(str(bad))}:\d+:\d+: ", line), line


# ---------------------------------------------------------------- the issue's own cases

def test_ten_threads_of_one_store_stop_within_budget(tmp_path, capsys):
    """Issue 11, item 8: ran over 300 s with no output."""
    body = "".join(f"P{i}(int *x) {{ WRITE_ONCE(*x, {i + 1}); }}\n" for i in range(10))
    o, bad = run_pair(tmp_path, capsys, f"C ten\n{{}}\n{body}exists (x=1)\n".encode())
    line = assert_one_line(o, str(bad), 3)
    assert "--seconds 2 spent" in line and "not explored to the end" in line
    assert_within(o, BUDGET + 0.5)


def test_max_states_cut_is_no_verdict_and_the_others_run(tmp_path, capsys):
    o, bad = run_pair(tmp_path, capsys, _base("cond-not").encode(), ("--max-states", "3"), good_runs=False)
    # both tests are cut short: one line each, exit 3
    assert_no_traceback(o)
    assert o.status == 3 and len(o.err_lines) == 2 and all("more than 3 states" in ln for ln in o.err_lines)
    assert o.err_lines[0].startswith(f"vmafuzz: {bad}:") and str(GOOD_LITMUS) in o.err_lines[1]


def test_one_bad_file_among_many(tmp_path, capsys):
    """Issue 11, item 7: every file runs and is reported, then exit 2."""
    files = []
    for i in range(5):
        f = tmp_path / f"t{i}.litmus"
        f.write_text(_base("cond-not") if i % 2 == 0 else "C broken\n{ int x = ; }\n")
        files.append(f)
    o = call(["litmus", *files], capsys)
    assert_no_traceback(o)
    assert o.status == 2
    assert len(o.err_lines) == 2
    assert o.err_lines[0].startswith(f"vmafuzz: {files[1]}:2:")
    assert o.err_lines[1].startswith(f"vmafuzz: {files[3]}:2:")
    assert o.out.count("Test cond-not ") == 3
