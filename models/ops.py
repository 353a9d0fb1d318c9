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

from .events import (ACQUIRE, LKR, LKW, ONCE, PLAIN, RELEASE, SRCU_LOCK, SRCU_UNLOCK, SYNC_SRCU, Loc, LocRef,
                     Val, raw)


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


# ---- reference counts (include/linux/refcount.h) ----
# A refcount_t is an atomic_t; its operations are the atomics above with the
# orderings refcount.h documents. The *_not_zero ones are cmpxchg loops: a run
# of failed try_cmpxchg reads that orders nothing, then one successful cmpxchg.
# A loop iteration that reads a value and then loses the race to another CPU is
# the same execution as the RMW reading the later value directly, so each is one
# Rmw that writes only when the old value passes the test (``expect``): when it
# does not, it is a marked read with no ordering (the bell's FailedRMW), which is
# what refcount.h's own failing path (an atomic_read and a return) is.
# The refcount helpers that need a fence after a conditional outcome are
# generators: call them with ``yield from``.

class _Live:
    """The "expected" value of an inc_not_zero loop: any count that is not 0 and,
    with a limit, below it (the loop gives up on 0 and on counts >= limit)."""

    __slots__ = ("limit",)

    def __init__(self, limit):
        self.limit = limit

    def __eq__(self, old):
        old = raw(old)
        return old != 0 and (self.limit is None or old < self.limit)

    def __hash__(self):
        return hash(("live", self.limit))

    def __repr__(self):
        return "not 0" if self.limit is None else f"not 0, below {self.limit}"


def refcount_read(r) -> Load:
    return Load(r, ONCE, "refcount_read")


def refcount_set(r, v) -> Store:
    return Store(r, v, ONCE, "refcount_set")


def refcount_set_release(r, v, ghost=None) -> Store:
    """refcount_set_release(): a release store (vma_mark_attached publishes the VMA with it)."""
    return Store(r, v, RELEASE, "refcount_set_release", ghost)


def refcount_inc_not_zero_limited_acquire(r, limit, ghost=None) -> Rmw:
    """__refcount_inc_not_zero_limited_acquire(r, &oldcnt, limit): +1 unless the count is
    0 or >= ``limit``; acquire when it adds, no ordering when it gives up. Returns the
    old count (the caller tells 0, "detached", from >= limit)."""
    return Rmw(r, _add(1), "acquire", "refcount_inc_not_zero_limited_acquire", returns="old",
               expect=CmpVal(_Live(limit)), ghost=ghost)


def refcount_inc_not_zero_limited(r, limit, ghost=None) -> Rmw:
    """The same loop with atomic_try_cmpxchg_relaxed (what refcount_inc_not_zero uses):
    no ordering at all; only the caller's branch on the result (a control dependency)
    orders its later stores. Returns the old count."""
    return Rmw(r, _add(1), "once", "refcount_inc_not_zero_limited", returns="old",
               expect=CmpVal(_Live(limit)), ghost=ghost)


def refcount_inc_not_zero(r, ghost=None) -> Rmw:
    """refcount_inc_not_zero(): relaxed (control dependency only); returns the old count."""
    return Rmw(r, _add(1), "once", "refcount_inc_not_zero", returns="old",
               expect=CmpVal(_Live(None)), ghost=ghost)


def refcount_inc(r, ghost=None) -> Rmw:
    """refcount_inc(): atomic_fetch_add_relaxed, whatever the count (no ordering)."""
    return Rmw(r, _add(1), "once", "refcount_inc", returns=None, ghost=ghost)


def refcount_add_not_zero(i, r, ghost=None, order: str = "once") -> Rmw:
    """refcount_add_not_zero(i, r): + ``i`` unless 0; returns the old count. refcount.h
    builds it on atomic_try_cmpxchg_relaxed and documents "no memory ordering ... a
    control dependency" (``order="once"``, the default); ``order="mb"`` models the
    fully ordered form (an atomic_add_unless(r, i, 0))."""
    return Rmw(r, _add(i), order, "refcount_add_not_zero", returns="old",
               expect=CmpVal(_Live(None)), ghost=ghost)


def _sub_and_test_old(i, r, label, ghost):
    # __refcount_sub_and_test(): old = atomic_fetch_sub_release(i, r); on reaching
    # zero, smp_acquire__after_ctrl_dep() (an smp_rmb after the branch on old).
    old = yield Rmw(r, _add(-i), "release", label, returns="old", ghost=ghost)
    if old == i:
        yield smp_rmb()
    return old


def refcount_sub_and_test(i, r, ghost=None):
    """``yield from``: refcount_sub_and_test(i, r): release; acquire when the count
    reaches 0 (smp_acquire__after_ctrl_dep). Returns whether it reached 0 (a Val)."""
    old = yield from _sub_and_test_old(i, r, "refcount_sub_and_test", ghost)
    return old == i


def refcount_dec_and_test(r, ghost=None):
    """``yield from``: refcount_dec_and_test(r): as refcount_sub_and_test(1, r)."""
    old = yield from _sub_and_test_old(1, r, "refcount_dec_and_test", ghost)
    return old == 1


def refcount_dec_and_test_oldcnt(r, ghost=None):
    """``yield from``: __refcount_dec_and_test(r, &oldcnt) (vma_refcount_put): the same
    ordering, and returns the old count (the new one is old - 1)."""
    return (yield from _sub_and_test_old(1, r, "__refcount_dec_and_test", ghost))


# ---- seqcount read side, mm_count, rcuwait (include/linux/seqlock.h, sched/mm.h, rcuwait.h) ----

def raw_read_seqcount(s):
    """``yield from``: raw_read_seqcount(): READ_ONCE of the count, then smp_rmb(), so
    later loads are ordered after it (the count is returned as is, odd or even)."""
    seq = yield Load(s, ONCE, "raw_read_seqcount")
    yield smp_rmb()
    return seq


def mmgrab(mm_count) -> Rmw:
    """mmgrab(mm): atomic_inc(&mm->mm_count) (no ordering; the caller holds a reference
    that keeps the count above 0)."""
    return Rmw(mm_count, _add(1), "once", "mmgrab", returns=None, noreturn=True)


def mmdrop_dec(mm_count) -> Rmw:
    """The atomic_dec_and_test(&mm->mm_count) of mmdrop(): fully ordered; returns the new
    count (0: the caller's was the last reference and it must __mmdrop() the mm)."""
    return Rmw(mm_count, _add(-1), "mb", "mmdrop", returns="new")


TASK_RUNNING = "TASK_RUNNING"
TASK_UNINTERRUPTIBLE = "TASK_UNINTERRUPTIBLE"


class _Never:
    """An "expected" value nothing equals: a cmpxchg that never writes, i.e. a read."""

    __slots__ = ()

    def __eq__(self, old):
        return False

    def __hash__(self):
        return hash("never")

    def __repr__(self):
        return "never"


def _field(ptr, name: str):
    """``ptr->name`` for a field whose name Python's attribute access refuses (``__state``),
    keeping the address dependency of a loaded pointer."""
    if isinstance(ptr, Val):
        return LocRef(raw(ptr).field(name), ptr.deps)
    return ptr.field(name)


def set_current_state(task, state):
    """``yield from``: set_current_state(): smp_store_mb(current->__state, state)."""
    yield Store(_field(task, "__state"), state, ONCE, "set_current_state")
    yield smp_mb()


def __set_current_state(task, state) -> Store:
    return Store(_field(task, "__state"), state, ONCE, "__set_current_state")


def schedule(task) -> Rmw:
    """schedule() in TASK_UNINTERRUPTIBLE: the task sleeps until a wake-up stores
    TASK_RUNNING to its state. A read that blocks until such a store exists (it reads
    co-after the task's own TASK_UNINTERRUPTIBLE store, by coherence); a wake-up that
    came before that store does not count (the task set its state after it)."""
    return Rmw(_field(task, "__state"), lambda old: old, "once", "schedule", returns=None,
               expect=CmpVal(_Never()), wait=lambda old: raw(old) == TASK_RUNNING)


def wake_up_process(task) -> Store:
    """try_to_wake_up(): makes a sleeping task runnable (a store of TASK_RUNNING to its
    state; the full barrier ttwu begins with is rcuwait_wake_up()'s smp_mb here)."""
    return Store(_field(task, "__state"), TASK_RUNNING, ONCE, "wake_up_process")


def rcuwait_wait_event(w_task, task, read_condition, condition, sleeps: int = 2):
    """``yield from``: rcuwait_wait_event(w, condition, TASK_UNINTERRUPTIBLE).

    ``w_task`` is the rcuwait's ``task`` field, ``task`` the waiting task (an Obj with a
    ``__state`` field). ``read_condition()`` is the primitive that reads what the
    condition tests (a generator step: ``yield from``) and ``condition(v)`` the test.
    The waiter publishes itself (rcu_assign_pointer), then, in a loop: sets its state
    (smp_store_mb), tests the condition and, when it is false, sleeps until a wake-up.
    A test that finds the condition true does not sleep. ``sleeps`` bounds the loop
    (the run is dropped as blocked past it, like a wait that never ends)."""
    yield Store(w_task, task, RELEASE, "rcuwait_wait_event")
    for _ in range(sleeps + 1):
        yield from set_current_state(task, TASK_UNINTERRUPTIBLE)
        v = yield from read_condition()
        if condition(v):
            break
        yield schedule(task)
    else:
        yield wait_forever()
    yield __set_current_state(task, TASK_RUNNING)
    yield Store(w_task, None, ONCE, "rcuwait_wait_event")
    return v


def rcuwait_wake_up(w_task):
    """``yield from``: rcuwait_wake_up(w): smp_mb(); under rcu_read_lock, read w->task
    and wake it when there is one. The read of ``w_task`` is an access to the
    structure holding the rcuwait (mm->vma_writer_wait): it must not be freed.
    Returns the task pointer read (None: nobody waits). A value that is not a task
    (freed memory's contents) wakes nobody."""
    yield smp_mb()
    yield rcu_read_lock()
    task = yield Load(w_task, ONCE, "rcuwait_wake_up")
    t = raw(task)
    if task and hasattr(t, "fields") and "__state" in t.fields:
        yield wake_up_process(task)
    yield rcu_read_unlock()
    return task
