"""A user's variant whose bug needs a second writer cycle; the file sets no scenario.

A writer that takes mmap_write_lock again "knows" no reader can have seen its
last count and skips the odd increment, marking the cycle only at unlock (by 2).
The first cycle is protocol B's: the bug needs the second.

    vmafuzz explore docs/examples/relock.py:B-relock-skips-begin    # violated (deepens to 2 cycles)
    vmafuzz run docs/examples/relock.py:B-relock-skips-begin        # violated (draws 1 to 3 cycles)
"""

from models.ops import WRITE_ONCE
from models.protocols import ProtocolB


class RelockSkipsBegin(ProtocolB):
    name = "B-relock-skips-begin"
    description = "a writer's later cycles skip the odd increment (count += 2 at unlock only)"
    expected = "violated"

    def seq_begin(self, cyc, seq):
        if cyc.cycle == 0:
            yield from super().seq_begin(cyc, seq)
            return
        cyc.seq, _ = cyc.counter(seq, 1)       # as if odd; seq_end then stores seq + 2
        return
        yield

    def seq_end(self, cyc):
        yield self.wmb()
        nv, g = cyc.counter(cyc.seq, 1)
        yield WRITE_ONCE(self.mm.mm_lock_seq, nv, ghost=g)
