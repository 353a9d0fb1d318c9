"""Counterexamples as LKMM C litmus tests (``vmafuzz export-litmus``, ``--litmus FILE``).

A protocol counterexample is an ``Execution`` stopped at its violation. Its
litmus test has one ``Pn`` per thread that ran, with that thread's events in
program order as the kernel primitives that made them, and an ``exists`` clause
pinning the value every load read. herd7 then answers ``Sometimes`` exactly when
LKMM allows the run. How each piece is expressed (docs/exporting.md):

* **locations**: every field a thread touched is one location named as a C
  identifier (``vma0->vm_lock_seq`` becomes ``vma0_vm_lock_seq``); lock words
  (the rwsems) are ``spinlock_t`` (lock.cat's semantics, as the model gives them);
* **values**: ints as they are; ``NULL`` is 0; a pointer to a kernel object is a
  pointer to one of its fields, its *representative* (C litmus has no structs), so
  ``vma0->vm_file = file0`` becomes ``int *vma0_vm_file=file0_f_inode``; values
  the threads only carry (inodes, freed memory) become distinct small ints, listed
  in the test's comment;
* **addr**: an access through a loaded pointer is ``*rN`` when it touches the
  object's representative field; through another field it is named directly, and
  the exporter refuses unless the lost dependency is implied by something LKMM
  orders anyway (see ``_implied``);
* **data**: a stored value that depends on loads is written as the registers of
  those loads plus a constant (``r1 + 1``), so herd7 sees the same data edges;
* **ctrl**: where the run branched on loaded values, an ``if (rN == v)`` on the
  value it read encloses the rest of the thread (the branch the run took; every
  later event carries the control dependency, as in herd7);
* ghost steps (the oracle's bookkeeping) make no events and are left out.

``fixed(export, variant)`` is the same run's shape in the correct protocol, for
the variants that are a one-primitive edit of it (``FIXES``): herd7 must answer
``Never`` for it.

``strengthen=True`` (``--strengthen``, ``<hash>+acq.litmus``) is the run with more
order, for the tests herd7 cannot finish: the loads addresses depend on are
acquires (every field named directly), and the accesses no other thread can observe
or affect are ``smp_mb()``; herd7's Sometimes on it still shows LKMM allows the run,
its Never shows nothing (docs/exporting.md, "Strengthened exports").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import attrs

from models.engine import Execution
from models.events import ACQUIRE, MB, ONCE, PLAIN, RELEASE, RMW, Event, Loc, Obj


class ExportError(Exception):
    """A run the exporter cannot express faithfully in C litmus (one line)."""


# Fences that are kernel primitives of their own (an RMW's mb halves are not:
# they come with the RMW's own line).
STANDALONE_FENCES = frozenset({
    "smp_mb", "smp_rmb", "smp_wmb", "smp_mb__before_atomic", "smp_mb__after_atomic",
    "smp_mb__after_spinlock", "smp_mb__after_unlock_lock", "rcu_read_lock", "rcu_read_unlock",
    "synchronize_rcu", "synchronize_rcu_expedited", "barrier"})
# The rwsem is not in LKMM; the model gives it lock.cat's semantics (docs/memory-model.md).
LOCK_PRIMITIVE = {"down_write": "spin_lock", "down_read": "spin_lock", "spin_lock": "spin_lock"}
UNLOCK_PRIMITIVE = {"up_write": "spin_unlock", "up_read": "spin_unlock", "spin_unlock": "spin_unlock"}
READ_PRIMITIVES = frozenset({"READ_ONCE", "smp_load_acquire", "rcu_dereference", "atomic_read",
                             "atomic_read_acquire"})
WRITE_PRIMITIVES = frozenset({"WRITE_ONCE", "smp_store_release", "rcu_assign_pointer", "atomic_set",
                              "atomic_set_release"})
# linux-kernel.def: these take the lvalue (READ_ONCE(*x)); every other primitive
# takes the pointer (smp_load_acquire(x), spin_lock(l), atomic_dec_return(v)).
LVALUE_PRIMITIVES = frozenset({"READ_ONCE", "WRITE_ONCE", "rcu_dereference", "rcu_assign_pointer"})


def _operand(prim: str, target: str) -> str:
    """``target`` is ``*x``: the argument ``prim`` takes."""
    return target if prim in LVALUE_PRIMITIVES else target[1:]


def c_name(name: str) -> str:
    """A location's name as a C identifier: ``vma0->vm_file`` -> ``vma0_vm_file``."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


@attrs.frozen(slots=True)
class Stmt:
    """One line of a thread: an access (``eid`` the event it stands for), a fence,
    or ``if`` (``kind == "if"``), which encloses the rest of the thread."""

    kind: str              # "read" | "write" | "rmw" | "lock" | "unlock" | "fence" | "if"
    text: str              # the C statement, without indentation
    eid: int | None = None
    reg: str | None = None
    loc: str | None = None     # the C location it touches (by name or through a pointer)
    prim: str = ""
    target: str | None = None  # the location as an lvalue, ``*x`` or ``*rN``
    orelse: tuple = ()         # an ``if``'s else branch: the kernel's bail-out path leaves
                               # the RCU read-side sections it is in (no unmatched rcu_read_lock)


@attrs.frozen(slots=True)
class Thread:
    name: str              # the model's thread name (writer0, reader0)
    stmts: tuple           # of Stmt


@attrs.frozen(slots=True)
class LitmusTest:
    """An exported test, ready to render. ``pins`` are the exists clause's atoms
    ``(thread index, register, C value)``."""

    name: str
    comment: str
    init: tuple            # of (C decl type, name, C initial value or None)
    threads: tuple         # of Thread
    pins: tuple
    params: tuple          # per thread: tuple of (type, name)
    registers: tuple       # per thread: tuple of (register, is pointer)

    def render(self) -> str:
        out = [f"C {self.name}", "", "(*"]
        out += [f" * {line}".rstrip() for line in self.comment.splitlines()]
        out += [" *)", "", "{"]
        for typ, name, value in self.init:
            out.append(f"\t{typ} {name}" + ("" if value is None else f"={value}") + ";")
        out.append("}")
        for i, th in enumerate(self.threads):
            params = ", ".join(f"{t} {n}" for t, n in self.params[i])
            out += ["", f"P{i}({params}) // {th.name}", "{"]
            for reg, ptr in self.registers[i]:
                out.append(f"\tint {'*' if ptr else ''}{reg};")
            if self.registers[i]:
                out.append("")
            depth = 1
            opened = []
            for s in th.stmts:
                out.append("\t" * depth + s.text)
                if s.kind == "if":
                    depth += 1
                    opened.append(s)
            for d in range(depth - 1, 0, -1):
                orelse = opened[d - 1].orelse
                if orelse:
                    out.append("\t" * d + "} else {")
                    out += ["\t" * (d + 1) + line for line in orelse]
                out.append("\t" * d + "}")
            out.append("}")
        atoms = " /\\ ".join(f"{t}:{r}={v}" for t, r, v in self.pins)
        out += ["", f"exists ({atoms})" if atoms else "exists (true)", ""]
        return "\n".join(out)


def _is_standalone_fence(ev: Event) -> bool:
    return ev.kind == "F" and ev.label in STANDALONE_FENCES


# The kernel's own RMWs that the model names after their callers (models/ops.py),
# as the atomic_t primitive each one is (``_Exporter.rmw``). A refcount_t is
# an atomic_t; a *_not_zero loop that succeeded is its one successful cmpxchg, the
# same events (a read and a write of old + i, in rmw) as an atomic_fetch_add of
# that ordering; the sub_and_test forms are atomic_fetch_sub_release (their
# acquire on reaching zero is the smp_rmb() after the branch, a separate event the
# model makes). mmgrab is atomic_inc, mmdrop's decrement atomic_dec_and_test (as
# atomic_dec_return, the same events, with the new value pinned), kmem_cache_alloc the model's
# xchg_acquire of the slab's freelist.
KERNEL_RMWS = {
    "refcount_add_not_zero": "fetch_add", "refcount_inc_not_zero": "fetch_add",
    "refcount_inc_not_zero_limited": "fetch_add", "refcount_inc_not_zero_limited_acquire": "fetch_add",
    "refcount_inc": "fetch_add", "refcount_sub_and_test": "fetch_sub", "refcount_dec_and_test": "fetch_sub",
    "__refcount_dec_and_test": "fetch_sub", "mmgrab": "inc", "mmdrop": "dec_return",
    "kmem_cache_alloc": "xchg"}


def _order_suffix(ev_r: Event, ev_w: Event) -> str:
    """The ordering of a successful RMW as a primitive's suffix, from the events the
    model made (models/engine.py: MB on both halves of a fully ordered one, ACQUIRE
    on the read of an acquire one, RELEASE on the write of a release one)."""
    if MB in ev_r.tags:
        return ""
    if ACQUIRE in ev_r.tags:
        return "_acquire"
    if RELEASE in ev_w.tags:
        return "_release"
    return "_relaxed"


def _kernel_access(ev: Event) -> str | None:
    """The marked access a kernel function's load or store is, from the tags the model
    gave it (models/ops.py: raw_read_seqcount's and refcount_read's READ_ONCE,
    refcount_set_release's release store, set_current_state's WRITE_ONCE). A failed
    RMW (a *_not_zero loop that gave up, schedule()'s wait) is its read alone with no
    ordering (the bell's FailedRMW: the model drops ACQUIRE and MB from it), so a
    READ_ONCE; LKMM's own failed cmpxchg is the same relaxed read. None: the event
    is something else (a lock's read, SRCU), which is refused."""
    tags = ev.tags - {RMW}
    if ev.kind == "R" and tags == {ONCE}:
        return "READ_ONCE"
    if ev.kind == "R" and tags == {ACQUIRE} and RMW not in ev.tags:
        return "smp_load_acquire"
    if ev.kind == "W" and tags == {ONCE} and RMW not in ev.tags:
        return "WRITE_ONCE"
    if ev.kind == "W" and tags == {RELEASE} and RMW not in ev.tags:
        return "smp_store_release"
    return None


def _rmw_register_value(ev_r: Event, ev_w: Event | None) -> tuple[bool, Any]:
    """Whether an RMW primitive returns a value, and which: ``_return`` forms the
    new value, ``fetch``/``xchg``/``cmpxchg`` forms the old one."""
    label = ev_r.label
    kernel = KERNEL_RMWS.get(label)
    if kernel is not None:
        if kernel == "inc":
            return False, None
        if kernel == "dec_return":
            return True, ev_w.value
        return True, ev_r.value
    if "fetch" in label or "xchg" in label:
        return True, ev_r.value
    if label.endswith("_return") or "_return_" in label:
        return True, ev_w.value if ev_w is not None else ev_r.value
    if label in ("atomic_inc", "atomic_dec", "atomic_add", "atomic_sub"):
        return False, None
    raise ExportError(f"cannot export the RMW {label}: no litmus form for its result yet")


class _Exporter:
    def __init__(self, ex: Execution, upto: int | None, strengthen: bool = False):
        self.ex = ex
        # A strengthened export (``strengthen``): a load an address depends on, whose
        # dependency nothing else implies, becomes an acquire (``self.strong``), and
        # every field is named directly (docs/exporting.md, "Strengthened exports").
        self.strengthen = strengthen
        self.strong: set[int] = set()
        self.upto = len(ex.events) if upto is None else upto
        self.events = ex.events
        self.tids = [t.tid for t in ex.threads
                     if any(e < self.upto for e in t.events)]
        self.po = {tid: [e for e in ex.threads[tid].events if e < self.upto] for tid in self.tids}
        self.symbols: dict[Any, int] = {}      # opaque values (inodes, freed memory) -> ints
        self.reps: dict[int, Loc] = {}          # id(Obj) -> its representative field
        self.through: dict[int, set] = {}       # the fields accessed through pointers, per object
        # A pointer location split into one copy per field (see ``split_pointer``):
        # location -> the fields, and each copy's C name -> (location, field).
        self.split: dict[Loc, tuple] = {}
        self.copies: dict[str, tuple[Loc, Loc]] = {}
        self.copy_reg: dict[tuple[int, Loc], str] = {}   # (load eid, field) -> its copy's register
        self.objs: dict[int, Obj] = {}
        self.notes: list[str] = []
        self.locs: dict[str, Loc] = {}          # C name -> location, for the init block
        self.reg_value: dict[int, Any] = {}     # load eid -> the value its register holds
        self.reg_text: dict[int, str] = {}      # a split load's eid -> its first copy's value in C

    # -- values --
    def pointer_source(self, ev: Event) -> int | None:
        """The load whose pointer value an access went through (the latest in po)."""
        owner = ev.loc.owner if ev.loc is not None else None
        if owner is None or not ev.addr:
            return None
        cands = [r for r in ev.addr if self.events[r].value is owner]
        return max(cands) if cands else None

    def direct(self, deps: frozenset) -> frozenset:
        """The loads a value depends on directly. The model's values also carry the
        dependencies of a thread's own store they were read back from (``dep ; rfi``,
        events.Val); in C those come from the register of the load that read the
        store back, and herd7 derives the rest through ``dep ; rfi`` as LKMM does."""
        inherited = set()
        for d in deps:
            src = self.ex.rf.get(d)
            if src is not None and self.events[src].tid == self.events[d].tid:
                inherited |= self.events[src].data
        return frozenset(deps) - inherited

    def choose_representatives(self) -> None:
        """One field per object: the pointer to the object is a pointer to it. The
        field whose address dependency cannot be implied otherwise wins."""
        uses: dict[int, list] = {}
        for tid in self.tids:
            for e in self.po[tid]:
                ev = self.events[e]
                src = self.pointer_source(ev) if ev.kind != "F" else None
                if src is None:
                    continue
                obj = ev.loc.owner
                self.objs[id(obj)] = obj
                uses.setdefault(id(obj), []).append((e, src))
        for key, lst in uses.items():
            needy = [e for e, src in lst if self._implied(src, e) is None]
            fields = {self.events[e].loc for e in needy}
            if len(fields) > 1:
                self.split_pointer(self.objs[key], fields, {src for e, src in lst if self._implied(src, e) is None})
            if fields:
                self.reps[key] = min(fields, key=lambda f: f.name)
                self.through[key] = fields
            # else: every dependency on the object's pointer is implied, so its fields
            # are named directly: a load through a pointer register costs herd7 a
            # search over every location it may point to.

    def split_pointer(self, obj: Obj, fields: set, srcs: set) -> None:
        """Several fields of ``obj`` need the address dependency on the pointer load,
        and a litmus test has no structs, nor pointer arithmetic that vmafuzz reads: the
        location the pointer is loaded from becomes one copy per field, each holding
        the pointer to that field. Every store to the location stores to each copy
        (the same value, as a pointer to that copy's field), one after the other with
        nothing between them, and every load of it loads each copy, likewise; an
        access to a field goes through its copy's register. Each copy carries every
        ordering the location had, so an execution of the run is one of the test
        with every copy doing what the location did, and the exists clause pins each
        copy's load to the value the run's load read (docs/exporting.md)."""
        locs = {self.events[src].loc for src in srcs}
        names = ", ".join(sorted(f.name for f in fields))
        if len(locs) != 1:
            raise ExportError(f"{obj.name}: address dependencies to {len(fields)} different fields ({names}) "
                              f"through pointers loaded from {len(locs)} locations")
        (loc,) = locs
        if loc in self.split:
            raise ExportError(f"{loc.name}: pointers to two objects whose fields both need a copy")
        for tid in self.tids:
            for e in self.po[tid]:
                ev = self.events[e]
                if ev.loc != loc:
                    continue
                nxt = self.events[e + 1] if e + 1 < len(self.events) else None
                if ev.rmw is not None or (nxt is not None and nxt.rmw == e):
                    raise ExportError(f"{obj.name}: the pointer location {loc.name} of {names} is "
                                      f"updated by an RMW, which cannot be split into copies")
                if ev.kind == "W" and self.direct(ev.data):
                    raise ExportError(f"{obj.name}: a pointer stored to {loc.name} depends on a load")
        order = tuple(sorted(fields, key=lambda f: f.name))
        self.split[loc] = order
        for f in order:
            self.copies[f"{c_name(loc.name)}__{self.field_key(f)}"] = (loc, f)

    @staticmethod
    def field_key(f: Loc) -> str:
        return next(k for k, v in f.owner.fields.items() if v is f)

    def copy_value(self, v: Any, f: Loc) -> str:
        """A value stored in the copy for field ``f``: a pointer to that field of the object."""
        if isinstance(v, Obj):
            key = self.field_key(f)
            if key not in v.fields:
                raise ExportError(f"{v.name} has no field {key}: it cannot be stored in a copy for {f.name}")
            loc = v.fields[key]
            self.locs.setdefault(c_name(loc.name), loc)
            return c_name(loc.name)
        e = self.enc(v)
        if isinstance(e, str):
            raise ExportError(f"a pointer that is not to an object in a split location ({v!r})")
        return str(e)

    def rep_of(self, obj: Obj) -> Loc:
        rep = self.reps.get(id(obj))
        if rep is None:
            self.objs[id(obj)] = obj
            rep = self.reps[id(obj)] = next(iter(obj.fields.values()))
        return rep

    def enc(self, v: Any) -> Any:
        """A model value as a C litmus value: an int, or a location name (a pointer)."""
        if v is None:
            return 0
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return v
        if isinstance(v, Obj):
            return c_name(self.rep_of(v).name)
        if isinstance(v, Loc):
            return c_name(v.name)
        if v not in self.symbols:
            self.symbols[v] = 1 + len(self.symbols)
        return self.symbols[v]

    # -- dependencies that are lost but implied --
    def _implied(self, src: int, target: int) -> str | None:
        """Why ordering ``src`` (a load) before ``target`` needs no dependency, or None.

        * the load reads a location no thread writes: nothing can reach it except
          through po, and every po-path into it extends to ``target`` as well;
        * the load is an acquire (acq-po orders it before every later access);
        * ``target`` or an access between them is fully ordered (an mb RMW or
          ``smp_mb()``), or ``target`` is a release (po-rel)."""
        s, t = self.events[src], self.events[target]
        if src in self.strong:
            return "the load is made an acquire (strengthened export)"
        if not any(self.events[w].kind == "W" and self.events[w].loc == s.loc
                   for tid in self.tids for w in self.po[tid]):
            return f"{s.loc.name} is written by no thread"
        if ACQUIRE in s.tags:
            return "the load is an acquire"
        if RELEASE in t.tags:
            return "the access is a release"
        po = self.po[t.tid]
        for e in po[po.index(src) + 1: po.index(target) + 1]:
            ev = self.events[e]
            if MB in ev.tags or (ev.kind == "F" and "mb" in ev.tags and ev.label in STANDALONE_FENCES):
                return f"{ev.label} between them is fully ordered"
        if self.strengthen and self.strengthenable(src):
            self.strong.add(src)
            return "the load is made an acquire (strengthened export)"
        return None

    def strengthenable(self, src: int) -> bool:
        """A relaxed load of its own (not an RMW's read): it can become smp_load_acquire."""
        s = self.events[src]
        nxt = self.events[src + 1] if src + 1 < len(self.events) else None
        if s.kind != "R" or PLAIN in s.tags or s.rmw is not None or (nxt is not None and nxt.rmw == src):
            return False
        prim = s.label if s.label in READ_PRIMITIVES else _kernel_access(s)
        return prim in ("READ_ONCE", "rcu_dereference", "atomic_read")

    # -- building --
    def build(self, name: str, header: str) -> LitmusTest:
        self.choose_representatives()
        # Opaque values are numbered initial values first (in location order), then
        # as the threads meet them: the same run always gets the same numbers.
        for loc in sorted({self.events[e].loc for tid in self.tids for e in self.po[tid]
                           if self.events[e].loc is not None}, key=lambda loc: loc.name):
            self.enc(loc.init)
        threads, params, registers, pins = [], [], [], []
        dropped: list[str] = []
        for i, tid in enumerate(self.tids):
            stmts, regs, used, tpins = self.thread(i, tid)
            if self.strengthen:
                stmts, regs, tpins = self.unseen_as_fences(tid, stmts, regs, tpins, dropped)
            threads.append(Thread(self.ex.threads[tid].spec.name, tuple(stmts)))
            registers.append(tuple(regs))
            params.append(tuple(self.param(n) for n in sorted(used)))
            pins.extend(tpins)
        init = self.init_block()
        comment = header
        if self.symbols:
            comment += "\n\nValues that are not numbers in the kernel:\n" + "\n".join(
                f"  {n} = {v!r}" for v, n in sorted(self.symbols.items(), key=lambda kv: kv[1]))
        reps = sorted((o.name, self.reps[k]) for k, o in self.objs.items())
        if reps:
            comment += "\n\nA pointer to an object is a pointer to one of its fields (no structs in C litmus):\n" \
                + "\n".join(f"  {n} -> {c_name(loc.name)}" for n, loc in reps)
        if self.notes:
            comment += "\n\nAddress dependencies expressed by ordering LKMM gives anyway:\n" + "\n".join(
                f"  {n}" for n in self.notes)
        if dropped:
            comment += ("\n\nAccesses no other thread can observe or affect, each an smp_mb() here (strengthened\n"
                        "export; a load's value is what coherence gives it, its thread's latest store):\n") \
                + "\n".join(f"  {n}" for n in dropped)
        return LitmusTest(name, comment, tuple(init), tuple(threads), tuple(pins),
                          tuple(params), tuple(registers))

    def unseen_as_fences(self, tid: int, stmts: list, regs: list, pins: list, dropped: list):
        """A strengthened export makes every access of a thread that no other thread's
        access can observe or affect an ``smp_mb()`` (docs/exporting.md): a load of a
        location no other thread writes (coherence gives its value: the thread's latest
        store there, or the initial value), a store, RMW, lock or unlock on a location
        no other thread touches. Such an event has ``rf``, ``co`` and ``fr`` only with
        its own thread, so everything LKMM orders through it is ordering in program
        order, which the full fence gives between every earlier and every later
        access. Its register goes: a branch on it is left out (the fence orders more
        than the control dependency), and a store whose value depended on it alone
        stores the constant. Consecutive ``smp_mb()`` become one."""
        po = self.po[tid]
        here = set(po)
        others = [e for t in self.tids if t != tid for e in self.po[t] if self.events[e].loc is not None]
        written = {self.events[e].loc for e in others if self.events[e].kind == "W"}
        touched = {self.events[e].loc for e in others}

        def determined(ev: Event) -> bool:
            before = po[:po.index(ev.eid)]
            last = [e for e in before if self.events[e].kind == "W" and self.events[e].loc == ev.loc]
            want = self.events[last[-1]].value if last else ev.loc.init
            return want is ev.value or (type(want) is type(ev.value) and want == ev.value)

        fence: set[int] = set()          # indexes of the statements that become smp_mb()
        for k, st in enumerate(stmts):
            ev = self.events[st.eid] if st.eid is not None and st.eid in here else None
            if ev is None or st.kind not in ("read", "write", "rmw", "lock", "unlock") or ev.loc is None:
                continue
            if st.kind == "read" and ev.loc not in written and determined(ev):
                fence.add(k)
            elif st.kind in ("write", "unlock") and ev.loc not in touched:
                fence.add(k)
            elif st.kind in ("rmw", "lock") and ev.loc not in touched and determined(ev):
                fence.add(k)
        gone = {stmts[k].reg for k in fence if stmts[k].reg is not None}
        # A store whose value also depends on a register that stays keeps its loads.
        for st in stmts:
            if st.kind == "write" and st.eid is not None:
                mentioned = set(re.findall(r"\br\d+\b", st.text.split(",", 1)[-1])) if "," in st.text else set()
                if mentioned & gone and mentioned - gone:
                    keep = mentioned & gone
                    fence -= {k for k in fence if stmts[k].reg in keep}
                    gone -= keep
        out = []
        for k, st in enumerate(stmts):
            if k in fence:
                ev = self.events[st.eid]
                what = {"read": "load", "rmw": "RMW", "write": "store", "lock": "lock", "unlock": "unlock"}[st.kind]
                dropped.append(f"{ev.label}({ev.loc.name}) in {self.ex.threads[tid].spec.name}: {what}"
                               + (f" ({st.reg} = {self.value_text(self.reg_value[st.eid], set(), pin=True)})"
                                  if st.reg is not None else ""))
                if not (out and out[-1].kind == "fence" and out[-1].text == "smp_mb();"):
                    out.append(Stmt("fence", "smp_mb();", prim="smp_mb"))
                continue
            if st.kind == "if" and any(re.search(rf"\b{r}\b", st.text) for r in gone):
                continue
            if st.kind == "write" and st.eid is not None and any(
                    re.search(rf"\b{r}\b", st.text.split(",", 1)[-1]) for r in gone):
                ev = self.events[st.eid]
                value = self.value_text(ev.value, set())
                head, _, rest = st.text.partition(", ")
                note = rest[rest.index(";") + 1:]
                st = attrs.evolve(st, text=f"{head}, {value});{note}")
            if st.kind == "fence" and st.text == "smp_mb();" and out and out[-1].text == "smp_mb();":
                continue
            out.append(st)
        regs = [r for r in regs if r[0] not in gone]
        pins = [p for p in pins if p[1] not in gone]
        return out, regs, pins

    def param(self, name: str) -> tuple[str, str]:
        if name in self.copies:
            return ("int", f"**{name}")
        loc = self.locs[name]
        if loc.lock:
            return ("spinlock_t", f"*{name}")
        return ("int", f"{'*' if self.pointer_loc(loc) else ''}*{name}")

    def pointer_loc(self, loc: Loc) -> bool:
        vals = [loc.init] + [self.events[w].value for tid in self.tids for w in self.po[tid]
                             if self.events[w].kind == "W" and self.events[w].loc == loc]
        return any(isinstance(v, (Obj, Loc)) for v in vals)

    def init_block(self) -> list:
        out = []
        for name in sorted(set(self.locs) | set(self.copies)):
            if name in self.copies:
                loc, field = self.copies[name]
                out.append(("int", f"*{name}", self.copy_value(loc.init, field)))
                continue
            loc = self.locs[name]
            if loc.lock:
                continue   # herd7 7.58 rejects spinlock_t in the init block; the parameter's type says it
            if self.pointer_loc(loc):
                out.append(("int", f"*{name}", self.enc(loc.init)))
            else:
                out.append(("int", name, self.enc(loc.init)))
        return out

    def thread(self, index: int, tid: int):
        stmts: list[Stmt] = []
        regs: list[tuple[str, bool]] = []
        reg_of: dict[int, str] = {}
        used: set[str] = set()
        pins = []
        ctrl: frozenset = frozenset()
        rcu = 0                 # open RCU read-side critical sections
        po = self.po[tid]
        # LKMM orders by control dependency only stores (rwdep = (dep | ctrl) ; [W]):
        # a branch after which the thread stores nothing orders nothing, so it is
        # left out (the exists clause pins the values that took it in the run).
        last_store = max((k for k, e in enumerate(po) if self.events[e].kind == "W"), default=-1)
        k = 0
        while k < len(po):
            ev = self.events[po[k]]
            new = self.direct(ev.ctrl) - ctrl if k <= last_store else frozenset()
            for src in sorted(new):
                if src not in reg_of:
                    raise ExportError(f"event {ev.eid} depends by control on {src}, not a register load")
                val = self.reg_text.get(src) or self.value_text(self.reg_value[src], used)
                if val != "0" and src in self.reg_text:
                    used.add(val)
                stmts.append(Stmt("if", f"if ({reg_of[src]} == {val}) {{", prim="if",
                                  orelse=("rcu_read_unlock();",) * rcu))
            ctrl = ctrl | new
            nxt = self.events[po[k + 1]] if k + 1 < len(po) else None
            if ev.kind == "F":
                if _is_standalone_fence(ev):
                    stmts.append(Stmt("fence", f"{ev.label}();", ev.eid, prim=ev.label))
                    rcu += {"rcu_read_lock": 1, "rcu_read_unlock": -1}.get(ev.label, 0)
                k += 1
                continue
            if ev.kind == "R" and nxt is not None and nxt.rmw == ev.eid:
                stmts.append(self.rmw(ev, nxt, reg_of, regs, used, pins, index))
                k += 2
                continue
            if ev.kind == "R" and ev.loc in self.split:
                stmts.extend(self.split_load(ev, reg_of, regs, used, pins, index))
                k += 1
                continue
            if ev.kind == "W" and ev.loc in self.split:
                stmts.extend(self.split_store(ev, used))
                k += 1
                continue
            if ev.kind == "R":
                reg = f"r{len(regs)}"
                reg_of[ev.eid] = reg
                self.reg_value[ev.eid] = ev.value
                regs.append((reg, isinstance(ev.value, (Obj, Loc))))
                target = self.target(ev, reg_of, used)
                prim = ev.label if ev.label in READ_PRIMITIVES else _kernel_access(ev)
                if ev.eid in self.strong:
                    text = f"{reg} = smp_load_acquire({_operand('smp_load_acquire', target)});" \
                           f" // {ev.label}, made an acquire (strengthened export)"
                    prim = "smp_load_acquire"
                elif PLAIN in ev.tags:
                    text = f"{reg} = {target};"
                elif prim is None:
                    raise ExportError(f"cannot export the load primitive {ev.label}")
                else:
                    text = f"{reg} = {prim}({_operand(prim, target)});"
                    if prim != ev.label:
                        text += f" // {ev.label}" + (" (failed: no write)" if RMW in ev.tags else "")
                stmts.append(Stmt("read", text, ev.eid, reg, self.loc_name(ev), ev.label, target))
                pins.append((index, reg, self.value_text(ev.value, used, pin=True)))
            elif ev.kind == "W":
                target = self.target(ev, reg_of, used)
                value = self.data_text(ev, reg_of, used)
                if ev.label in UNLOCK_PRIMITIVE:
                    stmts.append(Stmt("unlock", f"spin_unlock({target[1:]});", ev.eid,
                                      loc=self.loc_name(ev), prim="spin_unlock"))
                elif PLAIN in ev.tags:
                    stmts.append(Stmt("write", f"{target} = {value};", ev.eid, loc=self.loc_name(ev),
                                      prim="plain"))
                elif ev.label in WRITE_PRIMITIVES or _kernel_access(ev) is not None:
                    prim = ev.label if ev.label in WRITE_PRIMITIVES else _kernel_access(ev)
                    note = f" // {ev.label}" if prim != ev.label else ""
                    stmts.append(Stmt("write", f"{prim}({_operand(prim, target)}, {value});{note}", ev.eid,
                                      loc=self.loc_name(ev), prim=prim, target=target))
                else:
                    raise ExportError(f"cannot export the store primitive {ev.label}")
            else:
                raise ExportError(f"cannot export event {ev.eid} ({ev.kind} {ev.label})")
            k += 1
        return stmts, regs, used, pins

    def split_load(self, ev: Event, reg_of, regs, used, pins, index) -> list:
        """A load of a split pointer location: a load of each copy, in a row, each with
        its own register (``rmw`` and ``reg_of`` give the first one: the branches on
        the pointer test it)."""
        prim = ev.label if ev.label in READ_PRIMITIVES else _kernel_access(ev)
        if prim is None or PLAIN in ev.tags or ev.addr:
            raise ExportError(f"cannot export the load {ev.label}({ev.loc.name}) of a split pointer location")
        out = []
        for f in self.split[ev.loc]:
            name = f"{c_name(ev.loc.name)}__{self.field_key(f)}"
            used.add(name)
            reg = f"r{len(regs)}"
            regs.append((reg, True))
            self.copy_reg[(ev.eid, f)] = reg
            if ev.eid not in reg_of:
                reg_of[ev.eid] = reg
                self.reg_value[ev.eid] = ev.value
                self.reg_text[ev.eid] = self.copy_value(ev.value, f)   # what a branch on it tests
            pins.append((index, reg, self.copy_value(ev.value, f)))
            out.append(Stmt("read", f"{reg} = {prim}({_operand(prim, '*' + name)});", ev.eid, reg, name,
                            prim, "*" + name))
        return out

    def split_store(self, ev: Event, used) -> list:
        """A store to a split pointer location: a store to each copy, in a row."""
        prim = ev.label if ev.label in WRITE_PRIMITIVES else _kernel_access(ev)
        if prim is None or PLAIN in ev.tags or ev.addr:
            raise ExportError(f"cannot export the store {ev.label}({ev.loc.name}) to a split pointer location")
        out = []
        for f in self.split[ev.loc]:
            name = f"{c_name(ev.loc.name)}__{self.field_key(f)}"
            used.add(name)
            value = self.copy_value(ev.value, f)
            if value != "0":
                used.add(value)
            out.append(Stmt("write", f"{prim}({_operand(prim, '*' + name)}, {value});", ev.eid, loc=name,
                            prim=prim, target="*" + name))
        return out

    def loc_name(self, ev: Event) -> str:
        name = c_name(ev.loc.name)
        self.locs.setdefault(name, ev.loc)
        return name

    def rmw(self, r: Event, w: Event, reg_of, regs, used, pins, index) -> Stmt:
        target = self.target(r, reg_of, used)
        if w.data - {r.eid}:
            raise ExportError(f"{r.label}: an RMW whose operand depends on a load is not exported yet")
        ptr = target[1:] if target.startswith("*") else f"&{target}"
        if r.label in LOCK_PRIMITIVE:
            return Stmt("lock", f"spin_lock({ptr});", r.eid, loc=self.loc_name(r), prim="spin_lock")
        returns, value = _rmw_register_value(r, w)
        delta = w.value - r.value if isinstance(w.value, int) and isinstance(r.value, int) else None
        label = r.label
        base = re.sub(r"_(relaxed|acquire|release)$", "", label)
        kernel = KERNEL_RMWS.get(label)
        if kernel is not None:
            # The atomic_t primitive it is, with the ordering the model gave this
            # outcome; the kernel's name stays in a comment.
            suffix = _order_suffix(r, w)
            if kernel == "inc":
                label, call = "atomic_inc", f"atomic_inc({ptr})"
            elif kernel == "dec_return" and delta == -1:
                label = "atomic_dec_return" + suffix
                call = f"{label}({ptr})"
            elif kernel in ("fetch_add", "fetch_sub") and delta is not None:
                label = f"atomic_{kernel}{suffix}"
                call = f"{label}({-delta if kernel == 'fetch_sub' else delta}, {ptr})"
            elif kernel == "xchg":
                label = "xchg" + suffix
                call = f"{label}({ptr}, {self.value_text(w.value, used)})"
            else:
                raise ExportError(f"cannot export the RMW {r.label}")
            call += f"; // {r.label}"
            if not returns:
                return Stmt("rmw", call, r.eid, loc=self.loc_name(r), prim=label)
            reg = f"r{len(regs)}"
            reg_of[r.eid] = reg
            self.reg_value[r.eid] = value
            regs.append((reg, isinstance(value, (Obj, Loc))))
            pins.append((index, reg, self.value_text(value, used, pin=True)))
            return Stmt("rmw", f"{reg} = {call}", r.eid, reg, self.loc_name(r), label)
        if base in ("atomic_inc_return", "atomic_dec_return", "atomic_inc", "atomic_dec",
                    "atomic_fetch_inc", "atomic_fetch_dec"):
            call = f"{label}({ptr})"
        elif base in ("atomic_add_return", "atomic_sub_return", "atomic_add", "atomic_sub",
                      "atomic_fetch_add", "atomic_fetch_sub") and delta is not None:
            amount = -delta if "sub" in base else delta
            call = f"{label}({amount}, {ptr})"
        elif "xchg" in base and "cmpxchg" not in base:
            call = f"{label}({ptr}, {self.value_text(w.value, used)})"
        else:
            raise ExportError(f"cannot export the RMW {label}")
        if not returns:
            return Stmt("rmw", f"{call};", r.eid, loc=self.loc_name(r), prim=label)
        reg = f"r{len(regs)}"
        reg_of[r.eid] = reg
        self.reg_value[r.eid] = value
        regs.append((reg, isinstance(value, (Obj, Loc))))
        pins.append((index, reg, self.value_text(value, used, pin=True)))
        return Stmt("rmw", f"{reg} = {call};", r.eid, reg, self.loc_name(r), label)

    def target(self, ev: Event, reg_of: dict, used: set) -> str:
        """``*x`` for a location named directly, ``*rN`` through a loaded pointer."""
        name = self.loc_name(ev)
        src = self.pointer_source(ev)
        lost = set(ev.addr)
        text = None
        # Through the register only where nothing else orders the pointer load first:
        # every access through a register costs herd7 a search over where it points.
        if src is not None and ev.loc in self.through.get(id(ev.loc.owner), ()) and src in reg_of \
                and self._implied(src, ev.eid) is None:
            text = f"*{self.copy_reg.get((src, ev.loc), reg_of[src])}"
            lost.discard(src)
        for s in sorted(lost):
            why = self._implied(s, ev.eid)
            if why is None:
                raise ExportError(
                    f"the address dependency of {ev.label}({ev.loc.name}) on the load of "
                    f"{self.events[s].loc.name} cannot be expressed in C litmus")
            self.notes.append(f"{ev.label}({ev.loc.name}) on the load of {self.events[s].loc.name}: {why}")
        if text is None:
            used.add(name)
            text = f"*{name}"
        return text

    def value_text(self, v: Any, used: set, pin: bool = False) -> str:
        e = self.enc(v)
        if isinstance(e, str):
            if not pin:
                used.add(e)
            self.locs.setdefault(e, self.rep_of(v) if isinstance(v, Obj) else v)
        return str(e)

    def data_text(self, ev: Event, reg_of: dict, used: set) -> str:
        """The stored value as C: a constant, or the registers it depends on plus a constant."""
        if ev.label in UNLOCK_PRIMITIVE:
            return "0"
        deps = sorted(self.direct(ev.data - {ev.rmw} if ev.rmw is not None else ev.data))
        if not deps:
            return self.value_text(ev.value, used)
        missing = [d for d in deps if d not in reg_of]
        if missing:
            raise ExportError(f"{ev.label}({ev.loc.name}): a data dependency on an event with no register")
        target = self.enc(ev.value)
        srcs = [self.enc(self.reg_value[d]) for d in deps]
        regs = [reg_of[d] for d in deps]
        if len(deps) == 1 and srcs[0] == target:
            if isinstance(target, str):
                self.locs.setdefault(target, self.rep_of(ev.value) if isinstance(ev.value, Obj) else ev.value)
            return regs[0]
        if isinstance(target, str) or any(isinstance(s, str) for s in srcs):
            raise ExportError(f"{ev.label}({ev.loc.name}): a pointer computed from loads (no pointer "
                              f"arithmetic in C litmus)")
        c = target - sum(srcs)
        expr = " + ".join(regs)
        if c:
            expr += f" + {c}" if c > 0 else f" - {-c}"
        return expr


def export_execution(ex: Execution, name: str, header: str = "", upto: int | None = None,
                     strengthen: bool = False) -> LitmusTest:
    """The litmus test of a run (its events before ``upto``); ``strengthen``: its
    strengthened export (the loads addresses depend on are acquires, every field is
    named directly)."""
    return _Exporter(ex, upto, strengthen).build(name, header)


# ---------------------------------------------------------------- fixes

@attrs.frozen(slots=True)
class Fix:
    """How the correct protocol differs from a variant, as an edit of the exported
    threads: ``edit(stmts, thread name) -> stmts`` (and maybe new exists atoms)."""

    description: str
    edit: Callable[..., Any]


def _insert(stmts: list, at: Callable[[Stmt], bool], text: str, after: bool) -> list:
    out = []
    for s in stmts:
        if at(s) and not after:
            out.append(Stmt("fence", text, prim=text[:-3]))
        out.append(s)
        if at(s) and after:
            out.append(Stmt("fence", text, prim=text[:-3]))
    return out


def _reprim(stmts: list, at: Callable[[Stmt], bool], new: str) -> list:
    """The accesses ``at`` accepts made with primitive ``new`` instead."""
    return [_with_primitive(s, new) if at(s) else s for s in stmts]


def _with_primitive(s: Stmt, new: str) -> Stmt:
    head, _, rest = s.text.partition(f"{s.prim}(")
    args = rest.rsplit(")", 1)[0]
    tail = args[args.index(",", len(_operand(s.prim, s.target))):] if s.kind == "write" else ""
    return attrs.evolve(s, text=f"{head}{new}({_operand(new, s.target)}{tail});", prim=new)


def _writer(name: str) -> bool:
    return name.startswith("writer")


def _firsts_per_lookup(stmts: list, want: Callable[[Stmt], bool]) -> set[int]:
    """Indexes of the first statement ``want`` accepts after each rcu_read_lock()."""
    out, armed = set(), False
    for i, s in enumerate(stmts):
        if s.prim == "rcu_read_lock":
            armed = True
        elif armed and want(s):
            out.add(i)
            armed = False
    return out


def _is(kind: str, prim: str, field: str) -> Callable[[Stmt], bool]:
    return lambda s: s.kind == kind and s.prim == prim and (s.loc or "").endswith(field)


def _fix_a_no_wmb(stmts, name, ctx):
    return _insert(stmts, _is("write", "WRITE_ONCE", "vm_lock_seq"), "smp_wmb();", after=True) \
        if _writer(name) else stmts


def _fix_a_no_rmb(stmts, name, ctx):
    return stmts if _writer(name) else \
        _insert(stmts, _is("read", "READ_ONCE", "vm_lock_seq"), "smp_rmb();", after=False)


def _fix_b_no_rmb(stmts, name, ctx):
    return stmts if _writer(name) else \
        _insert(stmts, _is("read", "READ_ONCE", "mm_lock_seq"), "smp_rmb();", after=False)


def _odd_seq_store(ctx, s: Stmt, field: str = "mm_lock_seq") -> bool:
    return s.kind == "write" and (s.loc or "").endswith(field) and ctx.value(s) % 2 == 1


def _wmb_at_seq_store(parity: int, field: str):
    """smp_wmb() after each odd (write_seqcount_begin) or before each even
    (write_seqcount_end) store of the count ``field``."""
    def fix(stmts, name, ctx):
        if not _writer(name):
            return stmts
        at = lambda s: s.kind == "write" and (s.loc or "").endswith(field) \
            and ctx.value(s) % 2 == parity   # noqa: E731
        return _insert(stmts, at, "smp_wmb();", after=parity == 1)
    return fix


def _rmb_around_data_reads(field: str, after_begin: bool):
    """smp_rmb() after each load of the count that data loads follow (read_seqcount_begin),
    or before each load of the count that follows data loads (read_seqcount_retry)."""
    def fix(stmts, name, ctx):
        if _writer(name):
            return stmts
        out = []
        reads = [i for i, s in enumerate(stmts) if s.kind == "read"]
        for i, s in enumerate(stmts):
            is_seq = s.kind == "read" and (s.loc or "").endswith(field)
            nxt = next((stmts[j] for j in reads if j > i), None)
            prev = next((stmts[j] for j in reversed(reads) if j < i), None)
            if is_seq and not after_begin and prev is not None and not (prev.loc or "").endswith(field):
                out.append(Stmt("fence", "smp_rmb();", prim="smp_rmb"))
            out.append(s)
            if is_seq and after_begin and nxt is not None and not (nxt.loc or "").endswith(field):
                out.append(Stmt("fence", "smp_rmb();", prim="smp_rmb"))
        return out
    return fix


def _fix_b_release_begin(stmts, name, ctx):
    if not _writer(name):
        return stmts
    odd = lambda s: _odd_seq_store(ctx, s)   # noqa: E731
    return _insert(_reprim(stmts, odd, "WRITE_ONCE"), odd, "smp_wmb();", after=True)


def _fix_relaxed_seq(field_first: bool):
    def fix(stmts, name, ctx):
        if _writer(name):
            return stmts
        want = _is("read", "READ_ONCE", "mm_lock_seq")
        firsts = _firsts_per_lookup(stmts, want) if field_first else \
            {i for i, s in enumerate(stmts) if want(s)}
        return [_with_primitive(s, "smp_load_acquire") if i in firsts else s
                for i, s in enumerate(stmts)]
    return fix


def _fix_a_relaxed_mm_seq(stmts, name, ctx):
    # A's reader reads mm_lock_seq once per lookup, with READ_ONCE in this variant.
    return _fix_relaxed_seq(False)(stmts, name, ctx)


def _fix_a_swapped_loads(stmts, name, ctx):
    if _writer(name):
        return stmts
    out = list(stmts)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if a.prim == b.prim == "smp_load_acquire" and (a.loc or "").endswith("mm_lock_seq") \
                and (b.loc or "").endswith("vm_lock_seq"):
            out[i], out[i + 1] = b, a
    return out


def _fix_a_no_recheck(stmts, name, ctx):
    """The recheck comes back: after a successful lookup's last field read,
    ``smp_rmb(); rN = READ_ONCE(vm_lock_seq)``, and rN must equal the lookup's
    first vm_lock_seq value for the lookup to succeed (a new exists atom)."""
    if _writer(name):
        return stmts
    out, first = [], None
    for i, s in enumerate(stmts):
        if s.prim == "smp_load_acquire" and (s.loc or "").endswith("vm_lock_seq"):
            first = s
        if s.prim == "rcu_read_unlock" and first is not None and \
                any(t.kind == "read" and (t.loc or "").endswith("vm_start") for t in stmts[:i]):
            reg = ctx.new_register(name)
            out.append(Stmt("fence", "smp_rmb();", prim="smp_rmb"))
            out.append(Stmt("read", f"{reg} = READ_ONCE({first.target});", reg=reg, loc=first.loc,
                            prim="READ_ONCE", target=first.target))
            ctx.pin(name, reg, ctx.pinned(name, first.reg))
            first = None
        out.append(s)
    return out


def _fix_c_relaxed_inc(stmts, name, ctx):
    """vma_refcount_inc()'s increment is the acquire loop again: a successful one is
    an atomic_fetch_add_acquire (a failed one is the same relaxed read either way)."""
    if _writer(name):
        return stmts
    out = []
    for s in stmts:
        if s.kind == "rmw" and s.prim == "atomic_fetch_add_relaxed" \
                and s.text.endswith("// refcount_inc_not_zero_limited"):
            s = attrs.evolve(s, prim="atomic_fetch_add_acquire", text=s.text.replace(
                "atomic_fetch_add_relaxed(", "atomic_fetch_add_acquire(").replace(
                "// refcount_inc_not_zero_limited", "// refcount_inc_not_zero_limited_acquire"))
        out.append(s)
    return out


FIXES: dict[str, Fix] = {
    "A-no-wmb": Fix("smp_wmb() after WRITE_ONCE(vm_lock_seq) in vma_start_write()", _fix_a_no_wmb),
    "A-no-rmb": Fix("smp_rmb() before the reader's vm_lock_seq recheck", _fix_a_no_rmb),
    "A-relaxed-mm-seq": Fix("the reader's mm_lock_seq load is smp_load_acquire again", _fix_a_relaxed_mm_seq),
    "A-swapped-loads": Fix("the reader loads vm_lock_seq before mm_lock_seq again", _fix_a_swapped_loads),
    "A-no-recheck": Fix("smp_rmb() and the vm_lock_seq recheck, which must see the first value",
                        _fix_a_no_recheck),
    "B-no-rmb": Fix("smp_rmb() before the reader's mm_lock_seq retry load", _fix_b_no_rmb),
    "B-no-begin-wmb": Fix("smp_wmb() after the odd mm_lock_seq store", _wmb_at_seq_store(1, "mm_lock_seq")),
    "B-no-end-wmb": Fix("smp_wmb() before the even mm_lock_seq store", _wmb_at_seq_store(0, "mm_lock_seq")),
    "B-release-begin": Fix("the odd mm_lock_seq store is WRITE_ONCE + smp_wmb() again", _fix_b_release_begin),
    "B-relaxed-begin": Fix("the reader's first mm_lock_seq load is smp_load_acquire again",
                           _fix_relaxed_seq(True)),
    "seqlock-no-begin-wmb": Fix("smp_wmb() after the odd seq store", _wmb_at_seq_store(1, "seq")),
    "seqlock-no-end-wmb": Fix("smp_wmb() before the even seq store", _wmb_at_seq_store(0, "seq")),
    "seqlock-no-begin-rmb": Fix("smp_rmb() after the reader's seq load that the data loads follow",
                                _rmb_around_data_reads("seq", after_begin=True)),
    "seqlock-no-retry-rmb": Fix("smp_rmb() before the reader's seq load that follows the data loads",
                                _rmb_around_data_reads("seq", after_begin=False)),
    "C-relaxed-inc": Fix("the reader's vm_refcnt increment is refcount_inc_not_zero_limited_acquire again",
                         _fix_c_relaxed_inc),
}


class _FixContext:
    def __init__(self, test: LitmusTest, values: dict):
        self.test = test
        self.values = values          # eid -> the value the event stored
        self.regs = [list(r) for r in test.registers]
        self.pins = list(test.pins)
        self.current = 0

    def value(self, s: Stmt) -> Any:
        return self.values[s.eid]

    def new_register(self, name: str) -> str:
        regs = self.regs[self.current]
        reg = f"r{len(regs)}"
        regs.append((reg, False))
        return reg

    def pin(self, name: str, reg: str, value: str) -> None:
        self.pins.append((self.current, reg, value))

    def pinned(self, name: str, reg: str) -> str:
        return next(v for t, r, v in self.pins if t == self.current and r == reg)


def fixed(test: LitmusTest, variant_name: str, values: dict) -> LitmusTest | None:
    """The same run's shape in the correct protocol, or None when the variant is
    not a one-primitive edit of it (``FIXES``)."""
    fix = FIXES.get(variant_name)
    if fix is None:
        return None
    ctx = _FixContext(test, values)
    threads = []
    for i, th in enumerate(test.threads):
        ctx.current = i
        threads.append(attrs.evolve(th, stmts=tuple(fix.edit(list(th.stmts), th.name, ctx))))
    if all(a.stmts == b.stmts for a, b in zip(threads, test.threads)):
        raise ExportError(f"{variant_name}: the fix ({fix.description}) changes nothing in this run")
    comment = test.comment.split("\n\n", 1)
    rest = "\n\n" + comment[1] if len(comment) > 1 else ""
    head = comment[0] + f"\n\nFIXED: the same run's shape in the correct protocol: {fix.description}." \
        "\nLKMM must forbid it (Never)."
    return attrs.evolve(test, name=test.name + "+fixed", threads=tuple(threads),
                        registers=tuple(tuple(r) for r in ctx.regs), pins=tuple(ctx.pins),
                        comment=head + rest)


# ---------------------------------------------------------------- corpus files

@attrs.frozen(slots=True)
class Exported:
    """The tests of one counterexample: the run itself, and the fixed shape (or None)."""

    test: LitmusTest
    fixed: LitmusTest | None


def export_run(ex: Execution, variant: type, scenario: str, what: str, upto: int | None = None,
               source: str = "", strengthen: bool = False) -> Exported:
    """The tests of a run. ``strengthen``: its strengthened export alone (named
    ``<variant>+acq``, no fixed shape: a stronger test's Never would prove nothing)."""
    header = (f"{variant.name} on {scenario}: {what}.\n"
              + (f"Exported by vmafuzz export-litmus{' --strengthen' if strengthen else ''} from {source}.\n"
                 if source else "Exported by vmafuzz.\n")
              + "The exists clause pins the value every load of the run read")
    if strengthen:
        header += (".\nStrengthened: each load an address depends on is an acquire, and every field is\n"
                   "named directly (fewer loads through registers for herd7). An acquire orders all\n"
                   "that the dependency ordered and more, and LKMM forbids no more with less order,\n"
                   "so herd7 answering Sometimes shows LKMM allows the run; Never would prove nothing.")
    else:
        header += ":\nLKMM allows the run exactly when herd7 answers Sometimes."
    name = variant.name + ("+acq" if strengthen else "")
    test = export_execution(ex, name, header, upto, strengthen)
    if strengthen:
        return Exported(test, None)
    values = {e.eid: e.value for e in ex.events}
    return Exported(test, fixed(test, variant.name, values))


def write_exports(exported: Exported, path: Path) -> list[Path]:
    """``path`` gets the test; ``path`` with ``+fixed`` before ``.litmus`` the fixed one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(exported.test.render())
    out = [path]
    if exported.fixed is not None:
        fpath = fixed_path(path)
        fpath.write_text(exported.fixed.render())
        out.append(fpath)
    return out


def fixed_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name[:-len(".litmus")] + "+fixed.litmus") if path.name.endswith(".litmus") \
        else path.with_name(path.name + "+fixed")


def strengthened_path(path: Path) -> Path:
    """Where a strengthened export goes: ``path`` with ``+acq`` before ``.litmus``."""
    path = Path(path)
    return path.with_name(path.name[:-len(".litmus")] + "+acq.litmus")


def export_file(path: Path, source: str | None = None, trusted=None,
                strengthen: bool = False) -> tuple[Exported, Any]:
    """Replay one corpus file and export it. CorpusError / ExportError on failure.
    ``trusted``: the protocol files the corpus file may run (``corpus.resolve_variant``);
    ``strengthen``: its strengthened export (``export_run``)."""
    from .corpus import CorpusError, load, replay, resolve_variant
    entry = load(path)
    variant = resolve_variant(entry, str(path), trusted=trusted)
    r = replay(entry, variant)
    if not r.reproduces:
        raise CorpusError(f"{path}: no longer reproduces ({r.reason}): nothing to export")
    upto = r.violation.at if r.violation is not None and entry.expected.rule != "data race" else \
        r.race.at if r.race is not None else None
    ex = export_run(r.execution, variant, _describe(entry.scenario, variant), entry.expected.describe(), upto,
                    source if source is not None else str(path), strengthen)
    return ex, entry


def export_path(out_dir: Path, corpus_file: Path, variant_name: str, protocol: str) -> Path:
    """Where ``-o DIR`` puts a corpus file's test: ``DIR/<protocol>/<variant>/<hash>.litmus``,
    the corpus's own layout."""
    return Path(out_dir) / protocol / variant_name / (Path(corpus_file).stem + ".litmus")


def _describe(scenario, variant) -> str:
    """The scenario in the variant family's own words (older ``describe`` takes none)."""
    try:
        return scenario.describe(variant)
    except TypeError:
        return scenario.describe()


def _family(variant: type) -> str:
    return getattr(variant, "family", None) or variant.protocol


# ---------------------------------------------------------------- the commands' option

def add_litmus_argument(p) -> None:
    p.add_argument("--litmus", metavar="FILE",
                   help="write the counterexample as an LKMM C litmus test to FILE (and its fixed "
                        "shape, when the variant has one, to FILE with +fixed before .litmus)")


def litmus_counterexample(path, ex: Execution, variant: type, scenario: str, violation=None,
                          race=None) -> list[Path]:
    """``--litmus FILE`` of ``explore`` and ``run``: the files written."""
    from .cli import UsageError
    upto = violation.at if violation is not None else race.at if race is not None else None
    what = violation.rule if violation is not None else "data race" if race is not None else "a run"
    try:
        return write_exports(export_run(ex, variant, scenario, what, upto), Path(path))
    except ExportError as exc:
        raise UsageError(f"{path}: cannot export: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


# ---------------------------------------------------------------- command line

def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="CORPUSFILE", help="corpus files or folders (recursive)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="write DIR/<protocol>/<variant>/<hash>.litmus (and <hash>+fixed.litmus) "
                        "instead of printing the tests")
    p.add_argument("--variant-file", action="append", default=[], metavar="FILE.py",
                   help="a protocol file the corpus files may run (repeatable); any other is refused")
    p.add_argument("--strengthen", action="store_true",
                   help="the strengthened export (<hash>+acq.litmus): each load an address depends on "
                        "is an acquire and every field is named directly, for tests herd7 cannot finish "
                        "otherwise; Sometimes still shows LKMM allows the run (docs/exporting.md)")


def run(args) -> int:
    import sys

    from .corpus import CorpusError, collect
    from .cli import UsageError, user_error
    from models.engine import ModelError
    from models.protocol import ProtocolError
    from models.registry import user_frame
    from models.variants import VariantError

    files = collect(args.paths)
    if not files:
        raise UsageError(f"no corpus files under {' '.join(args.paths)}")
    bad = 0
    for path in files:
        try:
            exported, entry = export_file(path, trusted=args.variant_file, strengthen=args.strengthen)
        except (CorpusError, VariantError) as exc:
            sys.stderr.write(f"vmafuzz: {exc}\n")
            bad += 1
            continue
        except ExportError as exc:
            sys.stderr.write(f"vmafuzz: {path}: cannot export: {exc}\n")
            bad += 1
            continue
        except (ModelError, ProtocolError, SystemExit) as exc:   # the named protocol file failed
            sys.stderr.write(f"vmafuzz: {user_error(exc)} (exporting {path})\n")
            bad += 1
            continue
        except Exception as exc:
            if user_frame(exc) is None:
                raise                      # ours: a bug to see whole
            sys.stderr.write(f"vmafuzz: {user_error(exc)} (exporting {path})\n")
            bad += 1
            continue
        if args.output:
            from .corpus import resolve_variant
            protocol = _family(resolve_variant(entry, str(path), trusted=args.variant_file))
            target = export_path(args.output, path, entry.variant_name, protocol)
            if args.strengthen:
                target = strengthened_path(target)
            for written in write_exports(exported, target):
                print(written)
        else:
            print(exported.test.render())
            if exported.fixed is not None:
                print(exported.fixed.render())
    sys.stdout.flush()
    return 2 if bad else 0
