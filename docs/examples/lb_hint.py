"""A user's variant whose bug needs load buffering (docs/memory-model.md).

The reader publishes "a reader was here" (``reader_seen``) and the writer, when it
sees that, leaves a hint (``lb_hint``) meaning "I have noticed you". A reader that
finds the hint skips the seqcount check. Under sequential consistency the hint can
only be set after the reader stored ``reader_seen``, which the reader does after it
read the hint: it never finds it, and the variant looks safe. LKMM lets the reader's
load of ``lb_hint`` read the writer's later store (a po|rf cycle: the reader's load
and store are unordered), so the reader skips the check while the writer changes
the VMA.

    vmafuzz explore docs/examples/lb_hint.py:B-lb-hint          # violated
    vmafuzz explore docs/examples/lb_hint.py:B-lb-hint-no-lb    # holds: no promises
"""

from models.events import Loc
from models.ops import READ_ONCE, WRITE_ONCE
from models.protocols import ProtocolB


class LbHint(ProtocolB):
    name = "B-lb-hint"
    description = "reader skips the seqcount check on a writer's hint (needs load buffering)"
    expected = "violated"
    load_buffering = True        # let loads read stores that come later (promises)

    def __init__(self, kernel, slab=None):
        super().__init__(kernel, slab=slab)
        self.reader_seen = Loc("mm->reader_seen")
        self.lb_hint = Loc("mm->lb_hint")

    def mmap_write_lock(self, cyc):
        seen = yield READ_ONCE(self.reader_seen)
        if seen == 1:                        # a control dependency: ordered on this side
            yield WRITE_ONCE(self.lb_hint, 1)
        yield from super().mmap_write_lock(cyc)

    def speculative_lookup(self, i):
        hint = yield READ_ONCE(self.lb_hint)
        yield WRITE_ONCE(self.reader_seen, 1)   # not ordered after the load of lb_hint
        if hint != 1:
            return (yield from super().speculative_lookup(i))
        vma = yield from self.k.find_vma(i)     # "the writer knows about us": no check
        if vma.v is None:
            return None
        got = yield from self.read_vma_fields(vma)
        if got is None:
            return None
        return self.success(vma, *got)


class LbHintNoLb(LbHint):
    name = "B-lb-hint-no-lb"
    description = "B-lb-hint explored without load buffering (misses the bug)"
    expected = "holds"
    load_buffering = False
