"""A protocol family of your own, from scratch: message passing (the MP litmus shape).

The writer publishes a message: data = v, smp_wmb(), flag = v. The reader
checks for it: f = flag, smp_rmb(), d = data. Invariant, in its own terms: a
reader that sees flag = v sees that message or a newer one (d >= f).

    vmafuzz explore docs/examples/message_passing.py:mp            # holds
    vmafuzz explore docs/examples/message_passing.py:mp-no-rmb     # violated
    vmafuzz run docs/examples/message_passing.py:mp-no-wmb         # violated
"""

import attrs

from models.events import Obj, raw
from models.ops import READ_ONCE, WRITE_ONCE, smp_rmb, smp_wmb
from models.protocol import Observation, Protocol, Violation, observe


@attrs.frozen(slots=True)
class Received(Observation):
    flag: object = None
    data: object = None


class MessagePassing(Protocol):
    name = "mp"
    family = "mp"
    description = "data = v; smp_wmb(); flag = v  ||  f = flag; smp_rmb(); d = data"
    rules = ("message lost",)

    def __init__(self):
        self.msg = Obj("msg", "struct message", data=0, flag=0)

    def writer(self, wid, cycles):
        for c in range(cycles):
            yield WRITE_ONCE(self.msg.data, c + 1)
            yield smp_wmb()
            yield WRITE_ONCE(self.msg.flag, c + 1)

    def reader(self, rid, lookups):
        for n in range(lookups):
            f = yield READ_ONCE(self.msg.flag)
            yield smp_rmb()
            d = yield READ_ONCE(self.msg.data)
            yield observe(Received(n, "seen" if raw(f) else "not yet", f, d))

    def check(self, ex):
        for tid, rec, at in ex.ghosts:
            if isinstance(rec, Received) and raw(rec.data) < raw(rec.flag):
                return Violation("message lost", tid, rec.index,
                                 f"saw flag = {raw(rec.flag)} but the older data = {raw(rec.data)}", at)
        return None


class NoRmb(MessagePassing):
    name = "mp-no-rmb"
    expected = "violated"

    def reader(self, rid, lookups):
        for n in range(lookups):
            f = yield READ_ONCE(self.msg.flag)
            d = yield READ_ONCE(self.msg.data)
            yield observe(Received(n, "seen" if raw(f) else "not yet", f, d))


class NoWmb(MessagePassing):
    name = "mp-no-wmb"
    expected = "violated"

    def writer(self, wid, cycles):
        for c in range(cycles):
            yield WRITE_ONCE(self.msg.data, c + 1)
            yield WRITE_ONCE(self.msg.flag, c + 1)
