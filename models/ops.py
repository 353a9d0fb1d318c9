"""The kernel's primitives, as operations a thread yields to the engine.

A thread is a generator: ``v = yield READ_ONCE(x)``. Each function below is
named after the kernel primitive it models and builds one ``Op``; the engine
(``engine.py``) turns it into events, and ``memory.py`` decides what it may
read or where its store may land. The mapping to LKMM events follows
``tools/memory-model/linux-kernel.def``.
"""

from __future__ import annotations

from typing import Any, Callable

import attrs

from .events import ACQUIRE, LKR, LKW, ONCE, PLAIN, RELEASE, SRCU_LOCK, SRCU_UNLOCK, SYNC_SRCU, Loc, raw


@attrs.frozen(slots=True)
class Load:
    target: Any
    tag: str
    label: str


@attrs.frozen(slots=True)
class Store:
    target: Any
    value: Any
    tag: str
    label: str
    ghost: Any = None
    unlock: bool = False     # spin_unlock / up_write: an UL event of lock.cat


@attrs.frozen(slots=True)
class CmpVal:
    """The expected old value of a cmpxchg (a wrapper, so that 0 and NULL can be expected)."""

    value: Any


@attrs.frozen(slots=True)
class Rmw:
    """An atomic read-modify-write.

    ``order`` is ``mb`` (fully ordered: its read and write carry the bell's ``MB``
    tag, which orders like an smp_mb() before and after), ``acquire``, ``release``
    or ``once``. ``noreturn`` marks the non-value-returning atomics,
    whose read ``smp_rmb`` does not order (bell: Noreturn). ``expect`` makes it a
    cmpxchg: it writes only when the old value equals ``expect``; a failed
    cmpxchg is a marked read with no ordering (the bell's FailedRMW filter). ``wait`` makes it block
    until it can read a value for which ``wait(old)`` holds (lock acquisition).
    ``returns`` is ``old``, ``new`` or ``None``.
    """

    target: Any
    update: Callable[[Any], Any]
    order: str
    label: str
    returns: str | None = "new"
    noreturn: bool = False
    expect: Any = None     # cmpxchg: the value it compares with (None: always writes)
    wait: Callable[[Any], bool] | None = None
    lock_kinds: tuple | None = None     # (read kind, write kind) for spin_lock: (LKR, LKW)
    ghost: Any = None


@attrs.frozen(slots=True)
class LockRead:
    """spin_is_locked() / a failed spin_trylock(): a read of a lock word (RL/RU/LF)."""

    target: Any
    label: str
    trylock: bool = False


@attrs.frozen(slots=True)
class Fence:
    kind: str
    label: str
    target: Any = None      # synchronize_srcu: the srcu_struct (the event's location)


@attrs.frozen(slots=True)
class Ghost:
    """Bookkeeping for the oracle: no memory effect, never seen by memory.py.

    ``step=False``: recorded at once, with the thread's previous operation.
    ``step=True``: a step of its own in the interleaving (other threads can run
    before it), used where the moment matters, e.g. a writer cycle's commit."""

    payload: Any
    step: bool = False


# ---- marked and plain accesses ----

def READ_ONCE(x) -> Load:
    return Load(x, ONCE, "READ_ONCE")


def WRITE_ONCE(x, v, ghost=None) -> Store:
    return Store(x, v, ONCE, "WRITE_ONCE", ghost)


def plain_read(x) -> Load:
    return Load(x, PLAIN, "plain read")


def plain_write(x, v, ghost=None) -> Store:
    return Store(x, v, PLAIN, "plain write", ghost)


def smp_load_acquire(x) -> Load:
    return Load(x, ACQUIRE, "smp_load_acquire")


def smp_store_release(x, v, ghost=None) -> Store:
    return Store(x, v, RELEASE, "smp_store_release", ghost)


def rcu_dereference(x) -> Load:
    return Load(x, ONCE, "rcu_dereference")


def rcu_assign_pointer(x, v, ghost=None) -> Store:
    return Store(x, v, RELEASE, "rcu_assign_pointer", ghost)


# ---- fences ----

def smp_mb() -> Fence:
    return Fence("mb", "smp_mb")


def smp_rmb() -> Fence:
    return Fence("rmb", "smp_rmb")


def smp_wmb() -> Fence:
    return Fence("wmb", "smp_wmb")


def smp_mb__before_atomic() -> Fence:
    return Fence("before-atomic", "smp_mb__before_atomic")


def smp_mb__after_atomic() -> Fence:
    return Fence("after-atomic", "smp_mb__after_atomic")


def smp_mb__after_spinlock() -> Fence:
    return Fence("after-spinlock", "smp_mb__after_spinlock")


def smp_mb__after_unlock_lock() -> Fence:
    return Fence("after-unlock-lock", "smp_mb__after_unlock_lock")


def barrier() -> Fence:
    return Fence("barrier", "barrier")


# ---- RCU ----

def rcu_read_lock() -> Fence:
    return Fence("rcu-lock", "rcu_read_lock")


def rcu_read_unlock() -> Fence:
    return Fence("rcu-unlock", "rcu_read_unlock")


def synchronize_rcu() -> Fence:
    return Fence("sync-rcu", "synchronize_rcu")


def synchronize_rcu_expedited() -> Fence:
    return Fence("sync-rcu", "synchronize_rcu_expedited")


# ---- SRCU (linux-kernel.def) ----
# A read-side critical section is a srcu-lock read of the srcu_struct whose value
# (the index) flows by data, possibly through stores and loads, into the value of
# a srcu-unlock store to the same struct: the bell matches them that way, so the
# unlock may be in another thread (srcu_down_read / srcu_up_read).

def srcu_read_lock(ss) -> Load:
    return Load(ss, SRCU_LOCK, "srcu_read_lock")


def srcu_read_unlock(ss, idx) -> Store:
    return Store(ss, idx, SRCU_UNLOCK, "srcu_read_unlock")


def srcu_down_read(ss) -> Load:
    return Load(ss, SRCU_LOCK, "srcu_down_read")


def srcu_up_read(ss, idx) -> Store:
    return Store(ss, idx, SRCU_UNLOCK, "srcu_up_read")


def synchronize_srcu(ss) -> Fence:
    return Fence(SYNC_SRCU, "synchronize_srcu", ss)


def synchronize_srcu_expedited(ss) -> Fence:
    return Fence(SYNC_SRCU, "synchronize_srcu_expedited", ss)


def smp_mb__after_srcu_read_unlock() -> Fence:
    return Fence("after-srcu-read-unlock", "smp_mb__after_srcu_read_unlock")


# ---- atomics (linux-kernel.def) ----

def atomic_read(x) -> Load:
    return Load(x, ONCE, "atomic_read")


def atomic_set(x, v) -> Store:
    return Store(x, v, ONCE, "atomic_set")


def atomic_read_acquire(x) -> Load:
    return Load(x, ACQUIRE, "atomic_read_acquire")


def atomic_set_release(x, v) -> Store:
    return Store(x, v, RELEASE, "atomic_set_release")


_ORDER_SUFFIX = {"mb": "", "once": "_relaxed", "acquire": "_acquire", "release": "_release"}


def _add(delta):
    return lambda old: old + delta


def atomic_add(v, x) -> Rmw:
    return Rmw(x, _add(v), "once", "atomic_add", returns=None, noreturn=True)


def atomic_sub(v, x) -> Rmw:
    return Rmw(x, _add(-v), "once", "atomic_sub", returns=None, noreturn=True)


def atomic_inc(x) -> Rmw:
    return Rmw(x, _add(1), "once", "atomic_inc", returns=None, noreturn=True)


def atomic_dec(x) -> Rmw:
    return Rmw(x, _add(-1), "once", "atomic_dec", returns=None, noreturn=True)


def _returning(name: str, delta_of: Callable[[Any], Any], returns: str):
    def make(order: str):
        def op(*args) -> Rmw:
            *v, x = args
            d = delta_of(v[0] if v else None)
            return Rmw(x, _add(d), order, name + _ORDER_SUFFIX[order], returns=returns)
        op.__name__ = name + _ORDER_SUFFIX[order]
        return op
    return make


def _rmw_family(name, delta_of, returns):
    make = _returning(name, delta_of, returns)
    return tuple(make(o) for o in ("mb", "once", "acquire", "release"))


(atomic_add_return, atomic_add_return_relaxed, atomic_add_return_acquire,
 atomic_add_return_release) = _rmw_family("atomic_add_return", lambda v: v, "new")
(atomic_sub_return, atomic_sub_return_relaxed, atomic_sub_return_acquire,
 atomic_sub_return_release) = _rmw_family("atomic_sub_return", lambda v: -v, "new")
(atomic_inc_return, atomic_inc_return_relaxed, atomic_inc_return_acquire,
 atomic_inc_return_release) = _rmw_family("atomic_inc_return", lambda v: 1, "new")
(atomic_dec_return, atomic_dec_return_relaxed, atomic_dec_return_acquire,
 atomic_dec_return_release) = _rmw_family("atomic_dec_return", lambda v: -1, "new")
(atomic_fetch_add, atomic_fetch_add_relaxed, atomic_fetch_add_acquire,
 atomic_fetch_add_release) = _rmw_family("atomic_fetch_add", lambda v: v, "old")
(atomic_fetch_sub, atomic_fetch_sub_relaxed, atomic_fetch_sub_acquire,
 atomic_fetch_sub_release) = _rmw_family("atomic_fetch_sub", lambda v: -v, "old")
(atomic_fetch_inc, atomic_fetch_inc_relaxed, atomic_fetch_inc_acquire,
 atomic_fetch_inc_release) = _rmw_family("atomic_fetch_inc", lambda v: 1, "old")
(atomic_fetch_dec, atomic_fetch_dec_relaxed, atomic_fetch_dec_acquire,
 atomic_fetch_dec_release) = _rmw_family("atomic_fetch_dec", lambda v: -1, "old")


def _xchg(order: str, prefix: str = ""):
    def op(x, v) -> Rmw:
        return Rmw(x, lambda old: v, order, prefix + "xchg" + _ORDER_SUFFIX[order], returns="old")
    op.__name__ = prefix + "xchg" + _ORDER_SUFFIX[order]
    return op


def _cmpxchg(order: str, prefix: str = ""):
    def op(x, old, new) -> Rmw:
        return Rmw(x, lambda _: new, order, prefix + "cmpxchg" + _ORDER_SUFFIX[order],
                   returns="old", expect=CmpVal(old))
    op.__name__ = prefix + "cmpxchg" + _ORDER_SUFFIX[order]
    return op


class _Unless:
    """The "expected" value of atomic_add_unless: the RMW writes when the old value
    differs from ``u``. The engine compares ``old == expect``; ints defer to this
    ``__eq__``, so the condition stays with the primitive."""

    __slots__ = ("u",)

    def __init__(self, u):
        self.u = u

    def __eq__(self, old):
        return old != raw(self.u)

    def __hash__(self):
        return hash(("unless", raw(self.u)))

    def __repr__(self):
        return f"unless {raw(self.u)!r}"


def atomic_add_unless(x, a, u) -> Rmw:
    """Adds ``a`` unless the value is ``u``; returns 1 when it added. Fully ordered when
    it adds; when it does not, a marked read with no ordering (FailedRMW)."""
    return Rmw(x, _add(a), "mb", "atomic_add_unless", returns="trylock",
               expect=CmpVal(_Unless(u)))


xchg, xchg_relaxed, xchg_acquire, xchg_release = (_xchg(o) for o in ("mb", "once", "acquire", "release"))
cmpxchg, cmpxchg_relaxed, cmpxchg_acquire, cmpxchg_release = (
    _cmpxchg(o) for o in ("mb", "once", "acquire", "release"))
atomic_xchg, atomic_xchg_relaxed, atomic_xchg_acquire, atomic_xchg_release = (
    _xchg(o, "atomic_") for o in ("mb", "once", "acquire", "release"))
atomic_cmpxchg, atomic_cmpxchg_relaxed, atomic_cmpxchg_acquire, atomic_cmpxchg_release = (
    _cmpxchg(o, "atomic_") for o in ("mb", "once", "acquire", "release"))


# ---- spinlocks (lock.cat) ----
# The lock word holds 0 (unlocked) or 1 (locked). spin_lock is an RMW whose read
# (LKR, an acquire) must see 0 and whose write (LKW) stores 1; spin_unlock is a
# release store (UL) of 0.

def spin_lock(lock) -> Rmw:
    return Rmw(lock, lambda old: 1, "acquire", "spin_lock", returns=None,
               wait=lambda old: old == 0, lock_kinds=(LKR, LKW))


def spin_unlock(lock) -> Store:
    return Store(lock, 0, RELEASE, "spin_unlock", unlock=True)


def spin_trylock(lock) -> "Rmw":
    """Succeeds (returns 1) like spin_lock, or fails (returns 0) reading a held lock (LF)."""
    return Rmw(lock, lambda old: 1, "acquire", "spin_trylock", returns="trylock",
               expect=CmpVal(0), lock_kinds=(LKR, LKW))


def spin_is_locked(lock) -> LockRead:
    return LockRead(lock, "spin_is_locked")


# ---- rwsem ----
# LKMM has no rwsem. We give the write side the semantics LKMM gives every
# sleeping lock it models, those of lock.cat (LKR/LKW/UL), so that an unlock
# followed by a lock orders what precedes the unlock before what follows the lock
# (po-unlock-rf-lock-po), as the kernel guarantees for all its locks. The read
# side is modelled as the same exclusive lock: two read holders never overlap in
# our runs (a documented simplification: it removes interleavings, never adds).

def down_write(sem) -> Rmw:
    return Rmw(sem, lambda old: 1, "acquire", "down_write", returns=None,
               wait=lambda old: old == 0, lock_kinds=(LKR, LKW))


def up_write(sem) -> Store:
    return Store(sem, 0, RELEASE, "up_write", unlock=True)


def down_read(sem) -> Rmw:
    return Rmw(sem, lambda old: 1, "acquire", "down_read", returns=None,
               wait=lambda old: old == 0, lock_kinds=(LKR, LKW))


def up_read(sem) -> Store:
    return Store(sem, 0, RELEASE, "up_read", unlock=True)


_NEVER = Loc("<never>")


def wait_forever() -> Rmw:
    """A step that never happens: the thread blocks for good, and the run is dropped
    as blocked (as a spin_lock() that can never succeed). The engine uses it for a
    grace period inside its own thread's RCU read-side critical section, which waits
    for itself: LKMM makes every such execution inconsistent (rcu)."""
    return Rmw(_NEVER, lambda old: old, "once", "wait_forever", returns=None, wait=lambda old: False)


def ghost(*payload) -> Ghost:
    return Ghost(payload)


def ghost_step(*payload) -> Ghost:
    return Ghost(payload, step=True)
