"""The intact-VMA oracle on hand-built runs: each rule is caught, a stale but
consistent version is not. The runs use a reader with no protection at all, so
that every outcome is the test's own choice of which store each load reads."""

import pytest

from models.engine import Execution
from models.ops import READ_ONCE, rcu_read_lock, rcu_read_unlock
from models.protocols import ProtocolB
from models.scenario import Scenario, build
from models.vma.kernel import Commit
from fuzz.oracle import STALE_INCARNATION, TORN, UNCOMMITTED, USE_AFTER_FREE, Oracle


class NaiveReader(ProtocolB):
    """Reads the VMA fields and succeeds, checking nothing."""

    name = "test-naive"

    def lookup(self, i):
        yield rcu_read_lock()
        vma = yield from self.k.find_vma(i)
        f = yield READ_ONCE(vma.vm_file)
        inode = yield READ_ONCE(f.f_inode)
        pgoff = yield READ_ONCE(vma.vm_pgoff)
        start = yield READ_ONCE(vma.vm_start)
        yield rcu_read_unlock()
        return self.success(vma, f, inode, pgoff, start)


class Driver:
    """Steps named threads; a load takes the newest or the oldest store allowed."""

    def __init__(self, slab="typesafe"):
        self.world = build(NaiveReader, Scenario(slab=slab))
        self.ex = Execution(self.world.threads)
        self.names = {t.spec.name: t.tid for t in self.ex.threads}

    def step(self, name, pick="newest"):
        tid = self.names[name]
        opts = self.ex.options(tid)
        assert opts, f"{name} cannot step"
        self.ex.apply(tid, opts[0] if pick == "newest" else opts[-1])

    def writer_until(self, label_prefix=None, count=None):
        """Run the writer alone for ``count`` steps (None: to the end)."""
        tid = self.names["writer0"]
        n = 0
        while not self.ex.threads[tid].done and (count is None or n < count):
            self.step("writer0")
            n += 1

    def pending(self, name):
        return self.ex.threads[self.names[name]].pending

    def writer_until_pending(self, label):
        tid = self.names["writer0"]
        while self.ex.threads[tid].pending.label != label:
            self.step("writer0")

    def verdict(self):
        return Oracle(self.world).check(self.ex)


def test_stale_but_consistent_old_version_is_legal():
    d = Driver()
    d.step("reader0")                  # find_vma
    d.writer_until()                   # the whole cycle, committed, file freed and reused
    for _ in range(4):
        d.step("reader0", "oldest")    # vm_file, f_inode, vm_pgoff, vm_start all from V0...
    # ...but f_inode's slot was reused: oldest for f_inode is still the initial store
    v = d.verdict()
    assert v is None, v


def test_new_committed_version_is_legal():
    d = Driver()
    d.writer_until()
    d.step("reader0")
    d.step("reader0")                  # vm_file = new file
    d.step("reader0")                  # its f_inode
    d.step("reader0")
    d.step("reader0")
    assert d.ex.threads[d.names["reader0"]].done
    assert d.verdict() is None


def test_torn_version_is_caught():
    d = Driver()
    d.writer_until()
    d.step("reader0")                  # find_vma
    d.step("reader0")                  # vm_file: new
    d.step("reader0")                  # f_inode of the new file
    d.step("reader0", "oldest")        # vm_pgoff: initial
    d.step("reader0")                  # vm_start: new
    v = d.verdict()
    assert v is not None and v.rule == TORN
    fields = {c.field: c for c in v.consumed}
    assert fields["vm_pgoff"].value == 0
    assert d.ex.events[fields["vm_pgoff"].source].is_init


def test_uncommitted_read_is_caught():
    d = Driver()
    tid = d.names["writer0"]
    while True:                                # up to the writer's vm_start store
        d.step("writer0")
        last = d.ex.events[-1]
        if last.tid == tid and last.kind == "W" and last.loc.name == "vma0->vm_start":
            break
    assert not any(isinstance(g[1], Commit) for g in d.ex.ghosts)
    for _ in range(5):
        d.step("reader0")                      # all newest: the in-progress state
    v = d.verdict()
    assert v is not None and v.rule == UNCOMMITTED


def test_stale_incarnation_is_caught():
    d = Driver("typesafe")
    d.step("reader0")                          # find_vma
    d.step("reader0", "oldest")                # vm_file = file0 (V0)
    d.writer_until()                           # cycle commits, fput(file0) hands the slot to a new file
    d.step("reader0")                          # f_inode: newest = the new owner's inode
    d.step("reader0", "oldest")                # vm_pgoff from V0
    d.step("reader0", "oldest")                # vm_start from V0
    v = d.verdict()
    assert v is not None and v.rule == STALE_INCARNATION
    assert "file0" in v.detail


@pytest.mark.parametrize("slab", ["kfree", "rcu"])
def test_use_after_free_is_caught(slab):
    d = Driver(slab)
    d.step("reader0")                          # find_vma
    d.step("reader0", "oldest")                # vm_file = file0
    d.writer_until()                           # file0 freed (at once, or after a grace period)
    tid = d.names["reader0"]
    opts = d.ex.options(tid)
    values = [d.ex.events[o.src].value for o in opts]
    if slab == "rcu":
        # The reader is inside its RCU read-side critical section, which began before
        # the grace period: LKMM forbids it to see the free.
        assert all("freed" not in repr(v) for v in values)
        return
    assert any("freed" in repr(v) for v in values)
    d.step("reader0")                          # f_inode: the free
    d.step("reader0", "oldest")
    d.step("reader0", "oldest")
    v = d.verdict()
    assert v is not None and v.rule == USE_AFTER_FREE


def test_report_says_when_a_count_wrapped():
    d = Driver()
    d.world = build(NaiveReader, Scenario(width=1, cycles=2))
    d.ex = Execution(d.world.threads)
    d.writer_until()                           # mm_lock_seq 0,1,0,1,0: values come back
    d.step("reader0")
    d.step("reader0")
    d.step("reader0")
    d.step("reader0", "oldest")
    d.step("reader0")
    v = d.verdict()
    assert v.rule == TORN
    assert v.wrapped
    assert all(d.ex.events[e].loc.name.endswith("_lock_seq") for e in v.wrapped)
    assert not Driver().verdict()              # nothing happened: nothing to report
