"""The Linux Kernel Memory Model, as one consistency check over an execution graph.

This module is vmafuzz's counterpart of the current ``tools/memory-model/``
files (``linux-kernel.cat``, ``lock.cat``, ``linux-kernel.bell``, variant
``lkmmv2``; ``../shared/oracle/lkmm/``). ``check`` follows ``linux-kernel.cat``
from top to bottom: one named relation a line where it can, each axiom under its
cat name with a litmus test that needs it (``../shared/litmus/kernel/`` or
``tests/data/model/``). ``check()`` answers one question: is this (partial)
execution allowed? The engine asks it for every candidate ``rf`` edge and every
candidate ``co`` position, so what a load may read and where a store may land are
decided here and nowhere else. ``flags`` and ``data_races`` say what herd7 flags
about one execution (``Flag data-race`` ...); they cost nothing unless asked.

Relations are bit sets: ``rel[i]`` is an int whose bit ``j`` says ``i rel j``.
Sets of events are ints too. ``n`` events are numbered by ``eid``.

How a graph is made (see ``engine.py``): events are added thread by thread in
program order. A load normally reads a store that exists, but with load
buffering a read may have no ``rf`` edge yet (it then has no ``fr`` edge either)
or read a store added after it, so ``po | rf`` may have cycles: nothing here
assumes that an ``rf`` edge points to an earlier eid or that every read has one.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Sequence

from .events import ACQUIRE, LKR, LKW, MB, NORETURN, PLAIN, RELEASE, RMW, SRCU_LOCK, SRCU_UNLOCK, SYNC_SRCU, UL, Event


# --------------------------------------------------------------------------
# Relation algebra on bit sets
# --------------------------------------------------------------------------

def bits(x: int):
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low


def compose(a: list[int], b: list[int]) -> list[int]:
    """a ; b"""
    out = []
    for row in a:
        acc = 0
        while row:
            low = row & -row
            acc |= b[low.bit_length() - 1]
            row ^= low
        out.append(acc)
    return out


def union(*rels: list[int]) -> list[int]:
    """a | b | ..."""
    return [_or(xs) for xs in zip(*rels)]


def _or(xs) -> int:
    acc = 0
    for x in xs:
        acc |= x
    return acc


def restrict(a: list[int], dom: int = -1, rng: int = -1) -> list[int]:
    """[dom] ; a ; [rng]"""
    return [(row & rng) if (dom >> i) & 1 else 0 for i, row in enumerate(a)]


def inverse(a: list[int]) -> list[int]:
    """a^-1"""
    out = [0] * len(a)
    for i, row in enumerate(a):
        b = 1 << i
        for j in bits(row):
            out[j] |= b
    return out


def plus(a: list[int]) -> list[int]:
    """Transitive closure (Warshall, on rows)."""
    r = list(a)
    n = len(r)
    for k in range(n):
        bk = 1 << k
        rk = r[k]
        if not rk:
            continue
        for i in range(n):
            if r[i] & bk:
                r[i] |= rk
    return r


def star(a: list[int]) -> list[int]:
    """Reflexive-transitive closure: in one pass over a topological order when the
    relation is acyclic (the usual case), else Warshall."""
    order = topological_order(a)
    if order is None:
        r = plus(a)
        return [row | (1 << i) for i, row in enumerate(r)]
    reach = [0] * len(a)
    for i in reversed(order):
        acc = 1 << i
        row = a[i]
        while row:
            low = row & -row
            acc |= reach[low.bit_length() - 1]
            row ^= low
        reach[i] = acc
    return reach


def opt(a: list[int]) -> list[int]:
    """a?"""
    return [row | (1 << i) for i, row in enumerate(a)]


def _forward_only(a: list[int]) -> bool:
    """Every edge goes to a later event. Events are numbered in the order they were
    added, and po, rf and most derived edges point forward, so this is common."""
    for i, row in enumerate(a):
        if row & ((2 << i) - 1):
            return False
    return True


def topological_order(a: list[int]) -> list[int] | None:
    """Kahn's algorithm; None when ``a`` has a cycle."""
    n = len(a)
    if _forward_only(a):
        return list(range(n))
    indeg = [0] * n
    for row in a:
        while row:
            low = row & -row
            indeg[low.bit_length() - 1] += 1
            row ^= low
    todo = [i for i in range(n) if indeg[i] == 0]
    order = []
    while todo:
        i = todo.pop()
        order.append(i)
        row = a[i]
        while row:
            low = row & -row
            j = low.bit_length() - 1
            indeg[j] -= 1
            if indeg[j] == 0:
                todo.append(j)
            row ^= low
    return order if len(order) == n else None


def acyclic(a: list[int]) -> bool:
    return topological_order(a) is not None


def irreflexive(a: list[int], within: int = -1) -> bool:
    return not any((row >> i) & 1 and (within >> i) & 1 for i, row in enumerate(a))


# --------------------------------------------------------------------------
# The graph and its base relations
# --------------------------------------------------------------------------

class Graph:
    """What the check needs to know: events, rf (read -> write), co (per location)."""

    __slots__ = ("events", "rf", "co", "threads", "readers", "has_gp")

    def __init__(self, events: Sequence[Event], rf: dict[int, int],
                 co: dict, threads: Sequence[Sequence[int]],
                 readers: dict | None = None, has_gp: bool | None = None):
        self.events = events
        self.rf = rf
        self.co = co
        self.threads = threads
        # Optional, kept by the engine (check_extension's incremental path): store ->
        # the reads that read it (rf inverted, as tuples), and whether some event is
        # a grace period. With them, each thread's events are in increasing eid order.
        self.readers = readers
        self.has_gp = has_gp


class _Base:
    """The bell's sets and the base relations of one graph (po, rf, co, fr, deps)."""

    def __init__(self, g: Graph):
        ev = g.events
        n = self.n = len(ev)
        self.g = g
        # ---- sets of events (linux-kernel.bell, lock.cat) ----
        # The engine applies the bell's FailedRMW filter itself when it builds an RMW
        # (only there is it known whether the RMW wrote): a failed RMW's read carries
        # RMW but no ACQUIRE or MB. So Acquire, Release and Mb are the tagged events.
        R = W = F = IW = Marked = Acquire = Release = Noreturn = Mb = RMWs = 0
        LKRs = LKWs = ULs = SrcuLock = SrcuUnlock = SyncRcu = SyncSrcu = 0
        fence_of: dict[str, int] = {}
        for e in ev:
            b = 1 << e.eid
            t = e.tags
            if e.kind == "R":
                R |= b
                if NORETURN in t:
                    Noreturn |= b
                if ACQUIRE in t or LKR in t:       # lock.cat: Acquire = Acquire | LKR
                    Acquire |= b
                if LKR in t:
                    LKRs |= b
                elif SRCU_LOCK in t:
                    SrcuLock |= b
            elif e.kind == "W":
                W |= b
                if e.tid < 0:
                    IW |= b
                if RELEASE in t or UL in t:        # lock.cat: Release = Release | UL
                    Release |= b
                if UL in t:
                    ULs |= b
                elif LKW in t:
                    LKWs |= b
                elif SRCU_UNLOCK in t:
                    SrcuUnlock |= b
            else:
                F |= b
                for k in t:
                    fence_of[k] = fence_of.get(k, 0) | b
                if "sync-rcu" in t:
                    SyncRcu |= b
                elif SYNC_SRCU in t:
                    SyncSrcu |= b
            if MB in t:
                Mb |= b
            if RMW in t:
                RMWs |= b
            if PLAIN not in t:                     # bell: Marked = ~M | IW | annotated accesses
                Marked |= b
        self.R, self.W, self.F, self.IW, self.M = R, W, F, IW, R | W
        self.Marked, self.Plain = Marked, (R | W) & ~Marked
        self.Acquire, self.Release, self.Mb, self.RMW = Acquire, Release, Mb, RMWs
        self.Noreturn, self.R4rmb = Noreturn, R & ~Noreturn       # R4rmb = R \ Noreturn
        self.LKR, self.LKW, self.UL = LKRs, LKWs, ULs
        self.Srcu_lock, self.Srcu_unlock = SrcuLock, SrcuUnlock
        self.Sync_rcu, self.Sync_srcu = SyncRcu, SyncSrcu
        self.fence_of = fence_of

        # ---- program order, threads, locations ----
        po = [0] * n
        pre = [0] * n                          # po^-1, as rows
        thread_mask = [1 << i for i in range(n)]   # same thread (IW: only itself)
        for evs in g.threads:
            acc = 0
            for e in evs:
                acc |= 1 << e
            after = acc
            before = 0
            for e in evs:
                after &= ~(1 << e)
                po[e] = after
                pre[e] = before
                before |= 1 << e
                thread_mask[e] = acc
        self.po, self.pre, self.thread_mask = po, pre, thread_mask
        loc_mask: dict = {}
        for e in ev:
            if e.loc is not None:
                loc_mask[e.loc] = loc_mask.get(e.loc, 0) | (1 << e.eid)
        self.loc_mask = loc_mask
        M = self.M
        self.po_loc = [po[i] & loc_mask[ev[i].loc] & M if ev[i].loc is not None and (M >> i) & 1
                       else 0 for i in range(n)]

        # ---- rf, co, fr (a read with no rf edge yet has no fr edge) ----
        rf = [0] * n
        for r, w in g.rf.items():
            rf[w] |= 1 << r
        co = [0] * n
        for ws in g.co.values():
            later = 0
            for w in reversed(ws):
                co[w] = later
                later |= 1 << w
        fr = [0] * n
        for r, w in g.rf.items():
            fr[r] = co[w]
        self.rf, self.co, self.fr = rf, co, fr
        self.rfe = self.external(rf)
        self.rfi = self.internal(rf)

    def internal(self, rel: list[int]) -> list[int]:
        """rel & int"""
        tm = self.thread_mask
        return [row & tm[i] for i, row in enumerate(rel)]

    def external(self, rel: list[int]) -> list[int]:
        """rel & ext"""
        tm = self.thread_mask
        return [row & ~tm[i] for i, row in enumerate(rel)]

    def fencerel(self, fences: int) -> list[int]:
        """po ; [fences] ; po"""
        out = [0] * self.n
        po, pre = self.po, self.pre
        for f in bits(fences):
            after = po[f]
            for a in bits(pre[f]):
                out[a] |= after
        return out

    def deps(self) -> tuple[list[int], list[int], list[int]]:
        """addr, data, ctrl. The engine's values already carry dependencies through
        this thread's own stores (the bell's ``carry-dep = (data ; [~Srcu-unlock] ;
        rfi)*``), so the events' sets are the bell's redefined addr, data, ctrl."""
        n = self.n
        addr = [0] * n
        data = [0] * n
        ctrl = [0] * n
        for e in self.g.events:
            b = 1 << e.eid
            for r in e.addr:
                addr[r] |= b
            for r in e.data:
                data[r] |= b
            for r in e.ctrl:
                ctrl[r] |= b
        return addr, data, ctrl


# --------------------------------------------------------------------------
# linux-kernel.cat
# --------------------------------------------------------------------------

class _Model:
    """The relations of linux-kernel.cat for one graph, computed in the cat's order.
    ``check`` stops at the first broken axiom; ``flags`` and ``data_races`` go on to
    the plain-access section."""

    def __init__(self, g: Graph):
        self.b = _Base(g)

    # (* Fundamental coherence ordering *)
    def coherence(self) -> bool:
        """acyclic po-loc | com as coherence. Forces CoRR, CoRW, CoWR, CoWW
        (+poonceonce+Once) to be Never."""
        b = self.b
        self.com = com = union(b.rf, b.co, b.fr)
        return acyclic(union(b.po_loc, com))

    def atomic(self) -> bool:
        """empty rmw & (fre ; coe) as atomic: no store lands co-between an RMW's read's
        source and its write. Every lock test needs it (lock.cat makes spin_lock an
        RMW: MP+polocks), and every counter (tests/litmus/sb-inc-nofence.litmus)."""
        g = self.b.g
        co = self.b.co
        for e in g.events:
            if e.rmw is not None and e.rmw in g.rf:
                src = g.rf[e.rmw]
                if co[src] & ~co[e.eid] & ~(1 << e.eid):
                    return False
        return True

    def ordering(self) -> None:
        """Basic relations, fences, ppo, prop and hb, pb's ingredients."""
        b = self.b
        n = b.n
        M, W, R, po, pre = b.M, b.W, b.R, b.po, b.pre
        addr, data, ctrl = self.addr, self.data, self.ctrl = b.deps()

        # (* Release Acquire *)
        acq_po = [po[i] & M if (b.Acquire >> i) & 1 else 0 for i in range(n)]   # [Acquire] ; po ; [M]
        po_rel = [po[i] & b.Release if (M >> i) & 1 else 0 for i in range(n)]   # [M] ; po ; [Release]
        # po-unlock-lock-po = po ; [UL] ; (po | rf) ; [LKR] ; po: on the same CPU even for
        # another lock (MP+unlocklockonceonce+fencermbonceonce), or through the lock
        # (MP+polocks, ISA2+pooncelock+pooncelock+pombonce).
        po_unlock_lock_po = [0] * n
        if b.LKR:
            for u in bits(b.UL):
                after = 0
                for lk in bits((b.rf[u] | po[u]) & b.LKR):
                    after |= po[lk]
                if after:
                    for a in bits(pre[u]):
                        po_unlock_lock_po[a] |= after
        self.acq_po, self.po_rel, self.po_unlock_lock_po = acq_po, po_rel, po_unlock_lock_po

        # (* Fences *)
        fence_of = b.fence_of
        rmb = restrict(b.fencerel(fence_of.get("rmb", 0)), b.R4rmb, b.R4rmb)   # MP+fencewmbonceonce+fencermbonceonce
        wmb = restrict(b.fencerel(fence_of.get("wmb", 0)), W, W)
        mb = self._mb(po_unlock_lock_po)                                       # SB+fencembonceonces
        gp = self._gp()                                                        # po ; [Sync-rcu | Sync-srcu] ; po?
        strong_fence = union(mb, gp) if gp is not None else mb
        nonrw_fence = union(strong_fence, po_rel, acq_po)
        fence = union(nonrw_fence, wmb, rmb)
        self.rmb, self.wmb, self.mb, self.gp = rmb, wmb, mb, gp
        self.strong_fence, self.nonrw_fence, self.fence = strong_fence, nonrw_fence, fence

        # (* Preserved Program Order *)
        Marked, Plain = b.Marked, b.Plain
        dep = union(addr, data)
        rwdep = restrict(union(dep, ctrl), rng=W)                              # LB+fencembonceonce+ctrlonceonce
        overwrite = union(b.co, b.fr)
        to_w = union(rwdep, b.internal(overwrite), compose(restrict(addr, rng=Plain), wmb))
        to_r = union(restrict(addr, rng=R), compose(restrict(dep, rng=Marked), b.rfi))  # MP+onceassign+derefonce
        ppo = union(to_r, to_w, b.internal(fence), b.internal(po_unlock_lock_po))
        self.dep, self.ppo = dep, ppo

        # (* Propagation: Ordering from release operations and strong fences. *)
        # A-cumul(r) = (rfe ; [Marked])? ; r  (WRC+pooncerelease+fencermbonceonce+Once)
        sf_rel = union(strong_fence, po_rel)
        a_cumul = union(sf_rel, compose(restrict(b.rfe, rng=Marked), sf_rel))
        # rmw-sequence = (rf ; rmw)*: a fence that orders a store also orders the RMWs
        # that read it, in a chain (v6.3: fully ordered atomics at least as strong as
        # release ones).
        rmw_sequence = self._rmw_sequence()
        cumul_fence = restrict(union(a_cumul, wmb, po_unlock_lock_po), Marked, Marked)
        if rmw_sequence is not None:
            cumul_fence = compose(cumul_fence, rmw_sequence)
        # prop = [Marked] ; (overwrite & ext)? ; cumul-fence* ; [Marked] ; rfe? ; [Marked]
        prop = restrict(opt(b.external(overwrite)), Marked)
        prop = restrict(compose(prop, star(cumul_fence)), rng=Marked)
        prop = restrict(compose(prop, opt(b.rfe)), rng=Marked)
        self.rmw_sequence, self.cumul_fence, self.prop = rmw_sequence, cumul_fence, prop

        # hb = [Marked] ; (ppo | rfe | ((prop \ id) & int)) ; [Marked]
        tm = b.thread_mask
        prop_int_noid = [row & tm[i] & ~(1 << i) for i, row in enumerate(prop)]
        self.hb = restrict(union(ppo, b.rfe, prop_int_noid), Marked, Marked)

    def _mb(self, po_unlock_lock_po: list[int]) -> list[int]:
        b = self.b
        M, po, pre, fence_of = b.M, b.po, b.pre, b.fence_of
        # ([M] ; fencerel(Mb) ; [M]) | ([M] ; po ; [Mb & R]) | ([Mb & W] ; po ; [M]):
        # smp_mb() fences, and the read and write of a successful fully ordered RMW,
        # which order as if an smp_mb() came before the read and after the write
        # (SB+xchg-mid, MP-xchg-reader in tests/data/model).
        mb = [0] * b.n
        for f in bits(b.Mb):
            after = po[f] & M
            before = pre[f] & M
            bit = 1 << f
            if (b.R >> f) & 1:
                after |= bit                   # [M] ; po ; [Mb & R]
            elif (b.W >> f) & 1:
                before |= bit                  # [Mb & W] ; po ; [M]
            if after:
                for a in bits(before):
                    mb[a] |= after
        # [M] ; fencerel(Before-atomic) ; [RMW] ; po? ; [M]  (sb-inc-before-atomic)
        for f in bits(fence_of.get("before-atomic", 0)):
            tgt = 0
            for e in bits(po[f] & b.RMW):
                tgt |= ((1 << e) | po[e]) & M
            if tgt:
                for a in bits(pre[f] & M):
                    mb[a] |= tgt

        def last_then_fence(kind: str, events: int) -> None:
            """[M] ; po? ; [events] ; fencerel(kind) ; [M]"""
            for f in bits(fence_of.get(kind, 0)):
                src = 0
                for e in bits(pre[f] & events):
                    src |= ((1 << e) | pre[e]) & M
                tgt = po[f] & M
                if tgt:
                    for a in bits(src):
                        mb[a] |= tgt

        last_then_fence("after-atomic", b.RMW)
        # Z6.0+pooncelock+poonceLock+pombonce, MP+polockmbonce+poacquiresilsil
        last_then_fence("after-spinlock", b.LKW)
        last_then_fence("after-srcu-read-unlock", b.Srcu_unlock)
        # [M] ; po-unlock-lock-po ; [After-unlock-lock] ; po ; [M]
        for f in bits(fence_of.get("after-unlock-lock", 0)):
            tgt = po[f] & M
            for a in bits(M):
                if (po_unlock_lock_po[a] >> f) & 1:
                    mb[a] |= tgt
        return mb

    def _gp(self) -> list[int] | None:
        """gp = po ; [Sync-rcu | Sync-srcu] ; po?  (a grace period is a strong fence)"""
        b = self.b
        gps = b.Sync_rcu | b.Sync_srcu
        if not gps:
            return None
        gp = [0] * b.n
        for s in bits(gps):
            tgt = b.po[s] | (1 << s)
            for a in bits(b.pre[s]):
                gp[a] |= tgt
        return gp

    def _rmw_sequence(self) -> list[int] | None:
        """(rf ; rmw)*, None when it is the identity."""
        g = self.b.g
        rf_rmw = None
        for e in g.events:
            if e.rmw is not None:
                src = g.rf.get(e.rmw)
                if src is not None:
                    if rf_rmw is None:
                        rf_rmw = [0] * self.b.n
                    rf_rmw[src] |= 1 << e.eid
        return None if rf_rmw is None else star(rf_rmw)

    def happens_before(self) -> bool:
        """acyclic hb as happens-before (MP+pooncerelease+poacquireonce,
        S+fencewmbonceonce+poacquireonce)."""
        return acyclic(self.hb)

    def propagation(self) -> bool:
        """acyclic pb as propagation, pb = prop ; strong-fence ; hb* ; [Marked]: each
        non-rf link needs a strong fence (SB+fencembonceonces, IRIW+fencembonceonces+OnceOnce,
        R+fencembonceonces, Z6.0+pooncelock+poonceLock+pombonce)."""
        self.hb_star = star(self.hb)
        self.pb = restrict(compose(compose(self.prop, self.strong_fence), self.hb_star),
                           rng=self.b.Marked)
        return acyclic(self.pb)

    # (* RCU *)
    def rcu(self, need_fence: bool = False) -> bool:
        """irreflexive rb as rcu (tests/litmus/rcu-gp-reader; srcu-gp-reader,
        srcu-gp-reader-other-struct, srcu-rcu-nested-order in tests/data/model). Sets
        ``rcu_fence`` and ``rb`` (None without a grace period, or without a critical
        section unless ``need_fence``: grace periods alone never break rcu, but their
        rcu-fence, e.g. two grace periods joined by rcu-link, is part of the plain-access
        section's ``fence``: SB+plainsync-rcus in tests/herd/lkmm)."""
        self.rcu_fence = self.rb = None
        self.pb_star = None
        return _rcu(self, need_fence)

    # (* Plain accesses and data races *)
    def plain(self) -> None:
        """The relations of the cat's last section, up to pre-race."""
        b = self.b
        n = b.n
        Marked = b.Marked
        rcu_fence = self.rcu_fence
        # let fence = fence | rcu-fence ; let strong-fence = strong-fence | rcu-fence
        fence = union(self.fence, rcu_fence) if rcu_fence is not None else self.fence
        strong_fence = union(self.strong_fence, rcu_fence) if rcu_fence is not None else self.strong_fence
        # xbstar = (hb | pb | rb)*
        xb = union(self.hb, self.pb, self.rb) if self.rb is not None else union(self.hb, self.pb)
        xbstar = star(xb)
        # vis = cumul-fence* ; rfe? ; [Marked] ; ((strong-fence ; [Marked] ; xbstar) | (xbstar & int))
        head = restrict(compose(star(self.cumul_fence), opt(b.rfe)), rng=Marked)
        tail = union(compose(restrict(strong_fence, rng=Marked), xbstar), b.internal(xbstar))
        vis = compose(head, tail)
        # rmb between reads that are not the reads of non-returning RMWs
        rmb_fences = b.fence_of.get("rmb", 0)
        rmb_rel = b.fencerel(rmb_fences) if rmb_fences else [0] * n
        not_noreturn = ~b.Noreturn
        # w-pre-bounded = [Marked] ; (addr | fence)?
        w_pre_bounded = restrict(opt(union(self.addr, fence)), Marked)
        # r-pre-bounded = [Marked] ; (addr | nonrw-fence | ([R4rmb] ; fencerel(Rmb) ; [~Noreturn]))?
        r_pre_bounded = restrict(opt(union(self.addr, self.nonrw_fence,
                                           restrict(rmb_rel, b.R4rmb, not_noreturn))), Marked)
        # w-post-bounded = fence? ; [Marked] ; rmw-sequence
        w_post_bounded = restrict(opt(fence), rng=Marked)
        if self.rmw_sequence is not None:
            w_post_bounded = compose(w_post_bounded, self.rmw_sequence)
        # r-post-bounded = (nonrw-fence | ([~Noreturn] ; fencerel(Rmb) ; [R4rmb]))? ; [Marked]
        r_post_bounded = restrict(opt(union(self.nonrw_fence,
                                            restrict(rmb_rel, not_noreturn, b.R4rmb))), rng=Marked)
        sf_xbstar = compose(strong_fence, xbstar)
        post_vis = compose(w_post_bounded, vis)
        # ww-vis = fence | (strong-fence ; xbstar ; w-pre-bounded) | (w-post-bounded ; vis ; w-pre-bounded)
        self.ww_vis = union(fence, compose(sf_xbstar, w_pre_bounded), compose(post_vis, w_pre_bounded))
        # wr-vis = fence | (strong-fence ; xbstar ; r-pre-bounded) | (w-post-bounded ; vis ; r-pre-bounded)
        self.wr_vis = union(fence, compose(sf_xbstar, r_pre_bounded), compose(post_vis, r_pre_bounded))
        # rw-xbstar = fence | (r-post-bounded ; xbstar ; w-pre-bounded)
        self.rw_xbstar = union(fence, compose(compose(r_post_bounded, xbstar), w_pre_bounded))

    def plain_coherence(self) -> bool:
        """empty (wr-incoh | rw-incoh | ww-incoh) as plain-coherence: a plain access
        that races may still not read against a visibility the model guarantees
        (tests/data/model/plain-coherence-*.litmus)."""
        b = self.b
        pre_race = _pre_race(b)
        rw_xbstar, wr_vis, ww_vis = self.rw_xbstar, self.wr_vis, self.ww_vis
        for a in range(b.n):
            pr = pre_race[a]
            if not pr:
                continue
            # wr-incoh = pre-race & rf & rw-xbstar^-1
            for r in bits(pr & b.rf[a]):
                if (rw_xbstar[r] >> a) & 1:
                    return False
            # rw-incoh = pre-race & fr & wr-vis^-1
            for w in bits(pr & b.fr[a]):
                if (wr_vis[w] >> a) & 1:
                    return False
            # ww-incoh = pre-race & co & ww-vis^-1
            for w in bits(pr & b.co[a]):
                if (ww_vis[w] >> a) & 1:
                    return False
        return True

    def races(self) -> list[tuple[int, int]]:
        """ww-race | wr-race | rw-race, as (earlier-in-the-relation, later) eid pairs."""
        b = self.b
        Marked, W = b.Marked, b.W
        pre_race = _pre_race(b)
        rw_xbstar, wr_vis, ww_vis = self.rw_xbstar, self.wr_vis, self.ww_vis
        co_opt_rf = compose(opt(b.co), b.rf)
        out = []
        for a in range(b.n):
            pr = pre_race[a]
            if not pr:
                continue
            found = 0
            # ww-nonrace = ww-vis & ((Marked * W) | rw-xbstar) & ((W * Marked) | wr-vis)
            # ww-race = (pre-race & co) \ ww-nonrace
            a_marked = (Marked >> a) & 1
            a_w = (W >> a) & 1
            for c in bits(pr & b.co[a]):
                nonrace = ((ww_vis[a] >> c) & 1
                           and ((a_marked and (W >> c) & 1) or (rw_xbstar[a] >> c) & 1)
                           and ((a_w and (Marked >> c) & 1) or (wr_vis[a] >> c) & 1))
                if not nonrace:
                    found |= 1 << c
            # wr-race = (pre-race & (co? ; rf)) \ wr-vis \ rw-xbstar^-1
            for c in bits(pr & co_opt_rf[a]):
                if not (wr_vis[a] >> c) & 1 and not (rw_xbstar[c] >> a) & 1:
                    found |= 1 << c
            # rw-race = (pre-race & fr) \ rw-xbstar
            for c in bits(pr & b.fr[a] & ~rw_xbstar[a]):
                found |= 1 << c
            out.extend((a, c) for c in bits(found))
        return out


def _pre_race(b: _Base) -> list[int]:
    """pre-race = ext & ((Plain * M) | ((M \\ IW) * Plain))"""
    M, Plain, tm = b.M, b.Plain, b.thread_mask
    out = [0] * b.n
    if not Plain:
        return out
    not_iw = M & ~b.IW
    for a in range(b.n):
        bit = 1 << a
        if Plain & bit:
            out[a] = M & ~tm[a]
        elif not_iw & bit:
            out[a] = Plain & ~tm[a]
    return out


def _model_checked(g: Graph, full: bool) -> tuple[str | None, _Model]:
    """Run the axioms in the cat's order; stop at the first broken one. ``full``: also
    compute the plain-access relations (for flags and data races)."""
    m = _Model(g)
    if not m.coherence():
        return "coherence", m
    if not m.atomic():
        return "atomic", m
    m.ordering()
    if not m.happens_before():
        return "happens-before", m
    if not m.propagation():
        return "propagation", m
    if not m.rcu():
        return "rcu", m
    if m.b.Plain and (full or _pre_race_in_com(m.b)):
        if m.rcu_fence is None and (m.b.Sync_rcu | m.b.Sync_srcu) and not m.rcu(need_fence=True):
            return "rcu", m
        m.plain()
        if not m.plain_coherence():
            return "plain-coherence", m
    return None, m


def _pre_race_in_com(b: _Base) -> bool:
    """Some plain access is in rf, co or fr with an access of another thread: only
    then can plain-coherence fail (it is empty otherwise, and costs nothing)."""
    pre_race = _pre_race(b)
    for a in bits(b.M):
        if pre_race[a] & (b.rf[a] | b.co[a] | b.fr[a]):
            return True
    return False


def check(g: Graph) -> str | None:
    """Return None when the execution is LKMM-consistent, else the name of the broken
    axiom (coherence, atomic, happens-before, propagation, rcu, plain-coherence)."""
    return _model_checked(g, full=False)[0]


def data_races(g: Graph) -> list[tuple[int, int]]:
    """The racing pairs of one consistent execution (linux-kernel.cat's ww-race,
    wr-race and rw-race), each as (eid, eid) in the relation's direction, sorted;
    empty when the execution is race-free (or not consistent)."""
    if not any(PLAIN in e.tags for e in g.events):
        return []              # pre-race needs a plain access: nothing to compute
    verdict, m = _model_checked(g, full=True)
    if verdict is not None or not m.b.Plain:
        return []
    return sorted(m.races())


# The events some flag of ``flags`` needs: plain accesses (data-race,
# mixed-accesses), RCU and SRCU read-side markers (the nesting flags, invalid-sleep)
# and unlocks (unmatched-unlock).
_FLAG_TAGS = frozenset({PLAIN, "rcu-lock", "rcu-unlock", SRCU_LOCK, SRCU_UNLOCK, UL})


def flags(g: Graph) -> frozenset[str]:
    """The flags herd7 would raise on this (consistent, complete) execution:
    ``data-race`` (linux-kernel.cat), ``mixed-accesses``, and the bell's RCU and SRCU
    nesting flags (``unmatched-rcu-lock``, ``unmatched-rcu-unlock``,
    ``unmatched-srcu-lock``, ``unmatched-srcu-unlock``, ``multiple-srcu-matches``,
    ``srcu-bad-value-match``, ``invalid-sleep``), and lock.cat's ``unmatched-unlock``."""
    if all(e.tags.isdisjoint(_FLAG_TAGS) for e in g.events):
        return frozenset()      # every flag needs one of these events: no model to build
    verdict, m = _model_checked(g, full=True)
    out = set()
    if verdict is not None:
        return frozenset()
    b = m.b
    if b.Plain and m.races():
        out.add("data-race")
    if b.Plain and _mixed_accesses(m):
        out.add("mixed-accesses")
    pairs, unmatched_locks, unmatched_unlocks = _rcu_rscs(g)
    if unmatched_locks:
        out.add("unmatched-rcu-lock")
    if unmatched_unlocks:
        out.add("unmatched-rcu-unlock")
    if b.Srcu_lock or b.Srcu_unlock:
        srcu = _srcu_rscs(g)
        matched_l = matched_u = 0
        for lk, un in srcu:
            matched_l |= 1 << lk
            matched_u |= 1 << un
        if b.Srcu_lock & ~matched_l:
            out.add("unmatched-srcu-lock")
        if b.Srcu_unlock & ~matched_u:
            out.add("unmatched-srcu-unlock")
        # (srcu-rscs^-1 ; srcu-rscs) \ id: an unlock matched with two locks, or a lock with two unlocks
        seen_l: dict[int, int] = {}
        seen_u: dict[int, int] = {}
        for lk, un in srcu:
            if seen_l.setdefault(lk, un) != un or seen_u.setdefault(un, lk) != lk:
                out.add("multiple-srcu-matches")
        # different-values(srcu-rscs)
        if any(g.events[lk].value != g.events[un].value for lk, un in srcu):
            out.add("srcu-bad-value-match")
    # lock.cat: critical = ([LKW] ; po-loc ; [UL]) \ (po-loc ; [LKW | UL] ; po-loc);
    # UL \ range(critical): an unlock whose po-previous lock operation on its lock is
    # not a lock acquisition (unlock-without-lock in tests/herd/lkmm)
    if b.UL:
        for evs in g.threads:
            last: dict = {}
            for e in evs:
                x = g.events[e]
                if UL in x.tags:
                    if last.get(x.loc) != LKW:
                        out.add("unmatched-unlock")
                    last[x.loc] = UL
                elif LKW in x.tags:
                    last[x.loc] = LKW
    # rcu-rscs & (po ; [Sync-srcu] ; po): synchronize_srcu() inside an RCU critical section
    for lk, un in pairs:
        if un is not None and b.po[lk] & b.Sync_srcu & b.pre[un]:
            out.add("invalid-sleep")
    return frozenset(out)


def _mixed_accesses(m: _Model) -> bool:
    """([Plain & W] ; (po-loc \\ barrier) ; [Marked]) | ([Marked] ; (po-loc \\ barrier) ; [Plain & W])"""
    b = m.b
    kinds = 0
    for k in ("barrier", "rmb", "wmb", "mb", "sync-rcu", SYNC_SRCU, "before-atomic",
              "after-atomic", "rcu-lock", "rcu-unlock"):
        kinds |= b.fence_of.get(k, 0)
    # barrier = fencerel(Barrier | Rmb | Wmb | Mb | Sync-rcu | Sync-srcu | Before-atomic |
    #   After-atomic | Acquire | Release | Rcu-lock | Rcu-unlock | Srcu-lock | Srcu-unlock)
    #   | (po ; [Release]) | ([Acquire] ; po)
    barrier = b.fencerel(kinds | b.Mb | b.Acquire | b.Release | b.Srcu_lock | b.Srcu_unlock)
    for i in range(b.n):
        barrier[i] |= b.po[i] & b.Release
    for i in bits(b.Acquire):
        barrier[i] |= b.po[i]
    plain_w = b.Plain & b.W
    for a in range(b.n):
        rest = b.po_loc[a] & ~barrier[a]
        if not rest:
            continue
        if (plain_w >> a) & 1 and rest & b.Marked:
            return True
        if (b.Marked >> a) & 1 and rest & plain_w:
            return True
    return False


# --------------------------------------------------------------------------
# RCU and SRCU (linux-kernel.bell's rcu-rscs and srcu-rscs, linux-kernel.cat's rcu)
# --------------------------------------------------------------------------

def _rcu_rscs(g: Graph) -> tuple[list[tuple[int, int | None]], bool, bool]:
    """Matching rcu_read_lock()/rcu_read_unlock() pairs, innermost first (the bell's
    rcu-rscs); a lock still open at the end of its thread is paired with None.
    Also whether some unlock had no lock."""
    ev = g.events
    pairs: list[tuple[int, int | None]] = []
    unmatched_unlock = False
    for evs in g.threads:
        stack: list[int] = []
        for e in evs:
            x = ev[e]
            if x.kind != "F":
                continue
            if "rcu-lock" in x.tags:
                stack.append(e)
            elif "rcu-unlock" in x.tags:
                if stack:
                    pairs.append((stack.pop(), e))
                else:
                    unmatched_unlock = True
        pairs.extend((lk, None) for lk in stack)
    return pairs, any(un is None for _, un in pairs), unmatched_unlock


def _srcu_rscs(g: Graph) -> list[tuple[int, int]]:
    """srcu-rscs = ([Srcu-lock] ; carry-srcu-data ; data ; [Srcu-unlock]) & loc, with
    carry-srcu-data = (data ; [~Srcu-unlock] ; rf)*: the index a srcu_read_lock()
    returned reaches srcu_read_unlock()'s value through data and stores and loads."""
    ev = g.events
    locks = [e.eid for e in ev if e.kind == "R" and SRCU_LOCK in e.tags]
    if not locks:
        return []
    data: dict[int, list[int]] = {}        # load -> the events whose value depends on it
    for e in ev:
        for r in e.data:
            data.setdefault(r, []).append(e.eid)
    readers: dict[int, list[int]] = {}     # store -> the loads that read it
    for r, w in g.rf.items():
        readers.setdefault(w, []).append(r)
    out = []
    for lk in locks:
        loc = ev[lk].loc
        seen = {lk}
        todo = [lk]
        while todo:
            for y in data.get(todo.pop(), ()):
                if SRCU_UNLOCK in ev[y].tags:
                    if ev[y].loc == loc:
                        out.append((lk, y))
                    continue                   # [~Srcu-unlock]: the chain stops there
                for r in readers.get(y, ()):
                    if r not in seen:
                        seen.add(r)
                        todo.append(r)
    return sorted(set(out))


def _rcu(m: _Model, need_fence: bool = False) -> bool:
    """irreflexive rb as rcu. Open RCU read-side critical sections end at a virtual
    unlock after the thread's last event, which is exactly where the unlock would
    be if it came next (an execution grows, and so would its critical section)."""
    b = m.b
    n = b.n
    gps = b.Sync_rcu | b.Sync_srcu
    if not gps:
        return True            # rcu-order needs a grace period
    g = b.g
    rcu_pairs = _rcu_rscs(g)[0] if b.fence_of.get("rcu-lock") else []
    srcu_pairs = _srcu_rscs(g) if b.Srcu_lock else []
    if not rcu_pairs and not srcu_pairs and not need_fence:
        return True            # and a critical section
    size = n
    virtual_po: list[tuple[int, int]] = []
    pairs: list[tuple[int, int]] = []
    for lk, un in rcu_pairs:
        if un is None:
            mask = b.thread_mask[lk]
            virtual_po.append((mask, size))
            un = size
            size += 1
        pairs.append((lk, un))
    pad = [0] * (size - n)
    po_x = b.po + pad
    for mask, v in virtual_po:
        for e in bits(mask):
            po_x[e] |= 1 << v
    prop_x = m.prop + pad
    hb_x = m.hb_star + [1 << v for v in range(n, size)]
    pb_star = star(m.pb)
    m.pb_star = pb_star
    pb_x = pb_star + [1 << v for v in range(n, size)]

    # rcu-gp = [Sync-rcu] ; srcu-gp = [Sync-srcu] ; rcu-rscsi = rcu-rscs^-1 ; srcu-rscsi = srcu-rscs^-1
    rcu_gp = [0] * size
    srcu_gp = [0] * size
    for s in bits(b.Sync_rcu):
        rcu_gp[s] = 1 << s
    for s in bits(b.Sync_srcu):
        srcu_gp[s] = 1 << s
    rcu_rscsi = [0] * size
    for lk, un in pairs:
        rcu_rscsi[un] |= 1 << lk
    srcu_rscsi = [0] * size
    for lk, un in srcu_pairs:
        srcu_rscsi[un] |= 1 << lk
    # "& loc" keeps the pairs whose two ends are on the same srcu_struct
    loc_of = [0] * size
    for i in bits(b.Sync_srcu | b.Srcu_lock | b.Srcu_unlock):
        loc_of[i] = b.loc_mask[g.events[i].loc]

    def same_loc(rel: list[int]) -> list[int]:
        return [row & loc_of[i] for i, row in enumerate(rel)]

    # rcu-link = po? ; hb* ; pb* ; prop ; po
    rcu_link = compose(compose(compose(compose(opt(po_x), hb_x), pb_x), prop_x), po_x)
    # let rec rcu-order = rcu-gp | srcu-gp | (rcu-gp ; rcu-link ; rcu-rscsi) | ((srcu-gp ;
    #   rcu-link ; srcu-rscsi) & loc) | (rcu-rscsi ; rcu-link ; rcu-gp) | ((srcu-rscsi ;
    #   rcu-link ; srcu-gp) & loc) | (rcu-gp ; rcu-link ; rcu-order ; rcu-link ; rcu-rscsi)
    #   | ((srcu-gp ; ... ; srcu-rscsi) & loc) | (rcu-rscsi ; ... ; rcu-gp)
    #   | ((srcu-rscsi ; ... ; srcu-gp) & loc) | (rcu-order ; rcu-link ; rcu-order)
    rcu_gp_link = compose(rcu_gp, rcu_link)
    srcu_gp_link = compose(srcu_gp, rcu_link)
    rcu_rs_link = compose(rcu_rscsi, rcu_link)
    srcu_rs_link = compose(srcu_rscsi, rcu_link)
    has_srcu = bool(srcu_pairs and b.Sync_srcu)
    order = union(rcu_gp, srcu_gp, compose(rcu_gp_link, rcu_rscsi), compose(rcu_rs_link, rcu_gp))
    if has_srcu:
        order = union(order, same_loc(compose(srcu_gp_link, srcu_rscsi)),
                      same_loc(compose(srcu_rs_link, srcu_gp)))
    while True:
        link_order_link = compose(compose(rcu_link, order), rcu_link)
        nxt = union(order,
                    compose(compose(rcu_gp_link, compose(order, rcu_link)), rcu_rscsi),
                    compose(compose(rcu_rs_link, compose(order, rcu_link)), rcu_gp),
                    compose(compose(order, rcu_link), order))
        if has_srcu:
            nxt = union(nxt,
                        same_loc(compose(compose(srcu_gp, link_order_link), srcu_rscsi)),
                        same_loc(compose(compose(srcu_rscsi, link_order_link), srcu_gp)))
        if nxt == order:
            break
        order = nxt
    # rcu-fence = po ; rcu-order ; po?
    rcu_fence = compose(compose(po_x, order), opt(po_x))
    # rb = prop ; rcu-fence ; hb* ; pb* ; [Marked]
    rb = compose(compose(compose(prop_x, rcu_fence), hb_x), pb_x)
    m.rcu_fence = [row & ((1 << n) - 1) for row in rcu_fence[:n]]
    m.rb = [row & b.Marked for row in rb[:n]]
    return irreflexive(m.rb)


# --------------------------------------------------------------------------
# The engine's incremental check
# --------------------------------------------------------------------------

def check_extension(g: Graph, new: list[int], cache: dict | None = None) -> str | None:
    """``check(g)`` for a graph whose events other than ``new`` already form a
    consistent execution (the engine's situation for every candidate choice).

    Every axiom is an acyclicity or irreflexivity condition (plain-coherence too: each
    of its pairs closes a cycle with rf, fr or co), and each derived edge is witnessed
    by a path of base edges (po, rf, co, fr). So a new violation is a cycle through a
    new event, and every event on it is both reachable from and reaching the new
    events along base edges. Checking the subgraph induced by those events is
    therefore exact, and usually far smaller. With a grace period, rcu-rscsi and
    srcu-rscsi (from an unlock back to its lock) count as edges too, and an RCU lock
    and its unlock are kept together, so that the subgraph pairs its critical sections
    as the whole graph does. Atomicity is not a cycle condition: it is checked on the
    new RMW writes directly.

    An engine graph without a grace period (``g.readers`` given, ``g.has_gp`` False)
    has those events found from the new ones outward (``_kept_local``), so the cost
    does not grow with the run; any other graph, from the whole graph (``_kept_full``).
    Both keep the same events.
    """
    ev = g.events
    n = len(ev)
    for e in new:
        w = ev[e]
        if w.rmw is not None and w.rmw in g.rf:
            order = g.co[w.loc]
            src = g.rf[w.rmw]
            if order.index(w.eid) != order.index(src) + 1:
                return "atomic"
    if g.readers is not None and g.has_gp is False:
        kept = _kept_local(g, new)
        if kept is None:
            return None
        if len(kept) == n:
            return check(g)
        sub_events, sub_rf, sub_co, sub_threads = _subgraph_local(g, kept)
    else:
        keep = _kept_full(g, new)
        if keep == (1 << n) - 1:
            return check(g)
        sub_events, sub_rf, sub_co, sub_threads = _subgraph_full(g, keep)
    if cache is None:
        return check(Graph(sub_events, sub_rf, sub_co, sub_threads))
    # The check reads only the shape of the graph (kinds, annotations, which events
    # share a location or a thread, dependencies, rf, co), never values: runs that
    # differ elsewhere keep producing the same small subgraph, so remember verdicts.
    locs: dict = {}
    key = (
        tuple((x.kind, x.tags, locs.setdefault(x.loc, len(locs)), x.addr, x.data, x.ctrl, x.rmw)
              for x in sub_events),
        tuple(sorted(sub_rf.items())),
        tuple(sorted((locs[loc], tuple(order)) for loc, order in sub_co.items())),
        tuple(tuple(t) for t in sub_threads if t),
    )
    verdict = cache.get(key, _MISSING)
    if verdict is _MISSING:
        if len(cache) > CACHE_LIMIT:
            cache.clear()
        verdict = cache[key] = check(Graph(sub_events, sub_rf, sub_co, sub_threads))
    return verdict


_MISSING = object()
CACHE_LIMIT = 500_000


def _kept_full(g: Graph, new: list[int]) -> int:
    """The events check_extension checks (a bit set), from base successor and
    predecessor sets of the whole graph."""
    ev = g.events
    n = len(ev)
    has_gp = False
    for e in ev:
        if e.kind == "F" and ("sync-rcu" in e.tags or SYNC_SRCU in e.tags):
            has_gp = True
            break
    # base successors and predecessors as bit sets
    succ = [0] * n
    pred = [0] * n
    for evs in g.threads:
        acc = 0
        for e in reversed(evs):
            succ[e] |= acc
            acc |= 1 << e
        acc = 0
        for e in evs:
            pred[e] |= acc
            acc |= 1 << e
    succ_po = list(succ)
    co_later: dict[int, int] = {}
    co_earlier: dict[int, int] = {}
    for ws in g.co.values():
        acc = 0
        for w in reversed(ws):
            co_later[w] = acc
            acc |= 1 << w
        acc = 0
        for w in ws:
            co_earlier[w] = acc
            acc |= 1 << w
    for w, later in co_later.items():
        succ[w] |= later
        pred[w] |= co_earlier[w]
    for r, w in g.rf.items():
        succ[w] |= 1 << r
        pred[r] |= 1 << w
        later = co_later.get(w, 0)
        succ[r] |= later                       # fr
        for x in bits(later):
            pred[x] |= 1 << r

    # With a grace period, rcu-rscsi and srcu-rscsi run from an unlock back to its
    # lock: they are edges too, so that a cycle through them stays in the subgraph
    # (srcu-rscs's data chain runs along po and rf, so it is kept with its ends).
    partner: dict[int, int] = {}
    if has_gp:
        for lk, un in _rcu_rscs(g)[0]:
            if un is not None:
                partner[lk] = un
                partner[un] = lk
                succ[un] |= 1 << lk
                pred[lk] |= 1 << un
            else:
                # an open section ends at a virtual unlock after the thread's last
                # event: every event po-after the lock reaches the lock through it
                for e in bits(succ_po[lk]):
                    succ[e] |= 1 << lk
                    pred[lk] |= 1 << e
        for lk, un in _srcu_rscs(g):
            succ[un] |= 1 << lk
            pred[lk] |= 1 << un

    def closure(start: int, adj: list[int]) -> int:
        seen = start
        todo = start
        while todo:
            nxt = 0
            for i in bits(todo):
                nxt |= adj[i]
            todo = nxt & ~seen
            seen |= todo
        return seen

    newmask = 0
    for e in new:
        newmask |= 1 << e
    keep = (closure(newmask, succ) & closure(newmask, pred)) | newmask
    # An RCU lock and its unlock are kept together: with only one of them, the
    # subgraph would match another pair, or end the section at a virtual unlock.
    if partner:
        for e in bits(keep):
            p = partner.get(e)
            if p is not None:
                keep |= 1 << p
    # fr is derived from rf and co: a kept read needs the store it read.
    for r in bits(keep):
        w = g.rf.get(r)
        if w is not None:
            keep |= 1 << w
    return keep


def _subgraph_full(g: Graph, keep: int) -> tuple:
    ev = g.events
    index = {}
    for e in bits(keep):
        index[e] = len(index)
    sub_events = []
    empty = frozenset()
    for e, i in index.items():
        x = ev[e]
        sub_events.append(Event(
            i, x.tid, x.kind, x.loc, x.value, x.tags,
            frozenset(index[d] for d in x.addr if d in index) if x.addr else empty,
            frozenset(index[d] for d in x.data if d in index) if x.data else empty,
            frozenset(index[d] for d in x.ctrl if d in index) if x.ctrl else empty,
            index.get(x.rmw) if x.rmw is not None else None))
    sub_rf = {index[r]: index[w] for r, w in g.rf.items() if r in index and w in index}
    sub_co = {}
    for loc, ws in g.co.items():
        kept = [index[w] for w in ws if w in index]
        if kept:
            sub_co[loc] = kept
    sub_threads = [[index[e] for e in evs if e in index] for evs in g.threads]
    return sub_events, sub_rf, sub_co, sub_threads


TAIL = 64     # _kept_local: co positions looked up in the last TAIL stores first


def _kept_local(g: Graph, new: list[int]) -> list[int] | None:
    """The events ``_kept_full`` keeps, for an engine graph without a grace period
    (``g.readers`` given), found from the new events outward: the cost follows the
    events near them, not the size of the graph.

    F, the events reachable from the new ones along po | rf | co | fr, is closed
    under successors. In each thread it is a suffix (po reaches every later event of
    the thread), and at each location a suffix of co (co reaches every later store):
    ``start`` and ``cstart`` say where those suffixes begin, so each event joins F
    once. Within F, an event reaches a new one along base edges exactly when it
    does along these local edges: po to the next event of its thread, co to the next
    store, rf, and fr to the store co-after the read's source (every later one is
    reached from there through po or co). An event on a path from a new event to a
    new event is in F, so the events of F that reach a new one are the old
    intersection of the forward and backward closures. None: that is the new events
    alone, and they form no cycle among themselves; then no cycle passes through a
    new event, and the graph is consistent as it was (the check need not run)."""
    ev = g.events
    threads = g.threads
    rf = g.rf
    co = g.co
    readers = g.readers
    start: dict = {}                 # tid -> first position of the thread's suffix in F
    cstart: dict = {}                # loc -> first index of its co suffix in F
    succs: dict[int, list[int]] = {}  # member -> its local successors (all members)
    # A store's index in its co list, by a dict built once per location and call
    # (list.index on every store of a long run made this walk quadratic: issue 14).
    # The walk mostly meets stores near the end of co: look there first.
    places: dict = {}

    def position(loc, w):
        at = places.get(loc)
        if at is None:
            order = co.get(loc)
            if order is None:
                return None
            tail = len(order) - TAIL
            if tail <= 0 or w in order[tail:]:
                try:
                    return order.index(w, max(tail, 0))
                except ValueError:
                    return None
            at = places[loc] = {x: i for i, x in enumerate(order)}
        return at.get(w)
    todo = list(new)
    while todo:
        e = todo.pop()
        if e in succs:
            continue
        out = succs[e] = []
        x = ev[e]
        tid = x.tid
        if tid >= 0:
            evs = threads[tid]
            p = bisect_left(evs, e)
            s0 = start.get(tid, len(evs))
            if p < s0:
                todo.extend(evs[p + 1:s0])
                start[tid] = p
            if p + 1 < len(evs):
                out.append(evs[p + 1])
        if x.kind == "W":
            order = co.get(x.loc)
            k = position(x.loc, e)                   # None: a floating RMW write has no co place
            if k is not None:
                c0 = cstart.get(x.loc, len(order))
                if k < c0:
                    todo.extend(order[k + 1:c0])
                    cstart[x.loc] = k
                if k + 1 < len(order):
                    out.append(order[k + 1])
            rs = readers.get(e)
            if rs:
                todo.extend(rs)
                out.extend(rs)
        elif x.kind == "R":
            w = rf.get(e)
            if w is not None:
                loc = ev[w].loc
                order = co.get(loc)
                k = position(loc, w)
                if k is not None:
                    k += 1
                    if k < len(order):
                        c0 = cstart.get(loc, len(order))
                        if k < c0:
                            todo.extend(order[k:c0])
                            cstart[loc] = k
                        out.append(order[k])
    pred: dict[int, list[int]] = {}
    for e, out in succs.items():
        for y in out:
            pred.setdefault(y, []).append(e)
    keep = set(new)
    todo = list(keep)
    while todo:
        for y in pred.get(todo.pop(), ()):
            if y not in keep:
                keep.add(y)
                todo.append(y)
    if len(keep) == len(new) and _acyclic_among(keep, succs):
        # No old event reaches a new one, and the new ones form no cycle among
        # themselves: no cycle passes through a new event, so no new violation.
        return None
    # fr is derived from rf and co: a kept read needs the store it read.
    for r in list(keep):
        w = rf.get(r)
        if w is not None:
            keep.add(w)
    return sorted(keep)


def _acyclic_among(nodes: set, succs: dict) -> bool:
    """Do the edges ``succs`` restricted to ``nodes`` (a few new events) form no cycle?"""
    indeg = dict.fromkeys(nodes, 0)
    for e in nodes:
        for y in succs.get(e, ()):
            if y in indeg:
                indeg[y] += 1
    todo = [e for e, d in indeg.items() if d == 0]
    done = 0
    while todo:
        e = todo.pop()
        done += 1
        for y in succs.get(e, ()):
            if y in indeg:
                indeg[y] -= 1
                if indeg[y] == 0:
                    todo.append(y)
    return done == len(nodes)


def _position(order: list[int] | None, w: int) -> int | None:
    """The index of ``w`` in a co list, None when it is not there. The stores a
    check keeps are mostly among the newest: the last ``TAIL`` first, as
    ``_kept_local`` does (a long run's co lists hold thousands of stores)."""
    if order is None:
        return None
    tail = len(order) - TAIL
    if tail > 0:
        try:
            return order.index(w, tail)
        except ValueError:
            pass
        try:
            return order.index(w, 0, tail)
        except ValueError:
            return None
    try:
        return order.index(w)
    except ValueError:
        return None


def _subgraph_local(g: Graph, kept: list[int]) -> tuple:
    """``_subgraph_full`` of the events ``kept`` (sorted), built from them alone."""
    ev = g.events
    index = {e: i for i, e in enumerate(kept)}
    sub_events = []
    empty = frozenset()
    sub_rf = {}
    stores: dict = {}
    sub_threads: list[list[int]] = [[] for _ in g.threads]
    size = len(kept)

    def local(deps: frozenset) -> frozenset:
        # dependency sets grow with a run (a counter's value depends on every read
        # before it): go through the smaller of the two
        if not deps:
            return empty
        if len(deps) > size:
            return frozenset(i for d, i in index.items() if d in deps)
        return frozenset(index[d] for d in deps if d in index)

    for e, i in index.items():
        x = ev[e]
        sub_events.append(Event(
            i, x.tid, x.kind, x.loc, x.value, x.tags, local(x.addr), local(x.data), local(x.ctrl),
            index.get(x.rmw) if x.rmw is not None else None))
        w = g.rf.get(e)
        if w is not None and w in index:
            sub_rf[i] = index[w]
        if x.kind == "W":
            stores.setdefault(x.loc, []).append(e)
        if x.tid >= 0:
            sub_threads[x.tid].append(i)
    sub_co = {}
    for loc, ws in stores.items():
        order = g.co.get(loc)
        if order is None:
            continue
        placed = sorted((k, w) for w in ws for k in (_position(order, w),) if k is not None)
        if placed:
            sub_co[loc] = [index[w] for _, w in placed]
    return sub_events, sub_rf, sub_co, sub_threads
