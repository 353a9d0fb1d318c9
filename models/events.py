"""Values, locations and events: the small immutable things an execution is made of.

An execution graph (see ``models/engine.py``) is a list of ``Event`` plus the
``rf`` and ``co`` relations. Everything here is a frozen, slotted value class,
so a graph can be copied cheaply and two graphs compared by value.
"""

from __future__ import annotations

from typing import Any

import attrs

# Access annotations, as linux-kernel.bell names them.
ONCE = "once"            # READ_ONCE / WRITE_ONCE / relaxed atomics
ACQUIRE = "acquire"      # smp_load_acquire, *_acquire RMWs, lock acquisition (LKR)
RELEASE = "release"      # smp_store_release, *_release RMWs, unlock (UL)
PLAIN = "plain"          # ordinary C accesses
NORETURN = "noreturn"    # the read half of a non-value-returning RMW (atomic_inc, ...)
MB = "mb"                # a successful fully ordered RMW's read and write (xchg, cmpxchg, ...);
                         # also the kind of the smp_mb() fence: the bell's one MB tag for both
RMW = "rmw"              # every access of an atomic RMW instruction, a failed one included
                         # (the bell's RMW set; lock.cat's LKR/LKW are not in it)

# SRCU (linux-kernel.bell): srcu_read_lock() is a read of the srcu_struct tagged
# srcu-lock, srcu_read_unlock() a write of the index tagged srcu-unlock, and
# synchronize_srcu() a fence-like event tagged sync-srcu that has the srcu_struct
# as its location (the "& loc" of rcu-order pairs it with that struct's readers).
SRCU_LOCK = "srcu-lock"
SRCU_UNLOCK = "srcu-unlock"
SYNC_SRCU = "sync-srcu"

# Fence kinds, as linux-kernel.def names them.
FENCES = frozenset({
    "rmb", "wmb", "mb", "before-atomic", "after-atomic", "after-spinlock",
    "after-unlock-lock", "after-srcu-read-unlock", "rcu-lock", "rcu-unlock", "sync-rcu",
    "sync-srcu", "barrier",
})

# Spinlock event kinds from lock.cat.
LKR, LKW, UL, LF, RL, RU = "LKR", "LKW", "UL", "LF", "RL", "RU"


@attrs.frozen(slots=True, repr=False, cache_hash=True)
class Loc:
    """A shared memory location: a global (``x``) or a field of an object (``vma->vm_file``).

    Its hash is kept (``cache_hash``): locations key the engine's hottest dicts
    (co, floors, observations), hundreds of thousands of lookups in a long run."""

    name: str
    init: Any = 0
    lock: bool = False          # a spinlock_t: only lock operations may touch it
    owner: Any = attrs.field(default=None, eq=False, hash=False)   # the Obj it belongs to, if any

    def __repr__(self) -> str:
        return self.name


class Obj:
    """A kernel object (struct) in shared memory. Its fields are ``Loc``s.

    A pointer to an object is the ``Obj`` itself. ``Obj`` compares by identity:
    two allocations are two objects even when their fields are equal.
    """

    __slots__ = ("name", "kind", "fields")

    def __init__(self, name: str, kind: str, **fields: Any) -> None:
        self.name = name
        self.kind = kind
        self.fields = {f: Loc(f"{name}->{f}", init, owner=self) for f, init in fields.items()}

    def field(self, name: str) -> Loc:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(f"struct {self.kind} {self.name} has no field {name!r}") from None

    def __getattr__(self, name: str) -> Loc:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.field(name)

    def __repr__(self) -> str:
        return self.name


@attrs.frozen(slots=True)
class LocRef:
    """A location reached through loaded values: carries the address dependency."""

    loc: Loc
    addr: frozenset = frozenset()


def as_locref(target: Any) -> LocRef:
    if isinstance(target, LocRef):
        return target
    if isinstance(target, Loc):
        return LocRef(target)
    if isinstance(target, Val):
        return target.deref()
    raise TypeError(f"not a memory location: {target!r}")


class DepContext:
    """Per-thread record of control dependencies: every branch on a loaded value adds to it.

    LKMM's ``ctrl`` relates a load to every event program-order after a branch
    that depends on it (herd7 keeps it for the rest of the thread).
    """

    __slots__ = ("ctrl",)

    def __init__(self) -> None:
        self.ctrl: frozenset = frozenset()


class Val:
    """A value computed from loads. It remembers which load events it depends on.

    Arithmetic and comparison propagate the dependencies (LKMM ``data``);
    dereferencing a pointer gives a ``LocRef`` with them (``addr``); using a
    ``Val`` in an ``if`` adds them to the thread's ``ctrl`` set.
    """

    __slots__ = ("v", "deps", "ctx")

    def __init__(self, v: Any, deps: frozenset = frozenset(), ctx: DepContext | None = None):
        self.v = v
        self.deps = deps
        self.ctx = ctx

    # -- dependencies -------------------------------------------------------
    def _mk(self, v: Any, other: Any = None) -> "Val":
        deps = self.deps
        ctx = self.ctx
        if isinstance(other, Val):
            deps = deps | other.deps
            ctx = ctx or other.ctx
        return Val(v, deps, ctx)

    def __bool__(self) -> bool:
        if self.ctx is not None and self.deps:
            self.ctx.ctrl = self.ctx.ctrl | self.deps
        return bool(self.v)

    def deref(self) -> LocRef:
        if isinstance(self.v, Loc):
            return LocRef(self.v, self.deps)
        raise TypeError(f"dereference of a non-pointer value {self.v!r}")

    def __getattr__(self, name: str) -> LocRef:
        if name.startswith("__"):
            raise AttributeError(name)
        v = self.v
        if isinstance(v, Obj):
            return LocRef(v.field(name), self.deps)
        if v is None:
            raise NullDereference(f"NULL pointer dereference reading ->{name}")
        raise TypeError(f"->{name} on a non-pointer value {v!r}")

    # -- arithmetic and comparison -----------------------------------------
    def __eq__(self, o: Any) -> "Val":  # type: ignore[override]
        return self._mk(self.v == raw(o), o)

    def __ne__(self, o: Any) -> "Val":  # type: ignore[override]
        return self._mk(self.v != raw(o), o)

    def __lt__(self, o: Any) -> "Val":
        return self._mk(self.v < raw(o), o)

    def __le__(self, o: Any) -> "Val":
        return self._mk(self.v <= raw(o), o)

    def __gt__(self, o: Any) -> "Val":
        return self._mk(self.v > raw(o), o)

    def __ge__(self, o: Any) -> "Val":
        return self._mk(self.v >= raw(o), o)

    def __add__(self, o: Any) -> "Val":
        return self._mk(self.v + raw(o), o)

    __radd__ = __add__

    def __sub__(self, o: Any) -> "Val":
        return self._mk(self.v - raw(o), o)

    def __rsub__(self, o: Any) -> "Val":
        return self._mk(raw(o) - self.v, o)

    def __mul__(self, o: Any) -> "Val":
        return self._mk(self.v * raw(o), o)

    __rmul__ = __mul__

    def __and__(self, o: Any) -> "Val":
        return self._mk(self.v & raw(o), o)

    __rand__ = __and__

    def __or__(self, o: Any) -> "Val":
        return self._mk(self.v | raw(o), o)

    __ror__ = __or__

    def __xor__(self, o: Any) -> "Val":
        return self._mk(self.v ^ raw(o), o)

    __rxor__ = __xor__

    def __mod__(self, o: Any) -> "Val":
        return self._mk(self.v % raw(o), o)

    def __floordiv__(self, o: Any) -> "Val":
        return self._mk(self.v // raw(o), o)

    def __lshift__(self, o: Any) -> "Val":
        return self._mk(self.v << raw(o), o)

    def __rshift__(self, o: Any) -> "Val":
        return self._mk(self.v >> raw(o), o)

    def __neg__(self) -> "Val":
        return self._mk(-self.v)

    def __invert__(self) -> "Val":
        return self._mk(~self.v)

    def __int__(self) -> int:
        return int(self.v)

    def __index__(self) -> int:
        return int(self.v)

    def __hash__(self) -> int:
        return hash(self.v)

    def __repr__(self) -> str:
        return f"Val({self.v!r})"


class NullDereference(Exception):
    """A thread dereferenced NULL: a bug in the protocol model, reported, not hidden."""


def raw(x: Any) -> Any:
    return x.v if isinstance(x, Val) else x


def deps_of(x: Any) -> frozenset:
    return x.deps if isinstance(x, Val) else frozenset()


def show_value(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return str(int(v))
    return repr(v)


@attrs.frozen(slots=True)
class Event:
    """One event of an execution graph.

    ``kind`` is ``R``, ``W`` or ``F``; ``tags`` holds the LKMM annotations
    (``once``, ``acquire``, ``release``, ``plain``, ``noreturn``, ``mb``, ``rmw``,
    ``srcu-lock``, ``srcu-unlock``), the fence kind for ``F``, and the lock kind
    (``LKR``, ``LKW``, ``UL``, ``LF``, ``RL``, ``RU``) for spinlock accesses. ``loc``
    is None for a fence, except ``sync-srcu``, whose location is its srcu_struct.
    ``rmw`` on a write names the read it is atomic with.
    ``addr``/``data``/``ctrl`` are the load events this event depends on.
    ``tid`` is -1 for the initial writes.
    """

    eid: int
    tid: int
    kind: str
    loc: Loc | None
    value: Any
    tags: frozenset
    addr: frozenset = frozenset()
    data: frozenset = frozenset()
    ctrl: frozenset = frozenset()
    rmw: int | None = None
    label: str = ""      # the kernel primitive that produced it, for reports
    ghost: Any = None    # oracle bookkeeping attached by the model (never read by the memory model)

    @property
    def is_init(self) -> bool:
        return self.tid < 0
