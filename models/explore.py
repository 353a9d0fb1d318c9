"""The exhaustive explorer: every execution of a program, through the engine.

Depth-first over states. A state is an ``Execution``; its successors are every
runnable thread stepped with every option ``memory.check`` allows. States with
the same ``Execution.key()`` (same graph reached by another interleaving) are
explored once. Each finished execution carries the decision path that replays it.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Iterator

import attrs

from .engine import Decision, Execution


@attrs.define
class ExploreStats:
    states: int = 0
    executions: int = 0     # finished, consistent executions
    blocked: int = 0        # runs where no thread could go on (deadlock, or no consistent option)
    seconds: float = 0.0
    truncated: bool = False


def explore(root: Execution, stats: ExploreStats | None = None,
            max_states: int | None = None, prune: Callable[[Execution], bool] | None = None,
            breadth_first: bool = False) -> Iterator[Execution]:
    """Yield every distinct finished execution reachable from ``root``.

    ``prune(ex)`` is called once on every state; True means: do not explore
    below it (the protocol checker uses it to stop at a violation).
    ``breadth_first`` visits states in order of steps taken, so the first
    violating state found is one with the fewest steps.
    """
    stats = stats if stats is not None else ExploreStats()
    t0 = time.perf_counter()
    seen = {root.key()}
    stack = deque([root])
    take = stack.popleft if breadth_first else stack.pop
    stats.states = 1
    try:
        while stack:
            ex = take()
            if prune is not None and prune(ex):
                continue
            ready = ex.runnable()
            if not ready:
                if ex.finished:
                    stats.executions += 1
                    yield ex
                else:
                    stats.blocked += 1
                continue
            moves = [(k, tid, len(opts), i, opt) for k, tid in enumerate(ready)
                     for opts in (ex.options(tid),) for i, opt in enumerate(opts)]
            last = len(moves) - 1
            for m, (k, tid, n_opts, i, opt) in enumerate(moves):
                # The last successor takes the parent itself: one replay fewer per state.
                child = ex.fork() if m < last else ex
                if len(ready) > 1:
                    child.path.append(Decision("thread", -1, len(ready), k))
                if n_opts > 1:
                    child.path.append(Decision(opt.kind, tid, n_opts, i))
                child.apply(tid, opt)
                key = child.key()
                if key in seen:
                    continue
                seen.add(key)
                stats.states += 1
                if max_states is not None and stats.states > max_states:
                    stats.truncated = True
                    return
                stack.append(child)
    finally:
        stats.seconds = time.perf_counter() - t0
