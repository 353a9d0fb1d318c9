"""LKMM C litmus tests: a parser, an interpreter that runs each ``Pn`` as an engine
thread, and the exhaustive run that herd7 would do.

The accepted language is what herd7 reads in the kernel's
``tools/memory-model/litmus-tests`` and herdtools' C tests (docs/memory-model.md,
"Litmus runs"; one test per form in tests/test_litmus_forms.py):

* ``C NAME`` (the test's name, whatever the file is called), an optional quoted
  string, ``(* ... *)`` comments anywhere but inside a thread body (the first
  one's ``Result:`` line is kept);
* the init block ``{ int x; int y=1; int *p=&y; q=p; spinlock_t l; srcu_struct s;
  int *1:r1; 0:r0=x; }``: pointer initialisers hold addresses, a name used only
  as a target is a location, and they may be circular;
* ``P0(int *x, struct srcu_struct *s, ...) { ... }`` ... with local declarations
  (optional: any name that is not a parameter is a register, starting at 0),
  assignments, ``if``/``else``, blocks, C expressions and every primitive of
  ``linux-kernel.def`` by its kernel name;
* ``locations [...]``, ``filter (...)`` and one ``exists`` / ``~exists`` /
  ``forall`` condition with ``=>``, ``/\\``, ``\\/``, ``~``/``not``, ``!=``,
  ``N:reg=v``, ``x=v``, ``[x]=v``, ``x=y`` (an address) and ``0:r1=0:r4``.

Anything else is a ``LitmusError`` naming file, line and column. Input is
never evaluated as Python: the tokenizer and recursive-descent parser below
build a small syntax tree, and ``_Interp`` walks it, yielding one ``ops`` value
per memory access so the engine sees the accesses and tracks dependencies
through ``Val`` exactly as for a hand-written protocol.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Iterator

import attrs

from . import limits, ops
from .engine import Execution, ModelError, ThreadSpec
from .events import Loc, LocRef, Val, deps_of, raw
from .explore import ExploreStats, StoreLog, ValuesDidNotSettle, explore, explore_load_buffering, finals_only


class LitmusError(Exception):
    """Malformed or unsupported litmus input: ``FILE:LINE:COL: what is wrong``."""

    def __init__(self, path: str, line: int, col: int, msg: str):
        super().__init__(f"{path}:{line}:{col}: {msg}")
        self.path, self.line, self.col, self.msg = path, line, col, msg


class LitmusIncomplete(LitmusError):
    """The exploration was cut short (``max_states``, ``--seconds``, ``--max-memory``):
    no verdict (exit 3), not bad input."""


# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------

@attrs.frozen(slots=True)
class Tok:
    kind: str       # "id" | "num" | "str" | "op" | "eof"
    text: str
    line: int
    col: int


_PUNCT = ("/\\", "\\/", "->", "&&", "||", "==", "=>", "!=", "<=", ">=", "<<", ">>",
          "{", "}", "(", ")", "[", "]", ";", ",", "=", "*", "&", "+", "-", "!", "~",
          "<", ">", "|", "^", "%", "/", ":", ".", "?")
# One pattern for every token kind, longest punctuation first: a single regex
# match per token keeps tokenizing a small part of the start-up cost.
_TOKEN = re.compile("|".join((
    r"(?P<nl>\n)", r"(?P<ws>[ \t\r\f\v]+)", r"(?P<line>//[^\n]*)", r"(?P<cc>/\*)", r"(?P<oc>\(\*)",
    r"(?P<id>[A-Za-z_][A-Za-z0-9_]*)", r"(?P<num>0[xX][0-9a-fA-F]+|[0-9]+)", r'(?P<str>")',
    "(?P<op>" + "|".join(re.escape(p) for p in _PUNCT) + ")",
)))


def tokenize(text: str, path: str) -> tuple[list[Tok], list[str]]:
    """Tokens and the text of every ``(* *)`` comment. ``(*`` opens a comment
    anywhere except inside a thread body, where ``(*x)`` is C (herd7 reads it so
    too); the first brace block, the init block, is not C and takes comments."""
    toks: list[Tok] = []
    comments: list[str] = []
    i, line, bol, depth, n = 0, 1, 0, 0, len(text)
    blocks = 0      # top-level brace blocks opened so far: 1 is the init block
    match = _TOKEN.match
    while i < n:
        m = match(text, i)
        col = i - bol + 1
        if m is None:
            raise LitmusError(path, line, col, f"unexpected character {text[i]!r}")
        kind = m.lastgroup
        if kind == "nl":
            i += 1
            line += 1
            bol = i
        elif kind in ("ws", "line"):
            i = m.end()
        elif kind == "cc" or (kind == "oc" and (depth == 0 or blocks == 1)):
            closer = "*/" if kind == "cc" else "*)"
            j = text.find(closer, i + 2)
            if j < 0:
                raise LitmusError(path, line, col, f"unterminated comment {m.group()}")
            body = text[i + 2:j]
            if kind == "oc":
                comments.append(body)
            if "\n" in body:
                line += body.count("\n")
                bol = i + 2 + body.rfind("\n") + 1
            i = j + 2
        elif kind == "oc":              # (*x) in a thread body: C
            toks.append(Tok("op", "(", line, col))
            i += 1
        elif kind == "str":
            j = text.find('"', i + 1)
            if j < 0 or "\n" in text[i:j]:
                raise LitmusError(path, line, col, "unterminated string")
            toks.append(Tok("str", text[i + 1:j], line, col))
            i = j + 1
        else:
            t = m.group()
            toks.append(Tok(kind, t, line, col))
            if kind == "op" and t in "{}":
                if t == "{":
                    blocks += depth == 0
                    depth += 1
                else:
                    depth -= 1
            i = m.end()
    toks.append(Tok("eof", "", line, i - bol + 1))
    return toks, comments


# Values are C ints: 32-bit two's complement, and arithmetic wraps (as gcc's does;
# docs/memory-model.md, "Litmus runs"). Unbounded Python integers let ``1 << 20000``
# run for seconds and gigabytes (issue 11).
INT_BITS = 32
_INT_SPAN = 1 << INT_BITS
_INT_MIN = -(1 << (INT_BITS - 1))
# A literal wider than 64 bits fits no C type: an error, not a value.
_MAX_LITERAL = (1 << 64) - 1
# Parentheses, braces, unary operators and conditions nested deeper than this are
# refused with their position (the parser recurses once per level).
MAX_NESTING = 100


def wrap(v: int) -> int:
    """``v`` as a C int: reduced modulo 2**32 into [-2**31, 2**31)."""
    return (v - _INT_MIN) % _INT_SPAN + _INT_MIN


class _BadNumber(Exception):
    pass


def _number(t: Tok) -> int:
    """A number token: hexadecimal with 0x, else decimal (``08`` is 8, as herd7 reads
    it), as a C int; wider than 64 bits: ``_BadNumber``."""
    hexadecimal = t.text[:2] in ("0x", "0X")
    digits = (t.text[2:] if hexadecimal else t.text).lstrip("0") or "0"
    if len(digits) > 20:        # before int(): Python refuses over 4,300 digits by raising
        raise _BadNumber()
    v = int(digits, 16 if hexadecimal else 10)
    if v > _MAX_LITERAL:
        raise _BadNumber()
    return wrap(v)


# --------------------------------------------------------------------------
# Syntax tree (expressions, statements, conditions)
# --------------------------------------------------------------------------

@attrs.frozen(slots=True)
class Pos:
    line: int
    col: int


@attrs.frozen(slots=True)
class Num:
    value: int
    pos: Pos


@attrs.frozen(slots=True)
class Name:
    name: str
    pos: Pos


@attrs.frozen(slots=True)
class Unary:
    op: str          # "-", "!", "~"
    arg: Any
    pos: Pos


@attrs.frozen(slots=True)
class Binary:
    op: str
    left: Any
    right: Any
    pos: Pos


@attrs.frozen(slots=True)
class Deref:
    arg: Any
    pos: Pos


@attrs.frozen(slots=True)
class Call:
    name: str
    args: tuple
    pos: Pos
    kinds: tuple = ()      # the argument kinds ("lv", "p", "v"), looked up once at parse time


@attrs.frozen(slots=True)
class Assign:
    target: Any      # Name (a register) or Deref (a plain store)
    value: Any
    pos: Pos


@attrs.frozen(slots=True)
class ExprStmt:
    expr: Any
    pos: Pos


@attrs.frozen(slots=True)
class If:
    cond: Any
    then: tuple
    other: tuple
    pos: Pos


# conditions
@attrs.frozen(slots=True)
class CKey:
    """The right side of ``0:r1=1:r4`` or ``0:r0=[y]``: another register's or
    location's final value (a bare ``y`` on the right is y's address instead)."""

    key: str


@attrs.frozen(slots=True)
class CAtom:
    key: str         # "0:r1" or "[x]"
    value: Any       # an int, a location name (str: its address) or a CKey


@attrs.frozen(slots=True)
class CNot:
    arg: Any


@attrs.frozen(slots=True)
class CJoin:
    op: str          # "/\\" (and), "\\/" (or) or "=>" (implies, two arguments)
    args: tuple


@attrs.frozen(slots=True)
class CConst:
    value: bool


@attrs.frozen(slots=True)
class ThreadAst:
    tid: int
    params: tuple        # ((name, is_lock), ...)
    registers: tuple     # every local declared, in order
    body: tuple


@attrs.frozen(slots=True)
class Program:
    path: str
    name: str
    result: str | None           # the doc comment's "Result:" word, if any
    locs: tuple                  # ((name, init, is_lock), ...), init: int or a name
    reg_init: tuple              # ((tid, reg, value), ...)
    threads: tuple
    locations: tuple             # keys, as in CAtom.key
    filter: Any
    quantifier: str              # "exists" | "~exists" | "forall"
    condition: Any


# --------------------------------------------------------------------------
# Primitives: kernel name -> (argument kinds, op builder)
# "lv": an lvalue ``*p`` (READ_ONCE(*x)); "p": a pointer (smp_load_acquire(x));
# "v": a value. The shapes follow tools/memory-model/linux-kernel.def.
# --------------------------------------------------------------------------

def _primitives() -> dict[str, tuple]:
    """name -> (argument kinds, op builder or the name of an ``ops`` function[,
    (comparison, constant) applied to the result])."""
    table: dict[str, tuple] = {
        "READ_ONCE": ("lv", ops.READ_ONCE),
        "WRITE_ONCE": ("lv v", ops.WRITE_ONCE),
        "smp_load_acquire": ("p", ops.smp_load_acquire),
        "smp_store_release": ("p v", ops.smp_store_release),
        "rcu_dereference": ("lv", ops.rcu_dereference),
        "rcu_assign_pointer": ("lv v", ops.rcu_assign_pointer),
        "atomic_read": ("p", ops.atomic_read),
        "atomic_set": ("p v", ops.atomic_set),
        "atomic_read_acquire": ("p", ops.atomic_read_acquire),
        "atomic_set_release": ("p v", ops.atomic_set_release),
        "atomic_add": ("v p", ops.atomic_add),
        "atomic_sub": ("v p", ops.atomic_sub),
        "atomic_inc": ("p", ops.atomic_inc),
        "atomic_dec": ("p", ops.atomic_dec),
        "spin_lock": ("p", ops.spin_lock),
        "spin_unlock": ("p", ops.spin_unlock),
        "spin_trylock": ("p", ops.spin_trylock),
        "spin_is_locked": ("p", ops.spin_is_locked),
        "down_read": ("p", ops.down_read),
        "up_read": ("p", ops.up_read),
        "down_write": ("p", ops.down_write),
        "up_write": ("p", ops.up_write),
    }
    for fence in ("smp_mb", "smp_rmb", "smp_wmb", "smp_mb__before_atomic", "smp_mb__after_atomic",
                  "smp_mb__after_spinlock", "smp_mb__after_unlock_lock", "barrier",
                  "rcu_read_lock", "rcu_read_unlock", "synchronize_rcu"):
        table[fence] = ("", getattr(ops, fence))
    # linux-kernel.def: synchronize_rcu_expedited is a grace period too.
    table["synchronize_rcu_expedited"] = ("", ops.synchronize_rcu)
    for suffix in ("", "_relaxed", "_acquire", "_release"):
        for base in ("add_return", "sub_return", "fetch_add", "fetch_sub"):
            table[f"atomic_{base}{suffix}"] = ("v p", getattr(ops, f"atomic_{base}{suffix}"))
        for base in ("inc_return", "dec_return", "fetch_inc", "fetch_dec"):
            table[f"atomic_{base}{suffix}"] = ("p", getattr(ops, f"atomic_{base}{suffix}"))
        for base in ("xchg", "atomic_xchg"):
            table[f"{base}{suffix}"] = ("p v", getattr(ops, f"{base}{suffix}"))
        for base in ("cmpxchg", "atomic_cmpxchg"):
            table[f"{base}{suffix}"] = ("p v v", getattr(ops, f"{base}{suffix}"))
    # The bitwise atomics: __atomic_op{NORETURN} and __atomic_fetch_op (X,&,V) ...
    for op, update in (("and", lambda old, v: old & v), ("or", lambda old, v: old | v),
                       ("xor", lambda old, v: old ^ v), ("andnot", lambda old, v: old & ~v)):
        table[f"atomic_{op}"] = ("v p", _bitwise(f"atomic_{op}", update, "once", None, noreturn=True))
        for suffix, order in _ORDERS:
            name = f"atomic_fetch_{op}{suffix}"
            table[name] = ("v p", _bitwise(name, update, order, "old"))
    # ... and the tests: __atomic_op_return{MB}(X,-,V) == 0 and friends.
    table["atomic_sub_and_test"] = ("v p", ops.atomic_sub_return, ("==", 0))
    table["atomic_dec_and_test"] = ("p", ops.atomic_dec_return, ("==", 0))
    table["atomic_inc_and_test"] = ("p", ops.atomic_inc_return, ("==", 0))
    for suffix, _order in _ORDERS:
        table[f"atomic_add_negative{suffix}"] = ("v p", getattr(ops, f"atomic_add_return{suffix}"), ("<", 0))
    table["atomic_add_unless"] = ("p v v", _add_unless)
    # SRCU (linux-kernel.def): the model's own functions, looked up when a test
    # uses them (_builder), so that a model without them rejects the test cleanly.
    for name, kinds in (("srcu_read_lock", "p"), ("srcu_read_unlock", "p v"), ("srcu_down_read", "p"),
                        ("srcu_up_read", "p v"), ("synchronize_srcu", "p"),
                        ("synchronize_srcu_expedited", "p"), ("smp_mb__after_srcu_read_unlock", "")):
        table[name] = (kinds, name)
    return table


_ORDERS = (("", "mb"), ("_relaxed", "once"), ("_acquire", "acquire"), ("_release", "release"))


def _bitwise(label: str, update: Callable[[Any, Any], Any], order: str, returns: str | None,
             noreturn: bool = False) -> Callable[[Any, Any], ops.Rmw]:
    def build(v: Any, x: Any) -> ops.Rmw:
        return ops.Rmw(x, lambda old: update(old, v), order, label, returns=returns, noreturn=noreturn)
    return build


class _AnyBut:
    """The "expected" value of atomic_add_unless(X, V, U): every value but U. The
    engine writes an RMW when ``old == expect``; this makes that ``old != U``, so a
    failed add is, like a failed cmpxchg, one unordered read (herd7 agrees: a
    successful one orders as smp_mb() does, a failed one does not)."""

    __slots__ = ("u",)

    def __init__(self, u: Any):
        self.u = u

    def __eq__(self, old: object) -> bool:
        return not _same(raw(old), raw(self.u))

    __hash__ = None  # type: ignore[assignment]


def _add_unless(x: Any, v: Any, u: Any) -> ops.Rmw:
    return ops.Rmw(x, lambda old: old + v, "mb", "atomic_add_unless", returns="old",
                   expect=ops.CmpVal(_AnyBut(u)))


PRIMITIVES = _primitives()


def _builder(name: str) -> Callable | None:
    """The op builder of a primitive; None if the model does not provide it."""
    build = PRIMITIVES[name][1]
    if isinstance(build, str):
        fn = getattr(ops, build, None)
        if fn is None and build == "synchronize_srcu_expedited":
            fn = getattr(ops, "synchronize_srcu", None)     # linux-kernel.def: the same events
        return fn
    return build
# linux-kernel.def: smp_store_mb(X, V) is WRITE_ONCE followed by smp_mb().
_STORE_MB = "smp_store_mb"

_TYPE_WORDS = frozenset({
    "int", "long", "unsigned", "signed", "char", "short", "atomic_t", "atomic_long_t",
    "spinlock_t", "intptr_t", "uintptr_t", "u8", "u16", "u32", "u64", "s8", "s16", "s32",
    "s64", "bool", "_Bool", "const", "volatile", "size_t", "srcu_struct",
})
_UNSUPPORTED_KEYWORDS = frozenset({
    "while", "for", "do", "switch", "case", "return", "goto", "break", "continue", "struct",
    "union", "typedef", "sizeof",
})


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str, path: str):
        self.path = path
        self.text = text
        self.toks, self.comments = tokenize(text, path)
        self.i = 0
        self._cond_tokens: list[tuple[str, Tok]] = []   # names a condition uses, to check
        self._scope: set[str] = set()
        self._registers: list[str] = []
        self.depth = 0      # nesting of the construct being parsed (_deeper)

    # -- token helpers --
    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def err(self, msg: str, tok: Tok | None = None) -> LitmusError:
        t = tok or self.tok
        return LitmusError(self.path, t.line, t.col, msg)

    def at(self, text: str) -> bool:
        t = self.tok
        return t.kind in ("op", "id") and t.text == text

    def take(self) -> Tok:
        t = self.tok
        if t.kind == "eof":
            raise self.err("unexpected end of file")
        self.i += 1
        return t

    def expect(self, text: str, what: str = "") -> Tok:
        if not self.at(text):
            got = "end of file" if self.tok.kind == "eof" else repr(self.tok.text)
            raise self.err(f"expected {text!r}{' ' + what if what else ''}, found {got}")
        return self.take()

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.i += 1
            return True
        return False

    def ident(self, what: str) -> Tok:
        if self.tok.kind != "id":
            got = "end of file" if self.tok.kind == "eof" else repr(self.tok.text)
            raise self.err(f"expected {what}, found {got}")
        return self.take()

    def pos(self) -> Pos:
        return Pos(self.tok.line, self.tok.col)

    def _num(self) -> int:
        t = self.take()
        try:
            return _number(t)
        except _BadNumber:
            raise self.err(f"integer literal {t.text[:24]}{'...' if len(t.text) > 24 else ''} "
                           f"is wider than 64 bits", t) from None

    def _deeper(self, part: Callable[[], Any], what: str) -> Any:
        """``part()`` one nesting level deeper: past MAX_NESTING, a located error
        instead of a RecursionError."""
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise self.err(f"{what} nested too deeply (more than {MAX_NESTING} levels)")
            return part()
        finally:
            self.depth -= 1

    # -- the file --
    def program(self) -> Program:
        if not self.text.strip():
            raise LitmusError(self.path, 1, 1, "empty file: expected 'C NAME'")
        t = self.tok
        if not (t.kind == "id" and t.text == "C"):
            raise self.err("expected 'C NAME' on the first line (only C litmus tests are supported)")
        self.take()
        name = self._test_name(t)
        if self.tok.kind == "str":
            self.take()
        result = None
        for c in self.comments[:1]:
            m = re.search(r"Result:\s*(\w+)", c)
            if m:
                result = m.group(1)
        self.expect("{", "to open the init block")
        locs, reg_init = self._init_block()
        threads = []
        while self.tok.kind == "id" and re.fullmatch(r"P[0-9]+", self.tok.text):
            threads.append(self._thread(len(threads)))
        if not threads:
            raise self.err("expected a thread P0(...) { ... }")
        locations: list[str] = []
        filt = None
        while True:
            if self.accept("locations"):
                self.expect("[")
                while not self.accept("]"):
                    locations.append(self._cond_key())
                    if not self.at("]"):
                        self.expect(";")
            elif self.accept("filter"):
                filt = self._prop()
            else:
                break
        if self.accept("~"):
            self.expect("exists", "after '~'")
            quant = "~exists"
        elif self.accept("exists"):
            quant = "exists"
        elif self.accept("forall"):
            quant = "forall"
        else:
            got = "end of file" if self.tok.kind == "eof" else repr(self.tok.text)
            raise self.err(f"expected a condition (exists, ~exists or forall), found {got}")
        cond = self._prop()
        if self.tok.kind != "eof":
            raise self.err(f"unexpected {self.tok.text!r} after the condition")
        for tid, _reg, _v, t in reg_init:
            if tid >= len(threads):
                raise self.err(f"the init block names thread P{tid}, which does not exist", t)
        reg_init = [(tid, reg, v) for tid, reg, v, _t in reg_init]
        prog = Program(self.path, name, result, tuple(locs), tuple(reg_init), tuple(threads),
                       tuple(locations), filt, quant, cond)
        return prog

    def _test_name(self, c_tok: Tok) -> str:
        # The name is the rest of the first line: it may hold '+', '.', '-' ...
        line_text = self.text.splitlines()[c_tok.line - 1]
        rest = line_text[c_tok.col:].split()
        if not rest:
            raise self.err("expected a test name after 'C'", c_tok)
        while self.tok.kind != "eof" and self.tok.line == c_tok.line:
            self.take()
        return rest[0]

    def _other_type_name(self) -> bool:
        """A type name herd7 takes though it is none of ours (``__int128``,
        ``atomic_int``): an identifier followed by a name or a ``*``. Values are
        untyped here, so the type itself does not matter."""
        t, nxt = self.tok, self.toks[self.i + 1]
        return (t.kind == "id" and t.text not in _UNSUPPORTED_KEYWORDS and t.text not in PRIMITIVES
                and (nxt.kind == "id" or nxt.text == "*"))

    def _type(self, other_names: bool = True) -> tuple[list[str], int]:
        words = []
        while self.tok.kind == "id":
            if self.tok.text in _TYPE_WORDS:
                words.append(self.take().text)
            elif self.tok.text == "struct" and self.toks[self.i + 1].text == "srcu_struct":
                self.take()             # struct srcu_struct: the one struct LKMM knows
                words.append(self.take().text)
            elif other_names and self._other_type_name():
                words.append(self.take().text)
            else:
                break
        stars = 0
        while self.accept("*"):
            stars += 1
        return words, stars

    def _init_block(self):
        """``{ int x; int *p=&x; y=z; spinlock_t l; int *1:r1; 0:r0=x; }``.

        A name on the right of ``=`` (with or without ``&``) is the address of that
        location; herd7 creates a location named only there (initial value 0)."""
        locs: dict[str, tuple[Any, bool, Tok]] = {}
        reg_init: list[tuple[int, str, Any, Tok]] = []
        targets: list[str] = []          # every name used as an address
        while not self.accept("}"):
            if self.accept(";"):
                continue
            words, _ = self._type()
            if self.tok.kind == "num":      # 0:r0=1, or a typed register: int *1:r1;
                tid_tok = self.tok
                tid = self._num()
                self.expect(":")
                reg = self.ident("a register name")
                value: Any = 0
                if self.accept("="):
                    value = self._init_value()
                reg_init.append((tid, reg.text, value, tid_tok))
            else:
                nt = self.ident("a location name in the init block")
                if nt.text in _UNSUPPORTED_KEYWORDS:
                    raise self.err(f"unsupported construct {nt.text!r} in the init block", nt)
                if self.at("[") or self.at("."):
                    raise self.err(f"unsupported construct {self.tok.text!r} in the init block")
                value = 0
                if self.accept("="):
                    value = self._init_value()
                locs[nt.text] = (value, "spinlock_t" in words, nt)
            if isinstance(value, str):
                targets.append(value)
            if not self.at("}"):
                self.expect(";", "after an initialisation")
        for name in targets:
            if name not in locs:
                locs[name] = (0, False, None)
        return [(n, v, lk) for n, (v, lk, _t) in locs.items()], [
            (tid, reg, value, t) for tid, reg, value, t in reg_init]

    def _init_value(self) -> Any:
        if self.accept("&"):
            return self.ident("a location name after '&'").text
        neg = self.accept("-")
        if self.tok.kind == "num":
            v = self._num()
            return wrap(-v) if neg else v
        t = self.ident("an initial value")
        if t.text == "NULL":
            return 0
        if t.text == "ATOMIC_INIT":
            self.expect("(")
            v = self._init_value()
            self.expect(")")
            return v
        return t.text

    def _thread(self, index: int) -> ThreadAst:
        t = self.take()
        # compared as text: a 5,000-digit thread number is no int() to compute
        tid = index if t.text[1:] == str(index) else -1
        if tid != index:
            raise self.err(f"expected thread P{index}, found {t.text}", t)
        self.expect("(")
        params = []
        while not self.accept(")"):
            words, stars = self._type()
            pt = self.ident("a parameter name")
            if not words and not stars:
                raise self.err(f"parameter {pt.text!r} needs a type", pt)
            params.append((pt.text, "spinlock_t" in words))
            if not self.at(")"):
                self.expect(",")
        self._scope = {p for p, _ in params}
        self._registers: list[str] = []
        self.expect("{", f"to open the body of {t.text}")
        body = self._block_rest()
        return ThreadAst(tid, tuple(params), tuple(self._registers), tuple(body))

    # -- statements --
    def _block_rest(self) -> list:
        out: list = []
        while not self.accept("}"):
            if self.tok.kind == "eof":
                raise self.err("unexpected end of file: missing '}'")
            out.extend(self._statement())
        return out

    def _statement(self) -> list:
        return self._deeper(self._statement_body, "statement")

    def _statement_body(self) -> list:
        t = self.tok
        pos = self.pos()
        if self.accept(";"):
            return []
        if self.accept("{"):
            return self._block_rest()
        if t.kind == "id" and (t.text in _TYPE_WORDS or (
                t.text == "struct" and self.toks[self.i + 1].text == "srcu_struct") or (
                self._other_type_name() and self.toks[self.i + 1].kind == "id")):
            return self._declaration()
        if t.kind == "id" and t.text in _UNSUPPORTED_KEYWORDS:
            raise self.err(f"unsupported construct {t.text!r}")
        if self.accept("if"):
            self.expect("(", "after 'if'")
            cond = self._expr()
            self.expect(")", "to close the 'if' condition")
            then = self._statement()
            other: list = []
            if self.accept("else"):
                other = self._statement()
            return [If(cond, tuple(then), tuple(other), pos)]
        if self.at("*"):
            target = self._unary()
            self.expect("=", "(a plain store)")
            value = self._expr()
            self.expect(";")
            return [Assign(target, value, pos)]
        if t.kind == "id" and self.toks[self.i + 1].text == "=" and self.toks[self.i + 1].kind == "op":
            self.take()
            self._use(t)
            self.take()
            value = self._expr()
            self.expect(";")
            return [Assign(Name(t.text, pos), value, pos)]
        expr = self._expr()
        if self.at("="):
            raise self.err("unsupported assignment target")
        self.expect(";", "after a statement")
        return [ExprStmt(expr, pos)]

    def _declaration(self) -> list:
        out = []
        words, _ = self._type()
        while True:
            while self.accept("*"):
                pass
            nt = self.ident("a variable name")
            if nt.text in PRIMITIVES or nt.text in _TYPE_WORDS:
                raise self.err(f"{nt.text!r} cannot be a variable name", nt)
            if nt.text not in self._registers:
                self._registers.append(nt.text)
            self._scope.add(nt.text)
            pos = Pos(nt.line, nt.col)
            if self.accept("="):
                out.append(Assign(Name(nt.text, pos), self._expr(), pos))
            # else: nothing to run; every register starts at 0 (herd) or at the
            # value the init block gives it (``0:r1=2;``).
            if not self.accept(","):
                break
        self.expect(";", "after a declaration")
        return out

    def _use(self, t: Tok) -> None:
        """A name that is not a parameter is a register; herd7 needs no declaration
        for it and starts it at 0 (or at the init block's value)."""
        if self.tok.kind == "eof":      # a name cut short by a truncated file
            raise self.err("unexpected end of file")
        if t.text in PRIMITIVES or t.text in _UNSUPPORTED_KEYWORDS:
            raise self.err(f"{t.text!r} cannot be a register name", t)
        if t.text not in self._scope:
            self._scope.add(t.text)
            self._registers.append(t.text)

    # -- expressions (C precedence) --
    _LEVELS = (("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", "<=", ">", ">="),
               ("<<", ">>"), ("+", "-"), ("*", "/", "%"))

    _PREC = {op: level for level, ops in enumerate(_LEVELS) for op in ops}

    def _expr(self, level: int = 0) -> Any:
        """Precedence climbing over ``_LEVELS``: left-associative binary operators
        binding at ``level`` or tighter (one call per operand, not per level)."""
        left = self._unary()
        while True:
            t = self.tok
            prec = self._PREC.get(t.text) if t.kind == "op" else None
            if prec is None or prec < level:
                break
            pos = Pos(t.line, t.col)
            self.i += 1
            left = Binary(t.text, left, self._expr(prec + 1), pos)
        if level == 0 and self.at("?"):
            raise self.err("unsupported construct '?:'")
        return left

    def _unary(self) -> Any:
        return self._deeper(self._unary_body, "expression")

    def _unary_body(self) -> Any:
        pos = self.pos()
        if self.accept("*"):
            return Deref(self._unary(), pos)
        if self.accept("&"):
            raise self.err("unsupported construct '&' (address of) in a thread", Tok("op", "&", pos.line, pos.col))
        for op in ("-", "!", "~"):
            if self.accept(op):
                return Unary(op, self._unary(), pos)
        if self.accept("+"):
            return self._unary()
        return self._postfix()

    def _postfix(self) -> Any:
        t = self.tok
        pos = self.pos()
        if self.accept("("):
            if self.tok.kind == "id" and self.tok.text in _TYPE_WORDS:
                self._type()        # a cast: (int *) e -- values are untyped here
                self.expect(")")
                return self._unary()
            e = self._expr()
            self.expect(")")
            return e
        if t.kind == "num":
            return Num(self._num(), pos)
        if t.kind != "id":
            got = "end of file" if t.kind == "eof" else repr(t.text)
            raise self.err(f"expected an expression, found {got}")
        self.take()
        if self.at("("):
            return self._call(t, pos)
        if t.text == "NULL":
            return Num(0, pos)
        if t.text in ("true", "false"):
            return Num(int(t.text == "true"), pos)
        if self.at("->") or self.at("["):
            raise self.err(f"unsupported construct {self.tok.text!r}")
        self._use(t)
        return Name(t.text, pos)

    def _call(self, t: Tok, pos: Pos) -> Call:
        self.expect("(")
        args = []
        while not self.accept(")"):
            args.append(self._expr())
            if not self.at(")"):
                self.expect(",", f"between the arguments of {t.text}")
        if t.text == _STORE_MB:
            kinds = "lv v"
        elif t.text in PRIMITIVES:
            kinds = PRIMITIVES[t.text][0]
            if _builder(t.text) is None:
                raise self.err(f"unsupported primitive {t.text!r}: the model has no {t.text} yet", t)
        else:
            raise self.err(f"unknown primitive {t.text!r}", t)
        want = kinds.split()
        if len(args) != len(want):
            raise self.err(f"{t.text} takes {len(want)} argument(s), found {len(args)}", t)
        for kind, a in zip(want, args):
            if kind == "lv" and not isinstance(a, Deref):
                raise self.err(f"{t.text} needs an lvalue such as *x as its first argument", t)
        return Call(t.text, tuple(args), pos, tuple(want))

    # -- conditions --
    # herd7's precedence, loosest first: ``\\/``, ``/\\``, ``=>`` (right-associative),
    # then ``~``/``not``. Nested joins of one kind are flattened, as herd7 prints them.
    def _prop(self) -> Any:
        return self._join("\\/", self._conj)

    def _conj(self) -> Any:
        return self._join("/\\", self._implies)

    def _implies(self) -> Any:
        left = self._cunary()
        if self.accept("=>"):
            return CJoin("=>", (left, self._implies()))
        return left

    def _join(self, op: str, part: Callable[[], Any]) -> Any:
        args = [part()]
        while self.accept(op):
            args.append(part())
        if len(args) == 1:
            return args[0]
        flat: list = []
        for a in args:
            flat.extend(a.args if isinstance(a, CJoin) and a.op == op else (a,))
        return CJoin(op, tuple(flat))

    def _cunary(self) -> Any:
        return self._deeper(self._cunary_body, "condition")

    def _cunary_body(self) -> Any:
        if self.accept("~") or self.accept("not"):
            return CNot(self._cunary())
        if self.accept("("):
            p = self._prop()
            self.expect(")", "to close the condition")
            return p
        if self.accept("true"):
            return CConst(True)
        if self.accept("false"):
            return CConst(False)
        key = self._cond_key()
        if self.accept("!="):
            return CNot(CAtom(key, self._cond_value()))
        self.expect("=", "in the condition")
        return CAtom(key, self._cond_value())

    def _cond_key(self) -> str:
        start = self.tok
        if self.tok.kind == "num":
            tid = self._num()
            self.expect(":")
            reg = self.ident("a register name")
            self._cond_tokens.append((f"{tid}:{reg.text}", start))
            return f"{tid}:{reg.text}"
        bracket = self.accept("[")
        nt = self.ident("a register N:reg or a location name")
        if bracket:
            self.expect("]")
        self._cond_tokens.append((f"[{nt.text}]", nt))
        return f"[{nt.text}]"

    def _cond_value(self) -> Any:
        if self.tok.kind == "num" and self.toks[self.i + 1].text == ":" or self.at("["):
            return CKey(self._cond_key())       # 0:r1=1:r4, [x]=[y]
        neg = self.accept("-")
        if self.tok.kind == "num":
            v = self._num()
            return wrap(-v) if neg else v
        t = self.ident("a value")
        if t.text == "NULL":
            return 0
        return t.text       # an address; a name no location has is equal to nothing


def parse(text: str, path: str = "<litmus>") -> Program:
    p = _Parser(text, path)
    try:
        prog = p.program()
    except RecursionError:      # thousands of nested parentheses: bad input, not a crash
        t = p.toks[min(p.i, len(p.toks) - 1)]
        raise LitmusError(path, t.line, t.col, "expression nested too deeply") from None
    shared = {n for n, _, _ in prog.locs} | {n for th in prog.threads for n, _ in th.params}
    only_named_in_conditions: list = []
    for key, tok in p._cond_tokens:
        if key.startswith("["):
            # herd7: a location named only by the condition exists, and holds 0.
            if key[1:-1] not in shared:
                shared.add(key[1:-1])
                only_named_in_conditions.append((key[1:-1], 0, False))
        # A register the thread never mentions is 0 at the end (herd7 prints it so).
        elif int(key.split(":")[0]) >= len(prog.threads):
            raise LitmusError(path, tok.line, tok.col, f"register {key!r} of a thread that does not exist")
    if only_named_in_conditions:
        prog = attrs.evolve(prog, locs=prog.locs + tuple(only_named_in_conditions))
    return prog


def parse_file(path: str) -> Program:
    """Read (at most ``limits.MAX_INPUT_BYTES`` of a regular file, UTF-8 with or
    without a byte-order mark) and parse."""
    try:
        data = limits.read_input(path)
    except limits.BadInput as exc:
        raise LitmusError(path, 1, 1, str(exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise LitmusError(path, line, col, f"not UTF-8: byte 0x{data[exc.start]:02x}") from None
    return parse(text, path)


# --------------------------------------------------------------------------
# Interpreter: each Pn becomes an engine thread
# --------------------------------------------------------------------------

class _Raise(Exception):
    """A run-time fault of the litmus program (not of the model), with its position."""

    def __init__(self, pos: Pos, msg: str):
        super().__init__(msg)
        self.pos, self.msg = pos, msg


class LitmusLoc(Loc):
    """A litmus test's shared location. A test builds exactly one object per name
    (``_make_locations``) and every pointer to it is that object, so equality and
    hashing are identity: the C-level ``object`` methods, cheap on the engine's hot
    dictionaries, and finite where pointer initialisers are circular (``p=q;
    q=p;``), where ``Loc``'s field-wise equality would recurse for ever. The
    initial value is set once, after every location of the test exists."""

    __slots__ = ()
    __eq__ = object.__eq__      # NotImplemented unless identical: lets _AnyBut decide
    __ne__ = object.__ne__
    __hash__ = object.__hash__


def _make_locations(prog: Program) -> dict[str, Loc]:
    """One ``Loc`` per shared name: the init block's (pointer targets included),
    plus every thread parameter herd creates implicitly (initial value 0). A pointer
    initialiser (``int *p=&y;``, ``p=y;``) holds the target ``Loc``."""
    decl = {n: (init, lock) for n, init, lock in prog.locs}
    for th in prog.threads:
        for name, lock in th.params:
            init, was_lock = decl.get(name, (0, False))
            decl[name] = (init, was_lock or lock)
    out: dict[str, Loc] = {name: LitmusLoc(name, 0, lock=lock) for name, (_i, lock) in decl.items()}
    for name, (init, _lock) in decl.items():
        if init != 0:
            object.__setattr__(out[name], "init", out[init] if isinstance(init, str) else init)
    return out


def _arith(op: str, a: Any, b: Any, pos: Pos) -> Any:
    """A C binary operator; the result depends on both operands (LKMM ``data``)."""
    ra, rb = raw(a), raw(b)
    if isinstance(ra, Loc) or isinstance(rb, Loc):
        if op not in ("==", "!="):
            raise _Raise(pos, f"unsupported pointer arithmetic {op!r}")
        r = int((ra == rb) == (op == "=="))
    elif op in ("/", "%"):
        if rb == 0:
            raise _Raise(pos, "division by zero")
        q = abs(ra) // abs(rb) * (1 if (ra >= 0) == (rb >= 0) else -1)   # C truncates
        r = q if op == "/" else ra - q * rb
    else:
        if op in ("<<", ">>") and not 0 <= rb < INT_BITS:
            raise _Raise(pos, f"shift by {rb} out of range for a {INT_BITS}-bit int (undefined in C)")
        r = _BINOPS[op](ra, rb)
    if type(r) is int:
        r = wrap(r)
    if isinstance(a, Val) or isinstance(b, Val):
        ctx = a.ctx if isinstance(a, Val) else None
        ctx = ctx or (b.ctx if isinstance(b, Val) else None)
        return Val(r, deps_of(a) | deps_of(b), ctx)
    return r


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
    "<<": lambda a, b: a << b, ">>": lambda a, b: a >> b,
    "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b),
    "<": lambda a, b: int(a < b), "<=": lambda a, b: int(a <= b),
    ">": lambda a, b: int(a > b), ">=": lambda a, b: int(a >= b),
}


def _pure(e: Any) -> bool:
    """No memory access inside: evaluating it cannot yield an operation."""
    if isinstance(e, (Num, Name)):
        return True
    if isinstance(e, Unary):
        return _pure(e.arg)
    if isinstance(e, Binary):
        return _pure(e.left) and _pure(e.right)
    return False


def _truth(v: Any) -> bool:
    # bool(Val) records a control dependency on the loads it came from (events.Val).
    return bool(v)


class _ReadThroughNonPointer(Exception):
    """A load from an address that is not a location (NULL, an integer)."""


# A thread's result when it read through a non-pointer: herd7 drops such an
# execution (a load from NULL in the runs where a pointer is not yet published),
# where a store through a non-pointer makes it reject the whole test.
DROPPED = object()

# The primitives that only store: through a non-pointer they are an error of the
# test. Every other access reads first (loads, RMWs, lock operations), and herd7
# drops the execution instead (an xchg through NULL as a READ_ONCE through NULL).
_STORES = frozenset({"WRITE_ONCE", "smp_store_release", "rcu_assign_pointer", "atomic_set",
                     "atomic_set_release", "spin_unlock", "srcu_read_unlock", "srcu_up_read",
                     "synchronize_srcu", "synchronize_srcu_expedited", "up_read", "up_write"})


_SPIN = frozenset(name for name in PRIMITIVES if name.startswith("spin_"))


def _pointer(v: Any, pos: Pos, load: bool) -> LocRef:
    """The location a pointer value denotes, with its address dependency.
    ``load``: the access reads (see DROPPED)."""
    if isinstance(v, Val) and isinstance(v.v, Loc):
        return LocRef(v.v, v.deps)
    if isinstance(v, Loc):
        return LocRef(v)
    if load:
        raise _ReadThroughNonPointer()
    raise _Raise(pos, f"dereference of a non-pointer value {raw(v)!r}")


# A thread's result in a witness search (``witness``) once a register took a value
# the exists clause rules out, at an assignment after which nothing assigns that
# register again: no execution below the state can satisfy the clause.
DOOMED = object()


class _Doomed(Exception):
    """Raised in a thread body by such an assignment (witness search only)."""


class _Interp:
    """Walks one thread's statements, yielding ``ops`` values to the engine.

    ``doom`` (witness search only): ``id(Assign)`` -> the value the exists clause
    pins that assignment's register to, for assignments no other can follow; a
    thread that assigns another value stops there with result ``DOOMED``."""

    def __init__(self, locs: dict[str, Loc], doom: dict[int, Any] | None = None):
        self.locs = locs
        self.doom = doom

    def body(self, th: ThreadAst, init: dict[str, Any]) -> Iterator[Any]:
        env: dict[str, Any] = {r: 0 for r in th.registers}
        for name, _lock in th.params:
            env[name] = self.locs[name]
        env.update(init)
        try:
            yield from self.block(th.body, env)
        except _ReadThroughNonPointer:
            return DROPPED
        except _Doomed:
            return DOOMED
        return {k: raw(v) for k, v in env.items()}

    def block(self, stmts: tuple, env: dict) -> Iterator[Any]:
        for s in stmts:
            t = type(s)
            if t is Assign:
                if type(s.target) is Name:
                    value = s.value
                    # Skip eval's dispatch for the common shapes: the engine replays
                    # a thread's generator from the start on every fork of a state.
                    if type(value) is Call:
                        env[s.target.name] = yield from self.call(value, env)
                    else:
                        env[s.target.name] = yield from self.eval(value, env)
                    if self.doom is not None and id(s) in self.doom \
                            and not _matches(env[s.target.name], self.doom[id(s)]):
                        raise _Doomed
                else:
                    ref = yield from self.address(s.target.arg, env, s.pos)
                    if ref.loc.lock:
                        raise _Raise(s.pos, f"plain store to spinlock {ref.loc.name}")
                    v = yield from self.eval(s.value, env)
                    yield ops.plain_write(ref, v)      # plain C store: *x = v
            elif t is ExprStmt:
                if type(s.expr) is Call:
                    yield from self.call(s.expr, env)
                else:
                    yield from self.eval(s.expr, env)
            elif t is If:
                c = yield from self.eval(s.cond, env)
                # herd7's ctrl reaches the events of the branch taken, not those
                # after the if (LB+ctrl-after-if+data in tests/herd/lb/).
                ctx = c.ctx if isinstance(c, Val) else None
                outer = ctx.ctrl if ctx is not None else None
                taken = _truth(c)
                yield from self.block(s.then if taken else s.other, env)
                if ctx is not None:
                    ctx.ctrl = outer
            else:  # pragma: no cover - the parser builds nothing else
                raise _Raise(Pos(0, 0), f"cannot run {s!r}")

    def address(self, e: Any, env: dict, pos: Pos, load: bool = False) -> Iterator[Any]:
        """The location a pointer expression denotes, with its address dependency.
        ``load``: the access only reads (see DROPPED)."""
        v = env[e.name] if type(e) is Name else (yield from self.eval(e, env))
        return _pointer(v, pos, load)

    def eval(self, e: Any, env: dict) -> Iterator[Any]:
        t = type(e)
        if t is Num:
            return e.value
        if t is Name:
            return env[e.name]
        if t is Call:
            return (yield from self.call(e, env))
        if isinstance(e, Deref):            # plain C load: ... = *x
            ref = yield from self.address(e.arg, env, e.pos, load=True)
            if ref.loc.lock:
                raise _Raise(e.pos, f"plain load from spinlock {ref.loc.name}")
            return (yield ops.plain_read(ref))
        if isinstance(e, Unary):
            a = yield from self.eval(e.arg, env)
            if isinstance(raw(a), Loc):
                raise _Raise(e.pos, f"unsupported pointer arithmetic {e.op!r}")
            if e.op == "-":
                return _arith("-", 0, a, e.pos)
            if e.op == "~":
                return _arith("^", -1, a, e.pos)
            return _arith("==", a, 0, e.pos)       # !a
        if isinstance(e, Binary):
            if e.op in ("&&", "||"):
                return (yield from self.logical(e, env))
            a = yield from self.eval(e.left, env)
            b = yield from self.eval(e.right, env)
            return _arith(e.op, a, b, e.pos)
        raise _Raise(Pos(0, 0), f"cannot evaluate {e!r}")  # pragma: no cover

    def logical(self, e: Binary, env: dict) -> Iterator[Any]:
        a = yield from self.eval(e.left, env)
        if _pure(e.right):
            # No access to skip: the value depends on both sides (data), no branch.
            b = yield from self.eval(e.right, env)
            ta, tb = bool(raw(a)), bool(raw(b))
            r = int(ta and tb) if e.op == "&&" else int(ta or tb)
            if isinstance(a, Val) or isinstance(b, Val):
                ctx = getattr(a, "ctx", None) or getattr(b, "ctx", None)
                return Val(r, deps_of(a) | deps_of(b), ctx)
            return r
        # C short-circuits: whether the right side's accesses happen depends on
        # the left side, which is a control dependency (events.Val.__bool__).
        ta = _truth(a)
        if ta == (e.op == "||"):
            return int(ta)
        b = yield from self.eval(e.right, env)
        return int(_truth(b))

    def call(self, e: Call, env: dict) -> Iterator[Any]:
        if e.name == _STORE_MB:
            ref = yield from self.address(e.args[0].arg, env, e.pos)
            v = yield from self.eval(e.args[1], env)
            yield ops.WRITE_ONCE(ref, v)
            yield ops.smp_mb()
            return 0
        entry = PRIMITIVES[e.name]
        build = entry[1] if not isinstance(entry[1], str) else _builder(e.name)
        args = []
        load = e.name not in _STORES
        for kind, a in zip(e.kinds, e.args):
            if kind == "v":
                t = type(a)
                if t is Num:
                    args.append(a.value)
                elif t is Name:
                    args.append(env[a.name])
                else:
                    args.append((yield from self.eval(a, env)))
            else:
                target = a.arg if kind == "lv" else a
                if type(target) is Name:        # READ_ONCE(*x), smp_load_acquire(x)
                    args.append(_pointer(env[target.name], e.pos, load))
                else:
                    args.append((yield from self.address(target, env, e.pos, load)))
        if args and type(args[0]) is LocRef:
            # lock.cat: only the spin_* primitives may touch a spinlock_t, and they
            # touch nothing else (the engine enforces it too; here we know the line).
            wants_lock = e.name in _SPIN
            if args[0].loc.lock != wants_lock:
                what = "is not a spinlock_t" if wants_lock else "is a spinlock_t"
                raise _Raise(e.pos, f"{e.name} on {args[0].loc.name}, which {what}")
        op = build(*args)
        if type(op) is ops.Rmw and op.lock_kinds is None:
            # C's atomic_t is a 32-bit int: what an RMW writes wraps as the test's
            # arithmetic does (atomic_add(1, x) at INT_MAX gives INT_MIN)
            op = attrs.evolve(op, update=_wrapped(op.update))
        result = yield op
        result = 0 if result is None else result
        if e.name == "atomic_add_unless":
            return _arith("!=", result, args[2], e.pos)     # 1: it added (the old value was not U)
        if len(entry) > 2:                                   # atomic_*_and_test, atomic_add_negative
            return _arith(entry[2][0], result, entry[2][1], e.pos)
        return result


def _wrapped(update: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An RMW's update whose integer results wrap to a C int (pointers pass as they are)."""
    def update_wrapped(old):
        new = update(old)
        return wrap(new) if type(new) is int else new
    return update_wrapped


# --------------------------------------------------------------------------
# Exhaustive run
# --------------------------------------------------------------------------

@attrs.frozen(slots=True)
class LitmusResult:
    name: str
    quantifier: str
    condition: str              # as herd prints it, e.g. "exists (0:r0=0 /\\ [y]=1)"
    keys: tuple                 # the state's columns, in herd's order
    states: tuple               # sorted tuples of values, one per key
    positive: int
    negative: int
    executions: int
    blocked: int
    ok: bool
    observation: str            # Never | Sometimes | Always (a witness search: Sometimes, the condition held once)
    seconds: float
    result: str | None          # the doc comment's Result: word
    flags: tuple = ()           # herd7's flags (data-race, ...): raised by some execution
    # "exhaustive": every execution, herd7's states and counts; "witness": a witness
    # search (``witness``) that stopped at the first execution satisfying the exists
    # clause: ``states`` is that one state, and there are no counts (positive 1,
    # negative 0 only say so); ``flags`` are that execution's.
    search: str = "exhaustive"
    searched: int = 0           # witness search: the states it explored


def _keys_of(prop: Any) -> list[str]:
    if isinstance(prop, CAtom):
        return [prop.key, prop.value.key] if isinstance(prop.value, CKey) else [prop.key]
    if isinstance(prop, CNot):
        return _keys_of(prop.arg)
    if isinstance(prop, CJoin):
        return [k for a in prop.args for k in _keys_of(a)]
    return []


def _same(a: Any, b: Any) -> bool:
    """herd7's equality of final values: a pointer equals only the same address."""
    if isinstance(a, Loc) or isinstance(b, Loc):
        return isinstance(a, Loc) and isinstance(b, Loc) and a.name == b.name
    return a == b


def _holds(prop: Any, state: dict[str, Any]) -> bool:
    if isinstance(prop, CAtom):
        want = prop.value
        if isinstance(want, CKey):
            return _same(state[prop.key], state[want.key])
        v = state[prop.key]
        if isinstance(want, str):
            return isinstance(v, Loc) and v.name == want
        return _same(v, want)
    if isinstance(prop, CNot):
        return not _holds(prop.arg, state)
    if isinstance(prop, CJoin):
        if prop.op == "=>":
            return not _holds(prop.args[0], state) or _holds(prop.args[1], state)
        test = all if prop.op == "/\\" else any
        return test(_holds(a, state) for a in prop.args)
    return prop.value


# How tightly each join binds (herd7): an argument binding looser than its join
# is printed in parentheses, and so is an implication inside a conjunction or a
# disjunction (herd7 prints ``a /\\ (b => c)``, though ``=>`` binds tighter).
_BINDS = {"\\/": 0, "/\\": 1, "=>": 2}


def show_prop(prop: Any, top: bool = True, around: int | None = None) -> str:
    """herd7's rendering: ``x=1`` becomes ``[x]=1``, ``~a`` and ``a!=v`` become
    ``not (a=v)``, one pair of parentheses outside."""
    if isinstance(prop, CAtom):
        v = prop.value
        s = f"{prop.key}={v.key if isinstance(v, CKey) else v}"
    elif isinstance(prop, CNot):
        s = f"not ({show_prop(prop.arg, False)})"
    elif isinstance(prop, CJoin):
        binds = _BINDS[prop.op]
        s = f" {prop.op} ".join(show_prop(a, False, binds) for a in prop.args)
        # ``around``: how tightly the enclosing join binds (None: at the top or in not (...)).
        if around is not None and (binds < around or (prop.op == "=>" and around < binds)):
            s = f"({s})"
    else:
        s = "true" if prop.value else "false"
    return f"({s})" if top else s


def _key_order(key: str) -> tuple:
    # herd lists registers (by thread, then name) before locations (by name).
    if key.startswith("["):
        return (1, 0, key[1:-1])
    tid, reg = key.split(":")
    return (0, int(tid), reg)


def _value_order(v: Any) -> tuple:
    return (1, v.name) if isinstance(v, Loc) else (0, v)


def _named(e: Any, locs: dict[str, Loc]) -> Loc | None:
    """The shared location a pointer expression names directly (``x``, ``*x``)."""
    if isinstance(e, Deref):
        e = e.arg
    return locs.get(e.name) if isinstance(e, Name) else None


def _per_thread(prog: Program, visit: Callable[[Any, set], Any]) -> dict[int, set]:
    """Walk each thread's statements and expressions; ``visit(node, found)`` adds
    what it finds and returns None to go on into every part of the node, or the
    parts to go on into."""
    def walk(node: Any, found: set) -> None:
        if isinstance(node, (tuple, list)):
            for x in node:
                walk(x, found)
            return
        parts = visit(node, found)
        if parts is None and attrs.has(type(node)):
            parts = [getattr(node, f.name) for f in attrs.fields(type(node)) if f.name != "pos"]
        for x in parts or ():
            walk(x, found)

    result: dict[int, set] = {}
    for th in prog.threads:
        found: set = set()
        walk(th.body, found)
        if found:
            result[th.tid] = found
    return result


_LOCK_WORD_STORES = {"spin_lock": 1, "spin_trylock": 1, "spin_unlock": 0}


def static_stores(prog: Program, locs: dict[str, Loc]) -> dict[int, set]:
    """The constant stores each thread's text makes to a named location, taken or
    not (``*y = 1``, ``WRITE_ONCE(*y, 1)``, ``smp_store_release(y, 1)``, ``xchg(y, 1)``,
    a lock word's 1 and 0): load buffering may need a value that no run without
    promises stores (``explore_load_buffering``)."""
    def visit(node: Any, found: set) -> bool:
        if isinstance(node, Assign) and isinstance(node.target, Deref) and isinstance(node.value, Num):
            loc = _named(node.target, locs)
            if loc is not None:
                found.add((loc, node.value.value))
        elif isinstance(node, Call) and node.name in _LOCK_WORD_STORES and node.args:
            loc = _named(node.args[0], locs)
            if loc is not None:
                found.add((loc, _LOCK_WORD_STORES[node.name]))
        elif isinstance(node, Call) and len(node.args) >= 2 and isinstance(node.args[1], Num):
            loc = _named(node.args[0], locs)
            if loc is not None and not loc.lock:
                found.add((loc, node.args[1].value))
        return None
    return _per_thread(prog, visit)


def static_loads(prog: Program, locs: dict[str, Loc]) -> dict[int, set]:
    """The named locations each thread's text may read: every ``*x`` outside a
    store's left side, and the first argument of every primitive that reads (an
    over-approximation: it only widens which threads may promise values)."""
    def visit(node: Any, found: set) -> bool:
        if isinstance(node, Deref) or (isinstance(node, Call) and node.args and node.name not in _STORES):
            loc = _named(node if isinstance(node, Deref) else node.args[0], locs)
            if loc is not None:
                found.add(loc)
        if isinstance(node, Assign) and isinstance(node.target, Deref):
            return (node.value,)             # the target is a store, not a load
        return None
    return _per_thread(prog, visit)


# The primitives that only read their location: calling one on x stores nothing.
_READS_ONLY = frozenset({"READ_ONCE", "smp_load_acquire", "rcu_dereference", "atomic_read",
                         "atomic_read_acquire", "spin_is_locked", "srcu_read_lock", "srcu_down_read"})
# may_store's mark for a store through a pointer the thread computes: anywhere.
_ANYWHERE = object()


def may_store(prog: Program, locs: dict[str, Loc]) -> list[frozenset | None]:
    """Per thread, in engine order: the locations its text may store to, or None
    if it may store through a pointer it computes (``*r = 1``, ``WRITE_ONCE(*r, 1)``
    with ``r`` a register), for ``explore.finals_only``. An over-approximation: a
    store on a branch never taken counts, and so does every primitive not known to
    only read (an RMW, a lock operation, a grace period on an srcu_struct)."""
    def assigned(node: Any, found: set) -> None:
        if isinstance(node, Assign) and isinstance(node.target, Name):
            found.add(node.target.name)

    def targets(node: Any, found: set) -> None:
        # the expressions stores go through, resolved below once registers are known
        if isinstance(node, Assign) and isinstance(node.target, Deref):
            found.add(node.target.arg)
        elif isinstance(node, Call) and node.name not in _READS_ONLY:
            kinds = node.kinds or ("p",) * len(node.args)
            found.update(a.arg if isinstance(a, Deref) else a
                         for a, k in zip(node.args, kinds) if k in ("p", "lv"))
            if len(node.args) > len(kinds):
                found.add(_ANYWHERE)

    regs_of = _per_thread(prog, assigned)
    stores_of = _per_thread(prog, targets)
    out: list[frozenset | None] = []
    for th in prog.threads:
        regs = regs_of.get(th.tid, set()) | {r for tid, r, _ in prog.reg_init if tid == th.tid}
        found = set()
        for e in stores_of.get(th.tid, ()):
            named = isinstance(e, Name) and e.name not in regs and e.name in locs
            found.add(locs[e.name] if named else _ANYWHERE)
        out.append(None if _ANYWHERE in found else frozenset(found))
    return out


def build(prog: Program, doom: dict[int, Any] | None = None) -> tuple[list[ThreadSpec], dict[str, Loc]]:
    """The engine threads of a parsed test, and its shared locations by name
    (``doom``: the witness search's pinned last assignments, ``_last_pinned``)."""
    locs = _make_locations(prog)
    interp = _Interp(locs, doom)
    specs = []
    for th in prog.threads:
        init = {}
        for tid, reg, value in prog.reg_init:
            if tid == th.tid:
                init[reg] = locs[value] if isinstance(value, str) else value
        specs.append(ThreadSpec(f"P{th.tid}", interp.body, (th, init)))
    return specs, locs


def _final_state(ex: Execution, unset: dict, locs: dict) -> dict[str, Any]:
    """A finished execution's state as herd7 names it: every register
    (``tid:reg``, ``unset`` for those never assigned) and every location's final
    value (``[name]``)."""
    full: dict[str, Any] = dict(unset)
    for t in ex.threads:
        for reg, v in t.result.items():
            full[f"{t.tid}:{reg}"] = v
    for name, loc in locs.items():
        full[f"[{name}]"] = ex.final_value(loc)
    return full


def run(prog: Program, max_states: int | None = None, reduce: bool = True) -> LitmusResult:
    """Every execution of ``prog`` (models/explore.py), its final states and verdict.
    ``reduce``: explore with ``explore.finals_only`` (the same executions in fewer
    states; False explores every interleaving, as the tests compare)."""
    t0 = time.perf_counter()
    specs, locs = build(prog)
    for name in (k[1:-1] for k in _keys_of(prog.condition) if k.startswith("[")):
        if locs[name].lock:
            raise LitmusError(prog.path, 1, 1, f"condition reads spinlock {name!r}")
    keys = sorted(dict.fromkeys([*_keys_of(prog.condition), *prog.locations]), key=_key_order)
    # A register the thread never mentions is 0 at the end (herd7).
    unset = {k: 0 for k in (*keys, *_keys_of(prog.filter)) if not k.startswith("[")}
    flags_of = _flags_function()
    flags: set[str] = set()
    stats = ExploreStats()
    states: set[tuple] = set()
    pos = neg = 0
    current = 0
    # a progress line on standard error while a long test runs (models/limits.py)
    progress = limits.working(lambda: f"litmus test {prog.name}")
    progress.__enter__()
    try:
        runs = explore_load_buffering(lambda spec: Execution(specs, speculation=spec, stale_window=None),
                                      stats, max_states=max_states,
                                      static_stores=static_stores(prog, locs),
                                      static_loads=static_loads(prog, locs),
                                      persistent=finals_only(may_store(prog, locs)) if reduce else None)
        for n, ex in runs:
            if n != current:      # a later pass with load buffering: start again
                current, states, pos, neg = n, set(), 0, 0
                flags = set()
            if any(t.result is DROPPED for t in ex.threads):
                continue      # a load through a non-pointer: herd7 drops the execution
            full = _final_state(ex, unset, locs)
            if prog.filter is not None and not _holds(prog.filter, full):
                continue
            if flags_of is not None:
                # herd7 raises a flag when one execution the filter keeps raises it.
                flags |= flags_of(ex.graph())
            states.add(tuple(full[k] for k in keys))
            if _holds(prog.condition, full):
                pos += 1
            else:
                neg += 1
    except ValuesDidNotSettle as exc:
        raise LitmusError(prog.path, 1, 1, str(exc)) from None
    except (limits.OutOfTime, limits.OutOfMemory) as exc:     # while building a thread's first step
        raise LitmusIncomplete(prog.path, 1, 1, f"{exc.message}: not explored to the end") from None
    except ModelError as exc:
        cause = exc.__cause__
        if isinstance(cause, _Raise):
            raise LitmusError(prog.path, cause.pos.line, cause.pos.col, cause.msg) from None
        raise LitmusError(prog.path, 1, 1, str(exc)) from None
    finally:
        progress.__exit__(None, None, None)
    if stats.truncated:
        raise LitmusIncomplete(prog.path, 1, 1, f"{stats.stopped or f'more than {max_states} states'}: "
                               f"not explored to the end")
    ok = {"exists": pos > 0, "~exists": pos == 0, "forall": neg == 0}[prog.quantifier]
    observation = "Never" if pos == 0 else "Always" if neg == 0 else "Sometimes"
    ordered = tuple(sorted(states, key=lambda s: tuple(_value_order(v) for v in s)))
    return LitmusResult(
        prog.name, prog.quantifier, f"{prog.quantifier} {show_prop(prog.condition)}",
        tuple(keys), ordered, pos, neg, stats.executions, stats.blocked, ok, observation,
        time.perf_counter() - t0, prog.result, tuple(sorted(flags)))


def _matches(v: Any, want: Any) -> bool:
    """A register's value ``v`` is the condition's ``want`` (an int, or a location's
    name: its address), as ``_holds`` compares them."""
    v = raw(v)
    if isinstance(want, str):
        return isinstance(v, Loc) and v.name == want
    return _same(v, want)


def _pins(prop: Any) -> dict[str, Any]:
    """The registers a condition pins: ``{"N:r": value}`` for each conjunct ``N:r=v``
    (``v`` an int or an address) of a condition that is a conjunction; the condition
    cannot hold in a final state where one of them has another value."""
    if isinstance(prop, CAtom):
        if isinstance(prop.value, CKey) or prop.key.startswith("["):
            return {}
        return {prop.key: prop.value}
    if isinstance(prop, CJoin) and prop.op == "/\\":
        out: dict[str, Any] = {}
        conflict: set[str] = set()
        for a in prop.args:
            for k, v in _pins(a).items():
                if k in out and not (type(out[k]) is type(v) and out[k] == v):
                    conflict.add(k)     # pinned to two values: leave the key to the end
                out.setdefault(k, v)
        for k in conflict:
            del out[k]
        return out
    return {}


def _last_pinned(prog: Program, pins: dict[str, Any]) -> dict[int, Any]:
    """``id(Assign)`` -> pinned value, for every assignment to a pinned register that
    no assignment to it can follow in program order (a test has no loops: the
    statements after it in its block and in the blocks around it). The register's
    final value is the value that assignment gives it."""
    out: dict[int, Any] = {}

    def walk(stmts: tuple, tid: int, after: frozenset) -> frozenset:
        assigned: set[str] = set()
        for s in reversed(stmts):
            later = after | assigned
            if type(s) is Assign and type(s.target) is Name:
                name = s.target.name
                key = f"{tid}:{name}"
                if key in pins and name not in later:
                    out[id(s)] = pins[key]
                assigned.add(name)
            elif type(s) is If:
                assigned |= walk(s.then, tid, frozenset(later)) | walk(s.other, tid, frozenset(later))
        return frozenset(assigned)

    for th in prog.threads:
        walk(th.body, th.tid, frozenset())
    return out


def witness(prog: Program, max_states: int | None = None, reduce: bool = True) -> LitmusResult:
    """A witness search for an ``exists`` test: depth first, stopping at the first
    execution whose final state satisfies the condition (and the filter); the verdict
    is then Sometimes, as the exhaustive run's would be (that execution is one of
    its executions). Where a register the condition pins to a value (a conjunct
    ``N:r=v``) is assigned another value by an assignment that no other can follow,
    the search goes no further below that state: no final state there satisfies the
    condition.

    The search runs once without load buffering, then, if the test's text suggests
    promises (``explore_load_buffering``), once with those; each run's executions
    are executions of the exhaustive run. If neither finds a witness, the verdict is
    the exhaustive run's (``run``): a pruned search proves no Never, since the
    promises of later passes come from the stores of runs it left out. Any other
    quantifier, or a condition that pins no register, is the exhaustive run too.
    A budget or ``max_states`` (per search) cut short: ``LitmusIncomplete``."""
    pins = _pins(prog.condition) if prog.quantifier == "exists" else {}
    if not pins:
        return run(prog, max_states, reduce)
    t0 = time.perf_counter()
    doom = _last_pinned(prog, pins)
    specs, locs = build(prog, doom)
    keys = sorted(dict.fromkeys([*_keys_of(prog.condition), *prog.locations]), key=_key_order)
    unset = {k: 0 for k in (*keys, *_keys_of(prog.filter)) if not k.startswith("[")}
    log = StoreLog()
    for tid, pairs in static_stores(prog, locs).items():
        for loc, value in pairs:
            log.stores.setdefault(loc, {}).setdefault(tid, set()).add(value)
    for tid, found in static_loads(prog, locs).items():
        for loc in found:
            log.loads.setdefault(loc, set()).add(tid)
    promised = log.speculation()
    states = 0
    reduced = finals_only(may_store(prog, locs)) if reduce else None

    def pruned(ex: Execution) -> bool:
        return any(t.result is DOOMED for t in ex.threads)

    progress = limits.working(lambda: f"litmus test {prog.name} (witness search)")
    progress.__enter__()
    try:
        for spec in (None, promised) if promised is not None else (None,):
            stats = ExploreStats()
            for ex in explore(Execution(specs, speculation=spec, stale_window=None), stats, max_states=max_states,
                              prune=pruned, persistent=reduced):
                if any(t.result is DROPPED or t.result is DOOMED for t in ex.threads):
                    continue
                full = _final_state(ex, unset, locs)
                if prog.filter is not None and not _holds(prog.filter, full):
                    continue
                if not _holds(prog.condition, full):
                    continue
                flags_of = _flags_function()
                flags = flags_of(ex.graph()) if flags_of is not None else frozenset()
                return LitmusResult(
                    prog.name, prog.quantifier, f"{prog.quantifier} {show_prop(prog.condition)}",
                    tuple(keys), (tuple(full[k] for k in keys),), 1, 0, stats.executions,
                    stats.blocked, True, "Sometimes", time.perf_counter() - t0, prog.result,
                    tuple(sorted(flags)), search="witness", searched=states + stats.states)
            states += stats.states
            if stats.truncated:
                raise LitmusIncomplete(prog.path, 1, 1, f"{stats.stopped or f'more than {max_states} states'}: "
                                       f"no witness found in the states searched")
    except (limits.OutOfTime, limits.OutOfMemory) as exc:
        raise LitmusIncomplete(prog.path, 1, 1, f"{exc.message}: no witness found in the states searched") from None
    except ModelError as exc:
        cause = exc.__cause__
        if isinstance(cause, _Raise):
            raise LitmusError(prog.path, cause.pos.line, cause.pos.col, cause.msg) from None
        raise LitmusError(prog.path, 1, 1, str(exc)) from None
    finally:
        progress.__exit__(None, None, None)
    return run(prog, max_states)


def _flags_function() -> Callable[[Any], frozenset] | None:
    """``memory.flags(graph)``: the names of the flags one execution raises. Looked
    up at run time: the model grows it while this front end is in use."""
    from . import memory
    return getattr(memory, "flags", None)


def show_value(v: Any) -> str:
    return v.name if isinstance(v, Loc) else str(v)


def herd_text(r: LitmusResult) -> str:
    """The result in herd7's layout (compare ``../shared/litmus/kernel/*.herd7.out``)."""
    kind = {"exists": "Allowed", "~exists": "Forbidden", "forall": "Required"}[r.quantifier]
    if r.search == "witness":
        # Not herd7's layout: one state, no counts (they would not be herd7's).
        return "\n".join([
            f"Test {r.name} {kind}",
            f"Witness search (vmafuzz litmus --witness): the first execution found that satisfies "
            f"the condition, after {r.searched} states; other states not listed, executions not counted",
            "States 1",
            *(" ".join(f"{k}={show_value(v)};" for k, v in zip(r.keys, s)) for s in r.states),
            "Ok",
            *(f"Flag {f}" for f in r.flags),
            f"Condition {r.condition}",
            f"Observation {r.name} Sometimes (witness: some execution satisfies it; Sometimes or Always)",
            f"Time {r.name} {r.seconds:.2f}"])
    lines = [f"Test {r.name} {kind}", f"States {len(r.states)}"]
    for s in r.states:
        lines.append(" ".join(f"{k}={show_value(v)};" for k, v in zip(r.keys, s)))
    lines += ["Ok" if r.ok else "No", "Witnesses", f"Positive: {r.positive} Negative: {r.negative}",
              *(f"Flag {f}" for f in r.flags),
              f"Condition {r.condition}",
              f"Observation {r.name} {r.observation} {r.positive} {r.negative}",
              f"Time {r.name} {r.seconds:.2f}"]
    return "\n".join(lines)


def json_record(r: LitmusResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "observation": r.observation,
        "ok": r.ok,
        "condition": r.condition,
        "states": [{k: show_value(v) if isinstance(v, Loc) else v for k, v in zip(r.keys, s)}
                   for s in r.states],
        "positive": r.positive if r.search == "exhaustive" else None,
        "negative": r.negative if r.search == "exhaustive" else None,
        "executions": r.executions if r.search == "exhaustive" else None,
        "search": r.search,
        **({"states_searched": r.searched} if r.search == "witness" else {}),
        "seconds": round(r.seconds, 6),
        "result": r.result,
        "flags": list(r.flags),
    }


@attrs.frozen(slots=True)
class HerdOutcome:
    """What a ``.herd7.out`` file says: its state lines, its Observation word and
    its ``Flag NAME`` lines."""

    states: frozenset
    observation: str
    flags: frozenset = frozenset()


def read_herd_output(text: str) -> HerdOutcome:
    lines = text.splitlines()
    states: set[str] = set()
    observation = ""
    flags: set[str] = set()
    for i, line in enumerate(lines):
        if line.startswith("States "):
            count = int(line.split()[1])
            states = {" ".join(x.split()) for x in lines[i + 1:i + 1 + count]}
        elif line.startswith("Observation "):
            observation = line.split()[2]
        elif line.startswith("Flag "):
            flags.add(line.split()[1])
    return HerdOutcome(frozenset(states), observation, frozenset(flags))


def state_lines(r: LitmusResult) -> frozenset:
    """Our final states rendered as herd renders them, for comparison with HerdOutcome."""
    return frozenset(" ".join(f"{k}={show_value(v)};" for k, v in zip(r.keys, s)) for s in r.states)
