"""A scenario: what runs. Writer threads and their cycles, reader threads and
their lookups (every family); VMAs, spare file slots, counter width, how freed
files go (the VMA family). A family lists the options it takes in
``Protocol.scenario_options``.

``build(variant, scenario)`` makes the kernel objects and the thread list the
engine runs (through the family's ``setup`` and ``threads``); the same scenario
always builds the same program.
"""

from __future__ import annotations

from typing import Any

import attrs

from . import limits
from .engine import ThreadSpec
from .protocol import Protocol
from .vma.kernel import SLABS


def count(n: int, noun: str) -> str:
    """``1 cycle``, ``2 cycles``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class ScenarioError(ValueError):
    """A scenario that cannot be built (reported as one line, exit 2)."""


def _positive(inst, attribute, value):
    if value is not None and value < 1:
        raise ScenarioError(f"--{attribute.name.replace('_', '-')} must be at least 1, not {value}")


# Upper bounds. They keep a corpus file from asking for an absurd program, and a
# run within the cost the engine allows: a long run's per-step cost is flat
# (memory.check_extension checks only what a new event can close a cycle with; a
# load looks at most engine.STALE_WINDOW stores back), so 1,024 writer cycles run
# in one engine run (bench/scaling.py; issue 14). Reader work stays at 64: every
# lookup of a reader after a long stretch checks a window of old stores.
MAX_THREADS = 8          # writers, and readers
MAX_WRITER_WORK = 1024   # writers x cycles x VMAs
MAX_READER_WORK = 64     # readers x lookups
MAX_WIDTH = 64           # counter bits (the kernel's counters are at most 64 bits)
MAX_SPARE_FILES = 1024   # struct file slots (a shipped cycle takes one per VMA)


def _at_most(limit: int):
    def check(inst, attribute, value):
        if value is not None and value > limit:
            raise ScenarioError(f"--{attribute.name.replace('_', '-')} must be at most {limit}, not {value}")
    return check


@attrs.frozen(slots=True)
class Scenario:
    vmas: int = attrs.field(default=1, validator=[_positive, _at_most(MAX_WRITER_WORK)])
    writers: int = attrs.field(default=1, validator=[_positive, _at_most(MAX_THREADS)])
    cycles: int = attrs.field(default=1, validator=[_positive, _at_most(MAX_WRITER_WORK)])   # per writer
    readers: int = attrs.field(default=1, validator=[_positive, _at_most(MAX_THREADS)])
    lookups: int = attrs.field(default=1, validator=[_positive, _at_most(MAX_READER_WORK)])  # per reader
    # counter bits; None: the variant's
    width: int | None = attrs.field(default=None, validator=[_positive, _at_most(MAX_WIDTH)])
    spare_files: int | None = None   # None: one per (writer, cycle, VMA)
    slab: str | None = None          # None: the variant's (typesafe unless it says otherwise)

    def __attrs_post_init__(self):
        if self.slab is not None and self.slab not in SLABS:
            raise ScenarioError(f"--slab must be one of {', '.join(SLABS)}, not {self.slab!r}")
        if self.spare_files is not None and self.spare_files < 0:
            raise ScenarioError("--spare-files cannot be negative")
        if self.spare_files is not None and self.spare_files > MAX_SPARE_FILES:
            raise ScenarioError(f"--spare-files must be at most {MAX_SPARE_FILES}, not {self.spare_files}")
        work = self.writers * self.cycles * self.vmas
        if work > MAX_WRITER_WORK:
            raise ScenarioError(f"writers x cycles x VMAs must be at most {MAX_WRITER_WORK}, not {work} "
                                f"(larger runs take hours per example)")
        if self.readers * self.lookups > MAX_READER_WORK:
            raise ScenarioError(f"readers x lookups must be at most {MAX_READER_WORK}, "
                                f"not {self.readers * self.lookups} (larger runs take hours per example)")

    @classmethod
    def default_for(cls, variant: type[Protocol], **overrides: Any) -> "Scenario":
        fields = dict(variant.default_scenario)
        fields.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ScenarioError(f"bad scenario for {variant.name}: {exc}") from None

    def to_json(self) -> dict:
        return attrs.asdict(self)

    def describe(self, variant: type | None = None) -> str:
        """``1 VMA, 1 writer x 2 cycles, 1 reader x 1 lookup``, in the family's words."""
        uses = variant.scenario_options if variant is not None else None
        nouns = variant.nouns if variant is not None else \
            {"writer": "writer", "cycle": "cycle", "reader": "reader", "lookup": "lookup"}
        parts = [] if uses is not None and "vmas" not in uses else [count(self.vmas, "VMA")]
        parts += [f"{count(self.writers, nouns['writer'])} x {count(self.cycles, nouns['cycle'])}",
                  f"{count(self.readers, nouns['reader'])} x {count(self.lookups, nouns['lookup'])}"]
        if self.width is not None:
            parts.append(f"width {self.width}")
        if self.slab is not None:
            parts.append(f"slab {self.slab}")
        return ", ".join(parts)


@attrs.frozen(slots=True)
class World:
    """A built scenario: the objects, the protocol instance and the threads."""

    variant: type
    scenario: Scenario
    protocol: Protocol
    threads: tuple
    writers: tuple       # thread ids of writers
    readers: tuple       # thread ids of readers

    @property
    def kernel(self):
        """The VMA family's kernel objects (None for another family)."""
        return getattr(self.protocol, "k", None)

    @property
    def width(self) -> int | None:
        return self.scenario.width if self.scenario.width is not None else self.variant.counter_width


def unused_options(variant: type, **given: Any) -> list[str]:
    """Scenario options given (not None) that the variant's family does not take."""
    return [k for k, v in given.items() if v is not None and k not in variant.scenario_options]


def build(variant: type[Protocol], scenario: Scenario) -> World:
    proto = variant.setup(scenario)
    threads = list(proto.threads(scenario))
    names = [t.name for t in threads]
    writers = tuple(i for i, n in enumerate(names) if n.startswith("writer"))
    readers = tuple(i for i, n in enumerate(names) if not n.startswith("writer"))
    work = scenario.cycles * scenario.vmas
    if work > 1:
        # a long scenario's threads may take more operations (the default is for one cycle)
        limit = limits.MAX_THREAD_OPERATIONS + limits.OPERATIONS_PER_CYCLE * work
        threads = [attrs.evolve(t, max_operations=limit) for t in threads]
    if getattr(variant, "load_buffering", False):
        threads = with_promises(threads)
    return World(variant, scenario, proto, tuple(threads), writers, readers)


# Load buffering in protocol runs (docs/memory-model.md, "Load buffering"): a
# variant that sets ``load_buffering = True`` lets its threads' loads promise the
# values that threads they can form a po|rf cycle with store to the same location.
# Those values are taken from a few fixed runs of the scenario (the sequentially
# consistent one and some seeded random interleavings), so the option lists, and
# with them every saved trace, are the same on every run and every replay.
PROMISE_SAMPLE_RUNS = 16
PROMISE_SAMPLE_STEPS = 10_000


def with_promises(threads: list[ThreadSpec]) -> list[ThreadSpec]:
    import random

    from .engine import Execution, FirstChooser, RandomChooser
    from .explore import StoreLog

    log = StoreLog()
    choosers = [FirstChooser()] + [RandomChooser(random.Random(i)) for i in range(PROMISE_SAMPLE_RUNS)]
    for chooser in choosers:
        ex = Execution(threads)
        ex.run(chooser, max_steps=PROMISE_SAMPLE_STEPS)
        log.add(ex)
    spec = log.speculation()
    if spec is None:
        return threads
    out = []
    for tid, t in enumerate(threads):
        mine = {loc: per[tid] for loc, per in spec.values.items() if tid in per}
        out.append(attrs.evolve(t, promises=mine or None))
    return out
