"""A user's own variant of protocol B, as in docs/writing-a-protocol.md.

Run it with:  vmafuzz explore docs/examples/my_variant.py:B-acquire-retry
"""

from models.ops import READ_ONCE, smp_load_acquire
from models.protocols import ProtocolB
from models.variants import B_no_rmb


class AcquireRetry(ProtocolB):
    """Replace the smp_rmb() + READ_ONCE() of mmap_lock_speculate_retry() by one
    smp_load_acquire(). An acquire orders the loads *after* it, not the speculative
    loads before it, so this should not be enough."""

    name = "B-acquire-retry"
    description = "retry with smp_load_acquire instead of smp_rmb + READ_ONCE"
    expected = "violated"

    def retry_ok(self, s):
        now = yield smp_load_acquire(self.mm.mm_lock_seq)
        return now == s


class RereadTwice(B_no_rmb):
    """B-no-rmb, but the reader reads the count twice. Two unordered loads are still
    unordered against the speculative loads: still broken."""

    name = "B-reread-twice"
    description = "B-no-rmb with the final count read twice"
    expected = "violated"

    def retry_ok(self, s):
        first = yield READ_ONCE(self.mm.mm_lock_seq)
        second = yield READ_ONCE(self.mm.mm_lock_seq)
        return first == s and second == s
