"""The protocol API: what a protocol family gives vmafuzz, and all vmafuzz needs of it.

A protocol family is one unit (one module or sub-package): its kernel objects,
its thread steps, its ghost events (typed records), its invariant as named
rules, and how a report prints its state. The engine, the explorer, the
fuzzer, the shrinker, the corpus, replay, the reports and the CLI work for any
family through this module only; they never look inside a family's records.

* ``Protocol``: subclass it. A class with its own ``name`` joins the registry
  (``registry()``) by being defined; the shipped ones are listed by
  ``vmafuzz list``, a user's is named ``FILE.py:NAME``.
* Ghost records: ``Observation`` marks a judgement point (a reader's read side
  ended: the invariant is asked there and only there); any other record
  (``GhostRecord``) is bookkeeping the invariant reads (e.g. a writer's commit).
  A thread emits them with ``yield observe(rec)`` or ``yield ghost_event(rec)``.
* ``Violation``: what the invariant returns when one of its rules is broken.
* ``ProtocolError``: a protocol that breaks this API's rules (told by name, exit 2).

``models/seqlock/`` is the smallest complete family; ``models/vma/`` holds
protocols A and B of the speculative VMA lookup.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from .engine import ThreadSpec
from .ops import Ghost


class ProtocolError(Exception):
    """A protocol that breaks the rules of this API (reported as one line, exit 2)."""


# ---------------------------------------------------------------- ghost records

@attrs.frozen(slots=True)
class GhostRecord:
    """Base of a family's ghost events: bookkeeping the memory model never sees."""

    def trace_text(self) -> str | None:
        """The line a trace prints for it (None: not shown)."""
        return None


@attrs.frozen(slots=True)
class Observation(GhostRecord):
    """A judgement point: reader ``index`` of its thread ended with ``outcome``
    (e.g. ``success``, ``bail``). The invariant is asked right after each one."""

    index: int           # the reader thread's own count: its 0th, 1st, ... read side
    outcome: str

    noun: ClassVar[str] = "read"

    def trace_text(self) -> str | None:
        return f"-- {self.noun} {self.index}: {self.outcome}"


def observe(record: Observation) -> Ghost:
    """``yield observe(rec)``: record a judgement point with the thread's last step."""
    if not isinstance(record, Observation):
        raise ProtocolError(f"observe() takes an Observation record, not {record!r}")
    return Ghost(record)


def ghost_event(record: GhostRecord, step: bool = False) -> Ghost:
    """``yield ghost_event(rec)``: bookkeeping for the invariant. ``step=True``
    makes it a step of its own (other threads can run just before it), for a
    moment that matters, such as a writer's commit."""
    return Ghost(record, step=step)


def observations(ghosts) -> list[tuple[int, Observation, int]]:
    """The (tid, record, at) of every observation among ``Execution.ghosts``."""
    return [g for g in ghosts if isinstance(g[1], Observation)]


# ---------------------------------------------------------------- violations

@attrs.frozen(slots=True)
class Violation:
    """A broken rule of a family's invariant, at one observation."""

    rule: str
    reader: int          # thread id of the observing thread
    lookup: int          # its observation index
    detail: str
    at: int = 0          # events in the graph when it was detected

    def report_lines(self, ex, trace, width: int | None = None) -> list[str]:
        """Lines a report prints below ``VIOLATION: rule`` and the detail line."""
        return []

    @property
    def wrapped(self) -> tuple:
        """Counter stores that wrapped around before it (a family with counters says)."""
        return ()


# ---------------------------------------------------------------- the protocol unit

_REGISTRY: dict[str, type] = {}


class Protocol:
    """Base of every protocol and variant. A family subclasses it once (its
    objects, threads and invariant); each variant subclasses the family and
    overrides one step or one class attribute.

    What a family defines:

    * ``setup(cls, scenario)``: the instance, with its kernel objects built
      (default: ``cls()``; override ``__init__`` to make objects);
    * ``writer(self, wid, cycles)`` and ``reader(self, rid, lookups)``: the
      thread bodies (generators of ``models.ops`` primitives), or
      ``threads(self, scenario)`` for another thread list;
    * ``rules``: the names of its invariant's rules;
    * ``check(self, ex)``: the invariant, asked after each ``Observation``;
      returns a ``Violation`` (rule one of ``rules``) or None.
    """

    name: ClassVar[str] = "?"
    family: ClassVar[str] = "?"          # the family (corpus folder, `vmafuzz list` column)
    description: ClassVar[str] = ""
    expected: ClassVar[str] = "holds"    # what you believe; only compared, never the verdict
    default_scenario: ClassVar[dict] = {}
    load_buffering: ClassVar[bool] = False
    counter_width: ClassVar[int | None] = None
    rules: ClassVar[tuple[str, ...]] = ()
    # Scenario options the family takes (models.scenario.Scenario fields), and
    # those that ``explore`` deepens and ``run`` draws when the user fixes none.
    scenario_options: ClassVar[frozenset] = frozenset({"writers", "cycles", "readers", "lookups"})
    grows: ClassVar[tuple[str, ...]] = ("cycles", "readers")
    # How a scenario is described: the family's own words for its threads' work.
    nouns: ClassVar[dict] = {"writer": "writer", "cycle": "cycle", "reader": "reader", "lookup": "read"}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__ and cls.name != "?" and not cls.__module__.startswith("vmafuzz_user_"):
            _REGISTRY.setdefault(cls.name, cls)

    # ---- building ----
    @classmethod
    def setup(cls, scenario) -> "Protocol":
        return cls()

    def threads(self, scenario) -> list[ThreadSpec]:
        out = [ThreadSpec(f"writer{w}", self.writer, (w, scenario.cycles)) for w in range(scenario.writers)]
        out += [ThreadSpec(f"reader{r}", self.reader, (r, scenario.lookups)) for r in range(scenario.readers)]
        return out

    def writer(self, wid: int, cycles: int):
        raise ProtocolError(f"{self.name}: the protocol defines no writer()")

    def reader(self, rid: int, lookups: int):
        raise ProtocolError(f"{self.name}: the protocol defines no reader()")

    # ---- the invariant ----
    def check(self, ex) -> Violation | None:
        raise ProtocolError(f"{self.name}: the protocol defines no invariant (check())")

    def lint(self, ex) -> None:
        """Called after one complete run before any search: raise ProtocolError
        when the run broke the API's rules (default: nothing to check)."""


def registry() -> dict[str, type]:
    """Every registered protocol class by name. The shipped families are the
    sub-packages of ``models`` (``models/seqlock/``, ``models/vma/``, ...): each is
    imported, and its classes register themselves, so a new family touches only its
    own package. Only this package's own directory is listed (our code, not data)."""
    import importlib
    import pkgutil

    from . import __name__ as package, __path__ as where
    for info in sorted(pkgutil.iter_modules(where), key=lambda m: m.name):
        if info.ispkg:
            importlib.import_module(f"{package}.{info.name}")
    return dict(_REGISTRY)


def shipped() -> tuple[type, ...]:
    """The shipped variants, family by family, in definition order."""
    reg = registry()
    families: dict[str, list] = {}
    for cls in reg.values():
        if cls.__module__.startswith("models."):
            families.setdefault(cls.family, []).append(cls)
    return tuple(c for group in families.values() for c in group)


__all__: list[Any] = ["Protocol", "ProtocolError", "GhostRecord", "Observation", "Violation",
                      "observe", "ghost_event", "observations", "registry", "shipped"]
