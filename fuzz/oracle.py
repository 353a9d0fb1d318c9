"""The oracle: a protocol family's invariant and the data-race finding, asked
the same way by every driver (explorer, fuzzer, shrinker, replay).

The invariant is the family's own (``Protocol.check``, ``models/protocol.py``):
for protocols A and B, *a lookup succeeds only on an intact VMA*
(``models/vma/invariant.py``); for the seqlock, *a read never returns a torn
pair* (``models/seqlock``). It is asked only at judgement points: right after a
thread records an ``Observation`` ghost record (``lookup_finished``).

Besides the invariant, a data race is a finding of its own (rule "data race",
``Oracle.race``): two conflicting accesses, at least one plain, that LKMM does not
order, as ``memory.data_races`` decides on the execution graph (herd7's
``Flag data-race``). Every driver asks for both at the same points, and a race
never stops the search for a violation of the invariant: a run or a scenario that
has both reports both (the violation first).

An exception in a protocol's invariant, or a protocol that breaks the API's
rules there, is a ``ProtocolError``: the command reports it in one line (exit 2).
"""

from __future__ import annotations


import attrs

from models import memory
from models.engine import Execution
from models.events import PLAIN
from models.protocol import Observation, ProtocolError
from models.vma.invariant import (FIELDS, INTACT_RULES, STALE_INCARNATION, TORN,  # noqa: F401
                                  UNCOMMITTED, USE_AFTER_FREE, Consumed, Violation)

DATA_RACE = "data race"
RULES = INTACT_RULES + (DATA_RACE,)     # the VMA family's (``rules_of`` for any variant)


def rules_of(variant: type) -> tuple:
    """The rules a variant's findings can name: its family's, and a data race."""
    return tuple(variant.rules) + (DATA_RACE,)


# ``memory.data_races(graph) -> [(eid, eid), ...]``: LKMM's racing pairs (ww-race,
# wr-race, rw-race of linux-kernel.cat) of one execution graph. None until the
# model computes them: then no run reports a race (``races_modelled`` says so).
MODEL_DATA_RACES = getattr(memory, "data_races", None)


@attrs.frozen(slots=True)
class DataRace:
    """Two accesses LKMM flags as a data race (eids, ``first`` made at the earlier step)."""

    first: int
    second: int
    more: int = 0                # other racing pairs in the same graph
    at: int = 0                  # events in the graph when it was found
    rule: str = DATA_RACE


def matches_expected(expected: str, verdict: str, raced: bool) -> bool:
    """Does an outcome agree with the table's verdict (protocols.md section 5)?
    "data race" is expected where LKMM flags a race: it is met when a race was
    found, whatever else the racy runs did (LKMM promises nothing about a racy
    program, so an intact-VMA violation found with it is reported but does not
    contradict the table). Every other verdict must be the outcome itself; a race
    in a variant expected to hold is a mismatch (its verdict is not "holds")."""
    if expected == DATA_RACE:
        return raced
    return verdict == expected


def lookup_finished(ex: Execution, seen: int) -> bool:
    """Did an observation (a lookup) end among the ghosts after the first ``seen``? Only then can
    the oracle's answer change (every driver checks it only then). With load
    buffering, a run is judged only when no load holds a promised value (until
    then its reads need not be an execution at all): the step that fulfils the
    last open promise is a judgement point too, for lookups that ended before it."""
    if not ex.settled:
        return False
    return ex.just_settled or any(isinstance(g[1], Observation) for g in ex.ghosts[seen:])


class Oracle:
    """Judges executions of one built scenario (``models.scenario.World``)."""

    def __init__(self, world, data_races=None):
        self.world = world
        self.readers = set(world.readers)
        # Tests may pass their own race finder; the product uses the model's.
        self.data_races = data_races if data_races is not None else MODEL_DATA_RACES

    @property
    def races_modelled(self) -> bool:
        return self.data_races is not None

    def race(self, ex: Execution) -> DataRace | None:
        """The data race of the graph so far, if any: of its racing pairs, the one
        complete first (lowest later eid, then lowest earlier eid), so every
        driver reports the same pair for the same graph.

        Why a partial graph may be judged: LKMM defines races on complete
        executions, and a race between two accesses of this graph is a race of at
        least one complete execution that extends it. Let every later load read
        the co-latest store and every later store land at the end of co (the
        engine's option 0, always consistent, see Execution._newest_is_free): then
        no later event has a po, rf, co or fr edge to an event of this graph, so no
        path of the relations the race definition uses (ww-vis, wr-vis,
        rw-xbstar: paths of hb, pb, rb and fences) between two events of this graph
        can pass through a later event, and they order the pair exactly as here.
        (A later event can only order the pair in other extensions, e.g. a store
        placed co-before an existing one.) The one edge that runs backwards is
        rcu-rscsi, from an rcu_read_unlock() still to come; the model stands in a
        virtual unlock for it (docs/memory-model.md). A promised read (load
        buffering) would wait for the rf edge of its store, but runs are judged
        only when settled (``lookup_finished``). So a race found here is never a
        false alarm; tests/test_data_race.py checks the newest-first completion
        keeps it on every racy partial run of B-as-merged."""
        if self.data_races is None:
            return None
        # pre-race needs a plain access: a graph of marked accesses only cannot race.
        if not any(PLAIN in e.tags for e in ex.events):
            return None
        pairs = {(min(a, b), max(a, b)) for a, b in self.data_races(ex.graph())}
        if not pairs:
            return None
        a, b = min(pairs, key=lambda p: (p[1], p[0]))
        return DataRace(a, b, len(pairs) - 1, len(ex.events))

    def check(self, ex: Execution):
        """The family's invariant on the run so far: a Violation or None."""
        try:
            return self.world.protocol.check(ex)
        except ProtocolError:
            raise
        except Exception as exc:      # the invariant itself failed: say where (one line)
            raise ProtocolError(f"{self.world.variant.name}: the invariant raised "
                                f"{type(exc).__name__}: {exc}") from exc
