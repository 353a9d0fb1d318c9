"""The Linux Kernel Memory Model, as one consistency check over an execution graph.

This module is vmafuzz's counterpart of ``tools/memory-model/linux-kernel.cat``
(with ``lock.cat`` and ``linux-kernel.bell``). Every relation below keeps the
LKMM's name; every axiom cites the litmus tests in
``../shared/litmus/kernel/`` that need it. ``check()`` answers one question:
is this (partial) execution allowed? The engine asks it for every candidate
``rf`` edge and every candidate ``co`` position, so what a load may read and
where a store may land are decided here and nowhere else.

Relations are bit sets: ``rel[i]`` is an int whose bit ``j`` says ``i rel j``.
Sets of events are ints too. ``n`` events are numbered by ``eid``.

How a graph is made (see ``engine.py``): events are added in an interleaving,
each thread in program order, and a load reads only from a store that already
exists. So ``po | rf`` is always acyclic: load buffering (``LB+poonceonces``)
is the one LKMM behaviour the engine does not produce (docs/memory-model.md).
"""

from __future__ import annotations

from typing import Sequence

from .events import ACQUIRE, LKR, LKW, NORETURN, PLAIN, RELEASE, UL, Event


# --------------------------------------------------------------------------
# Relation algebra on bit sets
# --------------------------------------------------------------------------

def bits(x: int):
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low


def compose(a: list[int], b: list[int]) -> list[int]:
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
    return [_or(xs) for xs in zip(*rels)]


def _or(xs) -> int:
    acc = 0
    for x in xs:
        acc |= x
    return acc


def restrict(a: list[int], dom: int = -1, rng: int = -1) -> list[int]:
    return [(row & rng) if (dom >> i) & 1 else 0 for i, row in enumerate(a)]


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


# --------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------

class Graph:
    """What the check needs to know: events, rf (read -> write), co (per location)."""

    __slots__ = ("events", "rf", "co", "threads")

    def __init__(self, events: Sequence[Event], rf: dict[int, int],
                 co: dict, threads: Sequence[Sequence[int]]):
        self.events = events
        self.rf = rf
        self.co = co
        self.threads = threads


def check(g: Graph) -> str | None:
    """Return None when the execution is LKMM-consistent, else the name of the broken axiom."""
    ev = g.events
    n = len(ev)
    rng = range(n)

    # ---- sets of events (linux-kernel.bell, lock.cat) ----
    R = W = F = Marked = Acquire = Release = R4rmb = RMW = LKWs = 0
    fence_of: dict[str, int] = {}
    for e in ev:
        b = 1 << e.eid
        t = e.tags
        if e.kind == "R":
            R |= b
            if NORETURN not in t:
                R4rmb |= b
            if ACQUIRE in t or LKR in t:       # lock.cat: Acquire = Acquire | LKR
                Acquire |= b
        elif e.kind == "W":
            W |= b
            if RELEASE in t or UL in t:        # lock.cat: Release = Release | UL
                Release |= b
            if LKW in t:
                LKWs |= b
            if e.rmw is not None:
                RMW |= b | (1 << e.rmw)
        else:
            F |= b
            for k in t:
                fence_of[k] = fence_of.get(k, 0) | b
        if PLAIN not in t:                     # bell: Marked = ~M | IW | annotated accesses
            Marked |= b
    M = R | W

    # ---- program order, locations, threads ----
    po = [0] * n
    pre = [0] * n          # events po-before
    thread_mask = [1 << i for i in rng]   # int: same thread (IW: only itself)
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
    loc_mask: dict = {}
    for e in ev:
        if e.loc is not None:
            loc_mask[e.loc] = loc_mask.get(e.loc, 0) | (1 << e.eid)
    po_loc = [po[i] & loc_mask[ev[i].loc] if ev[i].loc is not None else 0 for i in rng]

    # ---- rf, co, fr ----
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

    def ext_of(rel):
        return [row & ~thread_mask[i] for i, row in enumerate(rel)]

    def int_of(rel):
        return [row & thread_mask[i] for i, row in enumerate(rel)]

    rfe = ext_of(rf)
    rfi = int_of(rf)

    # Coherence (sequential consistency per variable): acyclic po-loc | com.
    # Forces CoRR, CoRW, CoWR, CoWW (+poonceonce+Once) to be Never.
    com = union(rf, co, fr)
    if not acyclic(union(po_loc, com)):
        return "coherence"

    # Atomicity: empty rmw & (fre ; coe). An RMW's write is co-immediately after the
    # store its read took. Needed by every lock test (lock.cat makes spin_lock an RMW).
    for e in ev:
        if e.rmw is not None and e.rmw in g.rf:
            src = g.rf[e.rmw]
            between = co[src] & ~co[e.eid] & ~(1 << e.eid)
            if between:
                return "atomic"

    # ---- dependencies ----
    addr = [0] * n
    data = [0] * n
    ctrl = [0] * n
    for e in ev:
        b = 1 << e.eid
        for r in e.addr:
            addr[r] |= b
        for r in e.data:
            data[r] |= b
        for r in e.ctrl:
            ctrl[r] |= b
    dep = union(addr, data)

    # ---- fences (linux-kernel.cat "Fences") ----
    def fencerel(kind: str) -> list[int]:
        out = [0] * n
        for f in bits(fence_of.get(kind, 0)):
            after = po[f]
            for a in bits(pre[f]):
                out[a] |= after
        return out

    acq_po = [po[i] & M if (Acquire >> i) & 1 else 0 for i in rng]
    po_rel = [po[i] & Release if (M >> i) & 1 else 0 for i in rng]
    # po-unlock-lock-po = po ; [UL] ; (po | rf) ; [LKR] ; po. An unlock followed by a
    # lock acquisition, either on the same CPU (po, any lock: MP+unlocklockonceonce+
    # fencermbonceonce needs this across two different locks) or reading the unlock
    # (rf: MP+polocks, ISA2+pooncelock+pooncelock+pombonce), orders what precedes the
    # unlock before what follows the lock. (linux-kernel.cat since the "(po|rf)" change;
    # the older po-unlock-rf-lock-po had rf only and lets that MP test through.)
    po_unlock_lock_po = [0] * n
    LKRs = 0
    for e in ev:
        if LKR in e.tags:
            LKRs |= 1 << e.eid
    if LKRs:
        for e in ev:
            if UL in e.tags:
                after = 0
                for lk in bits((rf[e.eid] | po[e.eid]) & LKRs):
                    after |= po[lk]
                if after:
                    for a in bits(pre[e.eid]):
                        po_unlock_lock_po[a] |= after

    rmb = restrict(fencerel("rmb"), R4rmb, R4rmb)          # MP+fencewmbonceonce+fencermbonceonce
    wmb = restrict(fencerel("wmb"), W, W)
    mb = restrict(fencerel("mb"), M, M)                     # SB+fencembonceonces, R+fencembonceonces
    # smp_mb__before_atomic / smp_mb__after_atomic order against the RMW they annotate.
    for f in bits(fence_of.get("before-atomic", 0)):
        first = po[f] & RMW
        if first:
            e = (first & -first).bit_length() - 1
            tgt = ((1 << e) | po[e]) & M
            for a in bits(pre[f] & M):
                mb[a] |= tgt
    def full_fence_after(kind: str, kinds_before: int) -> None:
        """[M] ; po? ; [X] ; fencerel(kind) ; [M]: the last X event before the fence,
        and everything before it, against everything after the fence."""
        for f in bits(fence_of.get(kind, 0)):
            last = pre[f] & kinds_before
            if last:
                e = last.bit_length() - 1
                tgt = po[f] & M
                for a in bits(((1 << e) | pre[e]) & M):
                    mb[a] |= tgt

    full_fence_after("after-atomic", RMW)
    # smp_mb__after_spinlock: the lock acquisition and everything before it, against
    # everything after (Z6.0+pooncelock+poonceLock+pombonce, MP+polockmbonce+poacquiresilsil).
    full_fence_after("after-spinlock", LKWs)
    # smp_mb__after_unlock_lock: an unlock followed (in co or po) by this lock.
    for f in bits(fence_of.get("after-unlock-lock", 0)):
        tgt = po[f] & M
        for k in bits(pre[f] & LKWs):
            for e in ev:
                if UL in e.tags and ((co[e.eid] >> k) & 1 or (po[e.eid] >> k) & 1):
                    for a in bits(pre[e.eid] & M):
                        mb[a] |= tgt
    # gp = po ; [Sync-rcu] ; po?   (a grace period is a strong fence too)
    gp = [0] * n
    for s in bits(fence_of.get("sync-rcu", 0)):
        tgt = po[s] | (1 << s)
        for a in bits(pre[s]):
            gp[a] |= tgt
    strong_fence = union(mb, gp)
    nonrw_fence = union(strong_fence, po_rel, acq_po)
    fence = union(nonrw_fence, wmb, rmb)

    # ---- preserved program order ----
    rwdep = restrict(union(dep, ctrl), rng=W)               # LB+fencembonceonce+ctrlonceonce
    overwrite = union(co, fr)
    Plain = M & ~Marked
    to_w = union(rwdep, int_of(overwrite), compose(restrict(addr, rng=Plain), wmb))
    to_r = union(addr, compose(restrict(dep, rng=Marked), rfi))   # MP+onceassign+derefonce
    ppo = union(to_r, to_w, fence, int_of(po_unlock_lock_po))

    # ---- propagation ----
    # A-cumul: release and strong fences are cumulative over stores read before them
    # (WRC+pooncerelease+fencermbonceonce+Once, ISA2+pooncerelease+poacquirerelease+poacquireonce).
    sf_rel = union(strong_fence, po_rel)
    a_cumul = union(sf_rel, compose(restrict(rfe, rng=Marked), sf_rel))
    cumul_fence = restrict(union(a_cumul, wmb, po_unlock_lock_po), Marked, Marked)
    # cumul-fence ends in "; rmw-sequence", rmw-sequence = (rf ; rmw)*: a fence that
    # orders a store also orders the RMWs that read it, in a chain (linux-kernel.cat since
    # v6.3; without it a fully ordered RMW can order less than a release, the
    # "atomics-not-monotonic" tests of that change).
    if RMW:
        rf_rmw = [0] * n
        for e in ev:
            if e.rmw is not None and e.rmw in g.rf:
                rf_rmw[g.rf[e.rmw]] |= 1 << e.eid
        if any(rf_rmw):
            cumul_fence = compose(cumul_fence, star(rf_rmw))
    overwrite_ext = ext_of(overwrite)
    step1 = restrict(opt(overwrite_ext), Marked)
    step2 = restrict(compose(step1, star(cumul_fence)), rng=Marked)
    prop = restrict(compose(step2, opt(rfe)), rng=Marked)

    # Happens-before: acyclic (MP+pooncerelease+poacquireonce, S+fencewmbonceonce+poacquireonce).
    prop_int_noid = [row & thread_mask[i] & ~(1 << i) for i, row in enumerate(prop)]
    hb = restrict(union(ppo, rfe, prop_int_noid), Marked, Marked)
    if not acyclic(hb):
        return "happens-before"

    # Propagation: each non-rf link needs a strong fence (SB+fencembonceonces,
    # IRIW+fencembonceonces+OnceOnce, R+fencembonceonces, Z6.0+...+pombonce).
    hb_star = star(hb)
    pb = restrict(compose(compose(prop, strong_fence), hb_star), rng=Marked)
    if not acyclic(pb):
        return "propagation"

    # ---- RCU (the grace-period guarantee) ----
    rcu = _rcu_check(g, n, po, prop, hb_star, pb)
    if rcu is not None:
        return rcu
    return None


def check_extension(g: Graph, new: list[int], cache: dict | None = None) -> str | None:
    """``check(g)`` for a graph whose events other than ``new`` already form a
    consistent execution (the engine's situation for every candidate choice).

    Every axiom is an acyclicity or irreflexivity condition, and each derived edge
    is witnessed by a path of base edges (po, rf, co, fr). So a new violation is a
    cycle through a new event, and every event on it is both reachable from and
    reaching the new events along base edges. Checking the subgraph induced by
    those events is therefore exact, and usually far smaller. Two cases use the
    whole graph: RCU (rcu-rscs^-1 runs against po) when there is a grace period,
    and atomicity, which is not a cycle condition.
    """
    ev = g.events
    n = len(ev)
    for e in ev:
        if e.kind == "F" and "sync-rcu" in e.tags:
            return check(g)
    for e in new:
        w = ev[e]
        if w.rmw is not None and w.rmw in g.rf:
            order = g.co[w.loc]
            src = g.rf[w.rmw]
            if order.index(w.eid) != order.index(src) + 1:
                return "atomic"
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
    # fr is derived from rf and co: a kept read needs the store it read.
    for r in bits(keep):
        w = g.rf.get(r)
        if w is not None:
            keep |= 1 << w
    if keep == (1 << n) - 1:
        return check(g)
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


def _rcu_check(g: Graph, n: int, po: list[int], prop, hb_star, pb) -> str | None:
    """irreflexive rb as rcu. Open read-side critical sections end at a virtual
    unlock after the thread's last event, which is exactly where the unlock would
    be if it came next."""
    ev = g.events
    gps = 0
    pairs: list[tuple[int, int]] = []       # (lock, unlock) ; unlock may be virtual
    virtual_po: list[tuple[int, int]] = []  # (thread events mask, virtual node)
    nv = n
    for evs in g.threads:
        stack: list[int] = []
        for e in evs:
            t = ev[e].tags
            if ev[e].kind != "F":
                continue
            if "rcu-lock" in t:
                stack.append(e)
            elif "rcu-unlock" in t and stack:
                pairs.append((stack.pop(), e))
            elif "sync-rcu" in t:
                gps |= 1 << e
        if stack:
            mask = 0
            for e in evs:
                mask |= 1 << e
            for lk in stack:
                pairs.append((lk, nv))
                virtual_po.append((mask, nv))
                nv += 1
    if not gps or not pairs:
        return None   # rb needs both a grace period and a critical section

    size = nv
    pad = [0] * (size - n)
    po_x = po + pad
    for mask, v in virtual_po:
        for e in bits(mask):
            po_x[e] |= 1 << v
    prop_x = prop + pad
    hb_x = hb_star + pad
    for v in range(n, size):
        hb_x[v] = 1 << v
    pb_star = star(pb) + [1 << v for v in range(n, size)]

    rcu_gp = [0] * size
    for s in bits(gps):
        rcu_gp[s] = 1 << s
    rscsi = [0] * size
    for lk, un in pairs:
        rscsi[un] |= 1 << lk
    # rcu-link = po? ; hb* ; pb* ; prop ; po
    rcu_link = compose(compose(compose(compose(opt(po_x), hb_x), pb_star), prop_x), po_x)
    # rcu-fence: sequences with at least as many grace periods as critical sections.
    gp_link = compose(rcu_gp, rcu_link)
    rs_link = compose(rscsi, rcu_link)
    fence = union(rcu_gp, compose(gp_link, rscsi), compose(rs_link, rcu_gp))
    while True:
        fl = compose(fence, rcu_link)
        nxt = union(
            fence,
            compose(compose(gp_link, fl), rscsi),
            compose(compose(rs_link, fl), rcu_gp),
            compose(fl, fence),
        )
        if nxt == fence:
            break
        fence = nxt
    # rb = prop ; po ; rcu-fence ; po? ; hb* ; pb* ; [Marked]   -- irreflexive
    rb = compose(compose(compose(compose(compose(prop_x, po_x), fence), opt(po_x)), hb_x), pb_star)
    for i in range(n):
        if (rb[i] >> i) & 1 and PLAIN not in ev[i].tags:
            return "rcu"
    return None
