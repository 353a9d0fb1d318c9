"""Worker processes for ``vmafuzz campaign --workers N``, and the split of a
campaign into shares (``--shard K/N``).

``run_all`` runs a function on each task in at most N worker processes, handing
out the tasks in the order given, and reports each result as it comes. It is a
small pool of its own rather than ``concurrent.futures`` or
``multiprocessing.Pool`` because of Ctrl-C: a campaign interrupted must stop
every worker, keep what each had found (the task function saves it and returns
it), print nothing but one line, and exit 130; those pools print a traceback per
worker, or hang, when a worker gets the KeyboardInterrupt.

* Workers are started with the ``spawn`` method: a fork of a parent that has run
  Hypothesis (or holds a half-written file) would copy its state mid-run.
* A worker starts with SIGINT blocked (the parent blocks it around the start, and
  a signal mask survives fork and exec), so a Ctrl-C while it imports cannot print
  a traceback; it unblocks SIGINT once it waits for work, and a Ctrl-C that came
  meanwhile is delivered then. The parent's own Ctrl-C during a start is not lost
  either: it stays pending and is raised when the start is over (ignoring SIGINT
  there, as a first version did, dropped it and the campaign ran on). A Ctrl-C at
  a terminal reaches the whole process group; the parent also sends SIGINT to each
  busy worker (by its pid) so that ``kill -INT`` of the parent alone stops them
  too. After its first KeyboardInterrupt a worker ignores SIGINT while it saves and
  reports, so the second signal cannot cut that short.
* A worker that dies (killed, out of memory) loses only its task, which is
  reported as ``Lost``; a new worker takes the remaining tasks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from multiprocessing import get_context
from multiprocessing.connection import wait
from typing import Any, Callable, Sequence

import attrs

# After a Ctrl-C, how long the parent waits for the workers to save and report
# what they found before it terminates them.
STOP_SECONDS = 30.0


def usable_cores() -> int:
    """The cores this process may run on (a CPU set or a container's limit, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:            # not Linux
        return os.cpu_count() or 1


@attrs.frozen(slots=True)
class Lost:
    """A task whose worker died before reporting (killed, out of memory)."""

    exitcode: int | None


class WorkerFailed(RuntimeError):
    """The task function raised in a worker: a bug, with the worker's traceback."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C: the workers were stopped. ``results``: (task index, result) of the
    tasks that reported, before and while stopping; ``cause``: the KeyboardInterrupt
    (or subclass of it) that stopped the parent."""

    def __init__(self, results: list, cause: KeyboardInterrupt):
        super().__init__()
        self.results = results
        self.cause = cause


@contextlib.contextmanager
def sigterm_interrupts():
    """SIGTERM (a CI job's timeout, ``kill``) stops the campaign as Ctrl-C does:
    the workers are stopped and keep what they found, not left running alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def sigint_ignored():
    """Ctrl-C ignored for a moment: while a worker starts (it inherits the
    disposition), while a save or a report must not be cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield                          # signal handlers belong to the main thread
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def sigint_blocked():
    """SIGINT held back (pending, not dropped) while a worker process starts: the
    child inherits the blocked mask and unblocks it in ``_worker``; the parent gets
    a Ctrl-C that came meanwhile when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # A spawn start first makes sure multiprocessing's resource tracker runs, and
    # starting that one blocks and then UNBLOCKS SIGINT, undoing ours before the fork:
    # start it now, so that within the block it is only checked.
    from multiprocessing import resource_tracker
    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _worker(conn, fn: Callable[[Any], Any]) -> None:
    """A worker's loop: (index, task) in, ("done", index, result) out; None ends it."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # started with SIGINT blocked (sigint_blocked): a Ctrl-C sent while this
        # process imported is delivered here, as a KeyboardInterrupt we handle
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        while True:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            task = conn.recv()
            if task is None:
                return
            index, arg = task
            try:
                value = fn(arg)
            except KeyboardInterrupt:
                raise
            except Exception:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                conn.send(("raised", index, traceback.format_exc()))
                return
            # a Ctrl-C now must not cut the report in half
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            conn.send(("done", index, value))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        return


class _Worker:
    def __init__(self, ctx, fn):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, fn), daemon=True,
                                name="vmafuzz-worker")
        with sigint_blocked():
            self.proc.start()
        child.close()
        self.task: int | None = None

    def give(self, index: int, arg) -> None:
        self.task = index
        self.conn.send((index, arg))

    def stop(self, timeout: float = 5.0) -> None:
        """Ask it to end (it is idle), then make sure it has."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout)
        self.conn.close()


def run_all(fn: Callable[[Any], Any], tasks: Sequence, workers: int, *,
            on_start: Callable[[int], None] | None = None,
            on_done: Callable[[int, Any], None] | None = None,
            on_tick: Callable[[], None] | None = None, tick: float = 1.0) -> list:
    """Run ``fn(task)`` for every task in up to ``workers`` spawned processes, the
    tasks handed out in the order given. ``fn`` must be a module-level function and
    tasks and results picklable. ``on_start(i)`` and ``on_done(i, result)`` are
    called in the parent as tasks start and finish (a result is a ``Lost`` when
    its worker died); ``on_tick()`` about every ``tick`` seconds while waiting.
    Returns [(index, result)] in the order they finished. An exception from
    ``on_done`` stops the workers and propagates; Ctrl-C raises ``Interrupted``."""
    ctx = get_context("spawn")
    todo = list(enumerate(tasks))
    todo.reverse()                    # pop() from the end: the first task first
    pool: list[_Worker] = []
    done: list = []
    try:
        with sigterm_interrupts():
            _loop(fn, ctx, todo, pool, done, workers, on_start, on_done, on_tick, tick)
    except KeyboardInterrupt as exc:
        with sigint_ignored():
            reported = _interrupt(pool)
        raise Interrupted(done + reported, exc) from None
    finally:
        for w in pool:
            if w.task is not None and w.proc.is_alive():
                w.proc.terminate()         # an exception in the parent: nobody waits for it
            w.stop()
    return done


def _loop(fn, ctx, todo: list, pool: list, done: list, workers: int, on_start, on_done, on_tick,
          tick: float) -> None:
    """Hand out tasks and collect results until none is left (``pool`` and ``done``
    are the caller's, so that after a Ctrl-C it can stop what is running)."""
    while todo or any(w.task is not None for w in pool):
        for w in [w for w in pool if w.task is None and not w.proc.is_alive()]:
            pool.remove(w)               # died idle: its place goes to a new worker
            w.conn.close()
        while todo and len(pool) < workers:
            pool.append(_Worker(ctx, fn))
        for w in pool:
            if w.task is None and todo and w.proc.is_alive():
                index, arg = todo.pop()
                w.give(index, arg)
                if on_start:
                    on_start(index)
        busy = [w for w in pool if w.task is not None]
        ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=tick)
        for w in busy:
            got = _take(w, ready)
            if got is None:
                continue
            done.append(got)
            if on_done:
                on_done(*got)
        if on_tick:
            on_tick()


def _take(w: _Worker, ready) -> tuple | None:
    """The (index, result) a busy worker reported, or lost, if it did."""
    if w.conn in ready:
        try:
            kind, index, value = w.conn.recv()
        except (EOFError, OSError):
            kind, index, value = "lost", w.task, None
        if kind == "raised":
            raise WorkerFailed(f"a campaign worker failed:\n{value}")
        if kind == "done":
            w.task = None
            return index, value
    elif w.proc.sentinel not in ready:
        return None
    index, w.task = w.task, None
    w.proc.join(1.0)
    return index, Lost(w.proc.exitcode)


def _interrupt(pool: list[_Worker]) -> list:
    """Stop busy workers with SIGINT and collect what they report in time."""
    busy = [w for w in pool if w.task is not None and w.proc.is_alive()]
    for w in busy:
        with contextlib.suppress(ProcessLookupError):
            os.kill(w.proc.pid, signal.SIGINT)
    reported = []
    deadline = time.monotonic() + STOP_SECONDS
    while busy and time.monotonic() < deadline:
        ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                     timeout=max(0.0, deadline - time.monotonic()))
        for w in list(busy):
            if w.conn in ready or w.proc.sentinel in ready:
                busy.remove(w)
                with contextlib.suppress(EOFError, OSError, ValueError):
                    if w.conn.poll():
                        kind, index, value = w.conn.recv()
                        if kind == "done":
                            reported.append((index, value))
                w.task = None
    return reported


# ---------------------------------------------------------------- shards

@attrs.frozen(slots=True)
class Shard:
    """Share ``k`` (1-based) of ``n`` of a campaign."""

    k: int
    n: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``K/N`` with 1 <= K <= N; ValueError (one line) otherwise."""
        k, sep, n = text.partition("/")
        if not (sep and k.strip().isdigit() and n.strip().isdigit()):
            raise ValueError(f"--shard must be K/N (e.g. 1/2), not {text!r}")
        shard = cls(int(k), int(n))
        if not 1 <= shard.k <= shard.n:
            raise ValueError(f"--shard {text}: K must be between 1 and N")
        return shard

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def shares(names: Sequence[str], costs: Sequence[float], n: int) -> list[list[int]]:
    """Split items (by index) into ``n`` disjoint shares of about equal cost: the
    costliest first (ties by name, so every machine computes the same split from
    the same list, whatever order it was given in), each to the share with the
    least cost so far (ties to the lowest share). Each share lists its indices in
    name order."""
    order = sorted(range(len(names)), key=lambda i: (-costs[i], names[i]))
    load = [0.0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for i in order:
        s = min(range(n), key=lambda j: (load[j], j))
        load[s] += costs[i]
        out[s].append(i)
    return [sorted(share, key=lambda i: names[i]) for share in out]
