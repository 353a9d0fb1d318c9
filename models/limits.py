"""Limits every command enforces, and Ctrl-C (docs/limits.md).

* a time budget (``budget(seconds)``: ``--seconds``), checked at every engine
  step and explorer state (``check``), not only between examples;
* a memory bound (``--max-memory``, default ``DEFAULT_MAX_MEMORY_MB``), the
  resident set size read by a watchdog thread every ``POLL`` seconds;
* a thread's operations (``MAX_THREAD_OPERATIONS``, counted by the engine) and
  how long one step of a thread may run without yielding (``STEP_SECONDS``,
  timed by the watchdog): an endless thread is the protocol's fault;
* Ctrl-C: never lost (a KeyboardInterrupt raised inside a garbage-collector
  callback is swallowed by Python; ``_unraisable`` re-arms it for the next
  ``check``).

Work that runs long prints a progress line on standard error every
``PROGRESS_SECONDS`` (every ``PROGRESS_SECONDS_PIPED`` when it is no terminal).
Python code that never calls ``check`` (a user's loop that never yields,
``time.sleep``) is interrupted by a signal (SIGALRM) the watchdog
sends to the main thread once a limit has been passed for ``ESCALATE`` seconds.

Each stop is a ``KeyboardInterrupt`` subclass: Hypothesis passes only that
straight through (any other exception inside a test case is a failure it
shrinks, rerunning the very work that ran out).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


class Stop(KeyboardInterrupt):
    """Work cut short by a limit: ``message`` says which, in one line."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class OutOfTime(Stop):
    """The time budget is spent: no verdict (exit 3)."""


class OutOfMemory(Stop):
    """The memory bound is reached: no verdict (exit 3)."""


class EndlessStep(Stop):
    """One step of a protocol thread ran for ``STEP_SECONDS`` without yielding:
    the protocol's fault (exit 2, with the user's file and line from the traceback)."""


# Operations one thread may take (fences and ghost steps included) before it is an
# endless thread: the largest shipped scenario's writer takes about a thousand. A
# long scenario raises it per thread by OPERATIONS_PER_CYCLE for each of its writer
# cycles x VMAs (models/scenario.py: A's writer takes about 19 a cycle), so a
# protocol that loops forever is still caught within seconds at the defaults.
MAX_THREAD_OPERATIONS = 10_000
OPERATIONS_PER_CYCLE = 100
# How long one step of a thread (the code between two yields) may run: a step is
# microseconds of Python.
STEP_SECONDS = 10.0
# Grace after --seconds before a run is stopped in the middle of its work
# (a fuzz run stops between examples at --seconds itself).
GRACE = 1.0
# How often the watchdog looks; how long a passed limit waits for ``check``
# before a signal interrupts whatever runs; when progress is printed.
POLL = 0.1
ESCALATE = 0.5
# A progress line this often on a terminal; to a file or pipe (CI logs, the tests'
# captured output) once a minute, so a log of long work is never silent either.
PROGRESS_SECONDS = 5.0
PROGRESS_SECONDS_PIPED = 60.0


def _progress_every() -> float:
    try:
        return PROGRESS_SECONDS if sys.stderr.isatty() else PROGRESS_SECONDS_PIPED
    except (AttributeError, ValueError):
        return PROGRESS_SECONDS_PIPED


def _physical_mb() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError, AttributeError):
        return None


# Half of the machine's memory, at most 4 GiB: an exploration that would take more
# stops with a message instead of swapping or being killed.
DEFAULT_MAX_MEMORY_MB = min(4096, (_physical_mb() or 8192) // 2)


def rss_mb() -> float:
    """The process's resident set size now (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _State:
    """What the limits are now, one per process (signals are per process)."""

    def __init__(self) -> None:
        self.pending: BaseException | None = None     # raised at the next check()
        # Ctrl-C seen and not yet handled (``interrupt_handled``): check() raises it
        # again, so Hypothesis cannot swallow it (it catches BaseException while it
        # replays its final example) and a GC callback cannot either.
        self.interrupted = False
        self.deadlines: list[list] = []                # [monotonic deadline, message], innermost last
        self.deadline = float("inf")                   # the earliest of them
        self.deadline_message = ""
        self.max_memory_mb: float | None = None
        self.memory_armed = True
        self.step_seconds = STEP_SECONDS
        self.progress: list[Callable[[], str]] = []
        self.watchdog: _Watchdog | None = None


_S = _State()
# [steps started, in a step]: the engine counts each resumption of a thread's code
STEP = [0, False]


def check() -> None:
    """Raise the pending stop (Ctrl-C, memory) or ``OutOfTime``. Called at every
    engine step and explorer state: cheap."""
    s = _S
    if s.pending is not None:
        exc, s.pending = s.pending, None
        raise exc
    if s.interrupted:
        raise KeyboardInterrupt
    if s.deadline != _NEVER and time.monotonic() >= s.deadline:
        raise _out_of_time()


_NEVER = float("inf")


def _out_of_time() -> OutOfTime:
    """The stop of the earliest deadline, which fires once: what comes after it
    (the report of what was found) is not cut short again."""
    exc = OutOfTime(_S.deadline_message)
    for d in _S.deadlines:
        d[0] = _NEVER
    _refresh()
    return exc


def _refresh() -> None:
    if _S.deadlines:
        _S.deadline, _S.deadline_message = min((d[0], d[1]) for d in _S.deadlines)
    else:
        _S.deadline, _S.deadline_message = _NEVER, ""


@contextmanager
def budget(seconds: float | None, message: str | None = None) -> Iterator[None]:
    """``check`` raises ``OutOfTime(message)`` once ``seconds`` have passed (None:
    no budget). Budgets nest: the earliest deadline counts."""
    if seconds is None:
        yield
        return
    entry = [time.monotonic() + seconds, message or f"--seconds {seconds:g} spent"]
    _S.deadlines.append(entry)
    _refresh()
    try:
        yield
    finally:
        _S.deadlines[:] = [d for d in _S.deadlines if d is not entry]
        _refresh()


@contextmanager
def working(describe: Callable[[], str]) -> Iterator[None]:
    """While inside, a progress line (``describe()``) goes to standard error every
    ``PROGRESS_SECONDS`` once the work runs long."""
    _S.progress.append(describe)
    try:
        yield
    finally:
        _S.progress.remove(describe)


def _take() -> BaseException | None:
    exc, _S.pending = _S.pending, None
    if exc is None and time.monotonic() >= _S.deadline:
        exc = _out_of_time()
    return exc


def _on_alarm(signum, frame) -> None:
    exc = _take()
    if exc is not None:
        raise exc


def _on_interrupt(signum, frame) -> None:
    _S.interrupted = True
    raise KeyboardInterrupt


def interrupt_handled() -> None:
    """The caller caught Ctrl-C and now keeps what was found (a save replays
    traces): ``check`` stops raising it."""
    _S.interrupted = False
    if isinstance(_S.pending, KeyboardInterrupt) and not isinstance(_S.pending, Stop):
        _S.pending = None


def interrupt_unhandled() -> bool:
    """Ctrl-C was pressed and nobody handled it (something swallowed it)."""
    return _S.interrupted


def _unraisable(hook):
    def unraisable(info) -> None:
        # Ctrl-C (or a stop) landing in a garbage-collector callback or a __del__:
        # Python would print "Exception ignored" and go on. Keep it for check().
        if isinstance(info.exc_value, KeyboardInterrupt):
            _S.pending = info.exc_value
            return
        hook(info)
    return unraisable


class _Watchdog(threading.Thread):
    def __init__(self, main_id: int, started: float):
        super().__init__(name="vmafuzz-watchdog", daemon=True)
        self.main_id = main_id
        self.started = started
        self.done = threading.Event()

    def run(self) -> None:
        s = _S
        every = _progress_every()
        next_progress = self.started + every
        last_seq, stuck_since = -1, None
        passed_since = None
        while not self.done.wait(POLL):
            now = time.monotonic()
            bound = s.max_memory_mb        # read once: the main thread may change it meanwhile
            if bound is not None:
                used = rss_mb()
                if s.memory_armed and used > bound and s.pending is None:
                    s.memory_armed = False
                    s.pending = OutOfMemory(f"memory bound reached: {used:.0f} MB resident, over "
                                            f"--max-memory {bound:g} MB")
                elif not s.memory_armed and used < 0.9 * bound:
                    s.memory_armed = True
            if STEP[1] and STEP[0] == last_seq:
                if stuck_since is None:
                    stuck_since = now
                elif now - stuck_since > s.step_seconds and s.pending is None:
                    s.pending = EndlessStep(f"a thread's step ran {s.step_seconds:g} s without "
                                            f"yielding (an endless loop? the bound is --step-seconds)")
            else:
                last_seq, stuck_since = STEP[0], None
            # A passed limit nobody picked up: the main thread is in code that never
            # calls check() (a user's loop, a sleep). A signal interrupts it.
            if s.pending is not None or now >= s.deadline:
                if passed_since is None:
                    passed_since = now
                elif now - passed_since >= ESCALATE:
                    passed_since = now
                    try:
                        signal.pthread_kill(self.main_id, signal.SIGALRM)
                    except (OSError, ValueError):
                        pass
            else:
                passed_since = None
            if now >= next_progress:
                next_progress = now + every
                try:
                    what = s.progress[-1]() + ", " if s.progress else ""
                except Exception:       # the work changed under us: skip one line
                    continue
                sys.stderr.write(f"vmafuzz: still running after {now - self.started:.0f} s: {what}"
                                 f"{rss_mb():.0f} MB resident\n")
                sys.stderr.flush()


@contextmanager
def guarded(max_memory_mb: float | None = None, step_seconds: float | None = None) -> Iterator[None]:
    """The limits of one command: the watchdog thread, the SIGINT and SIGALRM
    handlers, the unraisable hook. Restores what was there before (the tests call
    the command line in-process)."""
    old_limits = (_S.max_memory_mb, _S.step_seconds, _S.memory_armed)
    _S.max_memory_mb = max_memory_mb
    _S.step_seconds = step_seconds if step_seconds is not None else STEP_SECONDS
    _S.memory_armed = True
    if _S.watchdog is not None:      # nested: new limits, the same watchdog and handlers
        try:
            yield
        finally:
            _S.max_memory_mb, _S.step_seconds, _S.memory_armed = old_limits
        return
    main = threading.current_thread() is threading.main_thread()
    handlers = {}
    if main:
        for sig, fn in ((signal.SIGINT, _on_interrupt), (signal.SIGALRM, _on_alarm)):
            handlers[sig] = signal.signal(sig, fn)
    old_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable(old_hook)
    dog = _Watchdog(threading.get_ident(), time.monotonic()) if main else None
    if dog is not None:
        _S.watchdog = dog
        dog.start()
    try:
        yield
    finally:
        if dog is not None:
            dog.done.set()
            dog.join()
            _S.watchdog = None
        sys.unraisablehook = old_hook
        for sig, old in handlers.items():
            signal.signal(sig, old)
        _S.max_memory_mb, _S.step_seconds, _S.memory_armed = old_limits
        STEP[1] = False
        _S.pending = None
        _S.interrupted = False


def clear() -> None:
    """Forget a pending stop (after the caller handled the one it caught)."""
    _S.pending = None


# --------------------------------------------------------------------------
# Input files
# --------------------------------------------------------------------------

# A corpus or litmus file larger than this is refused: the largest shipped corpus
# file is a few kilobytes, a litmus test a few hundred bytes (a 100 MB corpus file
# took 50 s and 1.7 GB to replay).
MAX_INPUT_BYTES = 4 << 20


class BadInput(Exception):
    """An input file that cannot be read: one line, without the file name."""


def read_input(path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Anything else
    (a directory, /dev/zero, a FIFO without a writer, a socket) is refused from
    its ``stat`` before it is opened, so nothing blocks or reads without end; the
    file is opened non-blocking and checked again, in case it changed meanwhile."""
    import stat
    try:
        st = os.stat(path)
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}") from None
    _regular(st, limit, stat)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}") from None
    try:
        _regular(os.fstat(fd), limit, stat)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise BadInput(f"larger than {limit >> 20} MiB (the input size limit, docs/limits.md)")
        return b"".join(chunks)
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def _regular(st, limit: int, stat) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise BadInput("is a directory")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if \
            stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket" if \
            stat.S_ISSOCK(st.st_mode) else "not a regular file"
        raise BadInput(f"not a regular file ({kind})" if kind != "not a regular file" else kind)
    if st.st_size > limit:
        raise BadInput(f"larger than {limit >> 20} MiB (the input size limit, docs/limits.md)")
