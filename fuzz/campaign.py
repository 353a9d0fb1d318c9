"""``vmafuzz campaign``: the fuzz campaign over every shipped variant.

Default budget, per variant: 1500 examples or 20 seconds of generation,
whichever ends first, times the square of the writer cycles of its default
scenario, then shrinking of a failure. A bug that needs a reader stalled across
several writer cycles (the wrap-around variants: 2 and 4 cycles) needs much
longer runs to be found, so its budget grows with the cycles. A holding variant spends it all
(20 s at the default); a violated one stops at its first failure. ``--max-examples`` and
``--seconds`` raise the budget. New failures are saved to the corpus (one
shorter than, or unlike, what it already holds).

A variant the fuzzer found nothing in (no violation, no race) is then checked by
the exhaustive explorer on the same scenario (``--exhaustive-states``, default
50,000 states; 0: fuzzing only). Some bugs need several preemptions at exact
steps that random bursts of thread steps essentially never produce (protocol C's
real use-after-free, ``C-foreign-mm-put``: five; the coverage-guided runs of
fuzz/guided.py find it, the explorer in about 12,000 states); a campaign is the
project's CI property check, and a violated
variant it let through for want of a second search would be a missed bug. The
table says which search found what: a finding of the explorer's is marked
``[explorer]``, saved to the corpus like a fuzzer's, and its ``--json`` object has
``"found_by": "explorer"`` and the explorer's own result under ``"exhaustive"``; a
``holds`` names both bounds (the examples fuzzed and the states explored).

Exit status 1 when a variant's result differs from its expected verdict
(a holding variant violated or raced, or a violated variant that escaped the
budget); 3 when none does but a variant has no verdict: its worker process died
(killed), or the memory bound (--max-memory, per process) stopped it before it
found anything. A variant expected to race (B-as-merged: "data race") meets it when a
data race was found, whether or not its runs also broke the invariant (both are
reported: the rule column then names both); such a variant spends its whole
budget unless a violation ends it, since a race never stops the search for one.

Parallel and multi-machine campaigns (issue 10):

* ``--workers N`` (default: every core this process may use) fuzzes N variants
  at once, each in a worker process of its own (``fuzz/parallel.py``). A variant
  is fuzzed exactly as with ``--workers 1``, in one process with its whole budget,
  so its verdict means the same: one variant's budget is never split between
  workers (Hypothesis's search in one run of 2n examples is not two runs of n).
  The longest-expected variants start first (the budget factor, whole for a
  variant expected to hold or race, a tenth for one expected to be violated,
  which stops at its first failure), so no long run is left for the end. Each
  worker saves its own findings to the corpus (``corpus.save`` is safe with many
  processes) and sends back a plain ``Outcome``.
* ``--shard K/N`` runs share K of N of the variant list: disjoint shares of about
  equal expected cost, computed from the variants' names and budgets alone, so
  every machine (or CI matrix job) given the same list and options computes the
  same split and together they run every variant exactly once.
* ``--database DIR`` or ``--database redis://HOST:PORT/DB`` shares Hypothesis's
  example database between workers and machines: a failure one machine found is
  replayed first by the next campaign anywhere. Each variant and scenario has its
  own part of it (a subfolder, or a key prefix), as in the default
  ``.hypothesis/vmafuzz/``. A seeded run and the ``ci`` profile never use an
  example database (a seed repeats its run; CI is derandomized), so
  ``--database`` with either is refused.

Output: one line per finished variant (on a terminal, also a live line naming
the running variants), then the table and a summary line; with ``--json``, one
JSON object per finished variant as it finishes, then one ``{"summary": ...}``
object. Ctrl-C stops the parent and every worker; what was found is saved, the
finished variants are tabled, exit 130.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from pathlib import Path

import attrs

from models import limits
from models.engine import ModelError
from models.protocol import ProtocolError
from models.scenario import Scenario
from models.variants import SHIPPED

from .cli import UsageError
from .exhaustive import check_variant
from .explore_cmd import add_scenario_arguments, scenario_from, variant_from
from .machine import PROFILE_CI, PROFILE_DEV, Recorder, database_dir, fuzz, result_from_recorder
from .oracle import DATA_RACE, matches_expected
from .parallel import Interrupted, Lost, Shard, run_all, shares, sigint_ignored, usable_cores
from .run_cmd import (Budget, add_fuzz_arguments, check_budget, fuzz_args, result_json, save_failure,
                      save_finding, save_race)

DEFAULT_EXAMPLES = 1500
DEFAULT_SECONDS = 20.0
# The explorer's pass after a fuzz run that found nothing: every shipped variant's
# default scenario is explored completely within it (C, the largest: 24,710 states).
EXHAUSTIVE_STATES = 50_000
# For ordering and sharding only: the share of its budget a variant expected to be
# violated is expected to use (it stops at its first failure; docs/benchmarks.md:
# 0.07 to 4.3 s median to the first failure against 20 s, then shrinking).
VIOLATED_SHARE = 0.1
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
LOST = "lost"            # the verdict column of a variant whose worker died
NO_VERDICT = "no verdict"   # ... of one stopped by the memory bound before it found anything


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("variants", nargs="*", metavar="VARIANT",
                   help="only these variants, shipped or FILE.py:NAME (default: every shipped one)")
    add_fuzz_arguments(p, max_examples=DEFAULT_EXAMPLES, seconds=DEFAULT_SECONDS)
    add_scenario_arguments(p)
    g = p.add_argument_group("parallel and multi-machine campaigns")
    g.add_argument("--workers", type=int, metavar="N",
                   help=f"variants fuzzed at once, one process each (default: the usable cores, "
                   f"{usable_cores()} here); 1: in this process")
    g.add_argument("--shard", metavar="K/N",
                   help="run only share K of N of the variants (disjoint shares of about equal "
                   "budget, the same on every machine): split a campaign over machines or CI jobs")
    g.add_argument("--database", metavar="DIR|redis://HOST:PORT/DB",
                   help="Hypothesis's example database, shared by workers and machines: a directory, "
                   "or a Redis server (needs the redis package: pip install 'vmafuzz[redis]'); "
                   "default: .hypothesis/vmafuzz/ of the current folder")
    p.add_argument("--exhaustive-states", type=int, default=EXHAUSTIVE_STATES, metavar="N",
                   help=f"after a fuzz run that found nothing, explore the same scenario exhaustively "
                   f"up to N states (default {EXHAUSTIVE_STATES}; 0: fuzzing only)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per variant as it finishes, then one {\"summary\": ...}")
    p.epilog = ("Each variant's budget is --max-examples examples or --seconds of generation, "
                "whichever ends first, times the square of the writer cycles (x writers) of its "
                "default scenario: a stalled reader across many cycles is rarer.")


# ---------------------------------------------------------------- records

@attrs.frozen(slots=True)
class Task:
    """One variant's fuzz run: plain values a worker process is sent."""

    spec: str                  # a shipped name or FILE.py:NAME, resolved again in the worker
    scenario: Scenario
    budget: Budget             # already grown by the budget factor
    database: str | None       # --database (a directory or a Redis URL); None: the default
    max_memory: float | None = None     # the command's limits (models/limits.py), per process
    step_seconds: float | None = None
    exhaustive_states: int = 0          # the explorer's pass after a fuzz run that found nothing


@attrs.frozen(slots=True)
class Outcome:
    """What the table and --json show of one variant's run (a worker's answer)."""

    variant: str
    expected: str
    verdict: str               # FuzzResult.verdict, or LOST (its worker died)
    matches: bool
    examples: int              # to the first finding, or all of them
    seconds_to_first: float | None
    shrunk: int | None
    rule: str                  # the table's column: broken rule(s), or what a "holds" covers
    seconds: float
    corpus_file: str | None    # a new corpus file saved by this run
    interrupted: bool = False
    error: str | None = None   # one line: the variant's protocol could not run
    # what stopped an interrupted run when it was not Ctrl-C: a KeyboardInterrupt
    # subclass with a meaning of its own (a limit), raised again by the campaign
    stopped: BaseException | None = attrs.field(default=None, eq=False)
    report: dict = attrs.field(factory=dict, eq=False)     # the --json object


def budget_factor(scenario: Scenario) -> int:
    # A reader stalled across c writer cycles gets rarer about geometrically in c;
    # the square keeps the wrap-around variants (2 and 4 cycles) caught reliably
    # (A-narrow-seq once escaped 3,000 examples with a linear budget) while a
    # one-cycle variant's budget is unchanged. A violated variant stops at its first
    # failure, so the larger budget is only spent when something escapes.
    return (scenario.cycles * scenario.writers) ** 2


def expected_cost(variant: type, scenario: Scenario) -> float:
    """The budget a variant is expected to use, in budget units (for order and shards)."""
    return budget_factor(scenario) * (VIOLATED_SHARE if variant.expected == "violated" else 1.0)


# ---------------------------------------------------------------- one variant

def fuzz_variant(task: Task) -> Outcome:
    """Fuzz one variant, save its findings, and answer in plain values. Runs in a
    worker process or in the campaign's own, under the command's limits
    (``models/limits.py``: in a worker, its own watchdog, so --max-memory bounds
    each worker process). Ctrl-C: what was found so far is saved and returned
    (``interrupted``). The memory bound: what was found is saved and stands; with
    nothing found the variant has no verdict, and the campaign goes on."""
    if multiprocessing.parent_process() is not None:
        # A worker: the campaign's own process prints the progress of them all.
        limits.PROGRESS_SECONDS = math.inf
    with limits.guarded(task.max_memory, task.step_seconds):
        return _fuzz_variant(task)


def _fuzz_variant(task: Task) -> Outcome:
    cut = None
    try:
        variant = variant_from(task.spec)
        rec = Recorder()
        interrupted = False
        stopped = None
        try:
            result = _fuzz(task, variant, rec)
        except limits.EndlessStep as exc:       # the protocol's fault: exit 2, where it was
            from models.registry import user_frame
            where = user_frame(exc)
            return _error(task, f"{where[0]}:{where[1]}: {exc.message}" if where else exc.message)
        except limits.OutOfMemory as exc:
            cut = exc.message
            result = result_from_recorder(variant, task.scenario, rec)
        except KeyboardInterrupt as exc:
            interrupted = True
            stopped = None if type(exc) is KeyboardInterrupt else exc
            result = result_from_recorder(variant, task.scenario, rec)
        with sigint_ignored():            # a second Ctrl-C must not cut a save short
            corpus_file, new = save_failure(task.budget, variant, result)
            race_file, race_new = save_race(task.budget, variant, result)
    except UsageError as exc:
        return _error(task, str(exc))
    except (ModelError, ProtocolError) as exc:
        from .cli import user_error
        return _error(task, user_error(exc))
    except Exception as exc:
        if _redis_error(exc):
            return _error(task, f"the example database {shown_url(task.database)}: {exc}")
        from models.registry import user_frame
        if user_frame(exc) is None:
            raise
        from .cli import user_error
        return _error(task, user_error(exc))
    if not interrupted and cut is None and result.failure is None and result.race is None \
            and task.exhaustive_states > 0:
        try:
            checked = _exhaustive(task, variant, result)
        except limits.OutOfMemory as exc:
            checked = None
            cut = exc.message
        except KeyboardInterrupt as exc:
            checked = None
            interrupted = True
            stopped = None if type(exc) is KeyboardInterrupt else exc
        if checked is not None:
            return checked
    ok = matches_expected(variant.expected, result.verdict, result.race is not None)
    report = result_json(result, corpus_file, interrupted or cut is not None, race_file, variant)
    report.update(expected=variant.expected, matches=ok)
    r = result
    if cut is not None:
        report["stopped"] = cut
        if r.failure is None and r.race is None:       # nothing found: no verdict
            report.update(verdict=NO_VERDICT, matches=False)
            return Outcome(variant.name, variant.expected, NO_VERDICT, False, r.examples, None, None, cut,
                           r.seconds, None, report=report)
    # a variant that only raced: when its race was first seen, and its shrunk length
    to_first = r.seconds_to_first if r.failure else r.seconds_to_first_race if r.race else None
    steps = r.shrunk_steps if r.failure else r.race.steps if r.race else None
    rule = r.failure.violation.rule if r.failure else ""
    if r.race is not None:
        rule = f"{rule} + {DATA_RACE}" if rule else DATA_RACE
    if r.verdict == "holds":
        rule = r.bound(variant)          # a holds names what it covers
    return Outcome(variant.name, variant.expected, r.verdict, ok,
                   r.examples_to_first if r.examples_to_first is not None else r.examples,
                   to_first, steps, rule, r.seconds,
                   (corpus_file if new else None) or (race_file if race_new else None),
                   interrupted, stopped=stopped, report=report)


def _exhaustive(task: Task, variant: type, result) -> Outcome:
    """The explorer's pass over the scenario the fuzzer found nothing in: its
    finding (saved to the corpus) or a holds that names both searches."""
    t0 = time.perf_counter()
    check = check_variant(variant, task.scenario, max_states=task.exhaustive_states)
    seconds = result.seconds + (time.perf_counter() - t0)
    fuzzed = result.bound(variant)
    report = result_json(result, None, False, None, variant)
    report["exhaustive"] = check.to_json()
    if check.verdict == "violated" or check.race is not None:
        finding = check.violation if check.violation is not None else check.race
        ex = check.execution if check.violation is not None else check.race_execution
        corpus_file, new = save_finding(task.budget, variant, task.scenario, finding, ex,
                                        "found by vmafuzz campaign's exhaustive pass")
        raced = check.race is not None
        verdict = "violated" if check.violation is not None else result.verdict
        ok = matches_expected(variant.expected, verdict, raced)
        rule = check.violation.rule if check.violation is not None else ""
        if raced:
            rule = f"{rule} + {DATA_RACE}" if rule else DATA_RACE
        steps = ex.steps
        report.update(verdict=verdict, rule=rule, found_by="explorer", expected=variant.expected,
                      matches=ok, corpus_file=corpus_file, shrunk_steps=steps)
        rule += f" [explorer, {check.stats.states} states; the fuzzer found nothing in {result.examples} examples]"
        return Outcome(variant.name, variant.expected, verdict, ok, result.examples, None, steps,
                       rule, seconds, corpus_file if new else None, report=report)
    if check.verdict == "incomplete":
        covered = f"{fuzzed}; exhaustive search stopped after {check.stats.states} states"
    else:
        covered = f"{fuzzed}; {check.bound()}"
    ok = matches_expected(variant.expected, result.verdict, False)
    report.update(expected=variant.expected, matches=ok, found_by=None)
    return Outcome(variant.name, variant.expected, result.verdict, ok, result.examples, None, None,
                   covered, seconds, None, report=report)


def _error(task: Task, message: str) -> Outcome:
    return Outcome(task.spec, "", "error", False, 0, None, None, "", 0.0, None, error=message)


def _fuzz(task: Task, variant: type, rec: Recorder):
    b = task.budget
    if task.database is None:
        return fuzz_args(b, variant, task.scenario, rec)
    # --database is refused with --seed and the ci profile (run() checks): the
    # database is read and written, as the default one is in an unseeded dev run.
    return fuzz(variant, task.scenario, max_examples=b.max_examples, seconds=b.seconds, seed=b.seed,
                max_steps=b.steps, max_burst=b.burst, profile=PROFILE_CI if b.profile == "ci" else PROFILE_DEV,
                database=open_database(task.database, variant, task.scenario), recorder=rec,
                guided=b.guided)


# ---------------------------------------------------------------- the example database

def is_redis(url: str) -> bool:
    return url.startswith(REDIS_SCHEMES)


def open_database(url: str, variant: type, scenario: Scenario):
    """The part of a shared example database for one variant and scenario (the
    same key as the default per-folder database: Hypothesis keys every stateful
    run of ours alike, so one store for all would replay one variant's failures
    against another)."""
    key = Path(database_dir(variant, scenario)).name
    if not is_redis(url):
        return str(Path(url) / key)
    import redis
    from hypothesis.extra.redis import RedisExampleDatabase
    client = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=60)
    return RedisExampleDatabase(client, key_prefix=f"vmafuzz:{key}:".encode())


def check_database(url: str, budget: Budget) -> None:
    """Bad --database: one line (UsageError), before any run."""
    if budget.seed is not None or budget.profile == "ci":
        raise UsageError(f"--database {url}: a {'seeded run' if budget.seed is not None else 'ci-profile run'} "
                         "uses no example database (it would not repeat); drop one of the two")
    if not is_redis(url):
        if "://" in url:
            raise UsageError(f"--database {url}: not a directory or a redis:// URL")
        if Path(url).exists() and not Path(url).is_dir():
            raise UsageError(f"--database {url}: not a directory")
        return
    try:
        import redis
    except ImportError:
        raise UsageError(f"--database {url}: needs the redis package (pip install 'vmafuzz[redis]')") from None
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5).ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        raise UsageError(f"cannot reach the example database {shown_url(url)}: {exc}") from None


def shown_url(url: str) -> str:
    """The URL as printed: a password in it is not."""
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()
    except ValueError:
        return url


def _redis_error(exc: Exception) -> bool:
    mod = sys.modules.get("redis")
    return mod is not None and isinstance(exc, mod.RedisError)


# ---------------------------------------------------------------- the campaign

def run(args) -> int:
    budget = check_budget(args)
    workers = usable_cores() if args.workers is None else args.workers
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, not {workers}")
    if args.exhaustive_states < 0:
        raise UsageError(f"--exhaustive-states must be 0 or more, not {args.exhaustive_states}")
    try:
        shard = Shard.parse(args.shard) if args.shard is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.database is not None:
        check_database(args.database, budget)
    specs = list(args.variants) or [v.name for v in SHIPPED]
    variants = [variant_from(n) for n in specs]
    scenarios = [scenario_from(args, v) for v in variants]      # bad options: exit 2 before any run
    tasks = []
    for spec, sc in zip(specs, scenarios):
        factor = budget_factor(sc)
        grown = attrs.evolve(budget, max_examples=budget.max_examples * factor,
                             seconds=budget.seconds * factor if budget.seconds else None)
        tasks.append(Task(spec, sc, grown, args.database, getattr(args, "max_memory", None),
                          getattr(args, "step_seconds", None), args.exhaustive_states))
    costs = [expected_cost(v, sc) for v, sc in zip(variants, scenarios)]
    chosen = list(range(len(tasks)))
    if shard is not None:
        chosen = sorted(shares([v.name for v in variants], costs, shard.n)[shard.k - 1])
    workers = min(workers, len(chosen)) or 1
    progress = _Progress(len(chosen), [variants[i].name for i in range(len(tasks))],
                         live=sys.stdout.isatty() and not args.json, json_lines=args.json)
    outcomes: dict[int, Outcome] = {}

    def finished(i: int, out) -> None:
        if isinstance(out, Lost):
            v = variants[i]
            why = f"its worker process died (exit code {out.exitcode})"
            out = Outcome(v.name, v.expected, LOST, False, 0, None, None, why, 0.0, None,
                          report={"variant": v.name, "verdict": LOST, "rule": None, "lost": why,
                                  "expected": v.expected, "matches": False})
        if out.error is not None:
            raise UsageError(out.error)
        if out.interrupted:
            progress.interrupted.append(out)
            raise out.stopped or KeyboardInterrupt()
        outcomes[i] = out
        progress.done(i, out)

    order = sorted(chosen, key=lambda i: (-costs[i], i))    # the longest expected first
    try:
        with limits.working(progress.describe):
            _run(tasks, chosen, order, workers, progress, finished)
    except Interrupted as exc:
        # what the workers reported while they were being stopped
        for j, out in exc.results:
            if not isinstance(out, Outcome) or out.error is not None:
                continue
            if out.interrupted and out not in progress.interrupted:
                progress.interrupted.append(out)
            elif not out.interrupted and order[j] not in outcomes:
                outcomes[order[j]] = out      # it finished while the others stopped
                progress.done(order[j], out)
        _finish(progress, outcomes, chosen, workers, shard, args, interrupted=True)
        raise exc.cause from None        # Ctrl-C, or what else stopped the campaign
    except KeyboardInterrupt:
        _finish(progress, outcomes, chosen, workers, shard, args, interrupted=True)
        raise
    return _finish(progress, outcomes, chosen, workers, shard, args)


def _run(tasks: list, chosen: list, order: list, workers: int, progress: "_Progress", finished) -> None:
    if workers == 1:
        for i in chosen:           # in the order given: one process, nothing to balance
            progress.start(i)
            finished(i, fuzz_variant(tasks[i]))
    else:
        run_all(fuzz_variant, [tasks[i] for i in order], workers,
                on_start=lambda j: progress.start(order[j]),
                on_done=lambda j, out: finished(order[j], out), on_tick=progress.draw)


def _finish(progress: "_Progress", outcomes: dict, chosen: list, workers: int, shard, args,
            interrupted: bool = False) -> int:
    progress.clear()
    rows = [outcomes[i] for i in chosen if i in outcomes]        # the table in the variants' order
    lost = [o.variant for o in rows if o.verdict in (LOST, NO_VERDICT)]
    mismatches = sum(not o.matches for o in rows) - len(lost)
    new = sum(1 for o in rows + progress.interrupted if o.corpus_file)
    seconds = time.perf_counter() - progress.t0
    for o in progress.interrupted:
        if args.json:
            print(json.dumps(o.report))
    if args.json:
        print(json.dumps({"summary": {
            "variants": len(rows), "as_expected": len(rows) - mismatches - len(lost),
            "not_as_expected": mismatches,
            "not_as_expected_variants": [o.variant for o in rows if not o.matches and o.variant not in lost],
            "no_verdict_variants": lost,
            "new_corpus_files": new, "seconds": round(seconds, 3), "workers": workers,
            "shard": None if shard is None else str(shard), "interrupted": interrupted,
            "interrupted_variants": [o.variant for o in progress.interrupted]}}))
    else:
        _table(rows)
        for o in progress.interrupted:
            saved = f"; saved {o.report.get('corpus_file')}" if o.report.get("corpus_file") else ""
            print(f"{o.variant}: interrupted after {o.seconds:.0f} s ({o.verdict} so far{saved})")
        print(f"{len(rows)} variants in {seconds:.0f} s on {workers} worker{'s' if workers > 1 else ''}"
              + (f" (shard {shard})" if shard else "") + "; budget per variant: "
              f"{args.max_examples} examples" + (f" or {args.seconds:g} s" if args.seconds else "")
              + f" (x cycles squared); {new} new corpus files; "
              + ("interrupted" if interrupted else "all as expected" if not mismatches and not lost
                 else f"{mismatches} NOT as expected" if mismatches
                 else f"no verdict for {', '.join(lost)}"))
    sys.stdout.flush()
    # a mismatch is a finding (1); a variant whose worker died has no verdict (3)
    return 1 if mismatches else 3 if lost else 0


class _Progress:
    """One line per finished variant (any stdout; not with --json, whose objects are
    the lines), and on a terminal a live line naming the running variants."""

    def __init__(self, total: int, names: list[str], live: bool, json_lines: bool):
        self.total = total
        self.names = names
        self.live = live
        self.json_lines = json_lines
        self.running: list[int] = []
        self.finished = 0
        self.t0 = time.perf_counter()
        self.interrupted: list[Outcome] = []

    def start(self, i: int) -> None:
        self.running.append(i)
        self.draw()

    def done(self, i: int, o: Outcome) -> None:
        self.finished += 1
        if i in self.running:
            self.running.remove(i)
        self.clear()
        if self.json_lines:
            print(json.dumps(o.report))
        else:
            print(f"[{self.finished}/{self.total}] {o.variant}: {o.verdict}"
                  f"{'' if o.matches else ' (NOT as expected)'} after {time.perf_counter() - self.t0:.0f} s")
        sys.stdout.flush()
        self.draw()

    def describe(self) -> str:
        """For the progress line of long work (models/limits.py)."""
        running = ", ".join(self.names[i] for i in self.running)
        return f"{self.finished}/{self.total} variants done" + (f", running {running}" if running else "")

    def draw(self) -> None:
        if not self.live or not self.running:
            return
        names = ", ".join(self.names[i] for i in self.running)
        sys.stdout.write(f"\r\x1b[K[{self.finished}/{self.total}] running {names} "
                         f"({time.perf_counter() - self.t0:.0f} s)")
        sys.stdout.flush()

    def clear(self) -> None:
        if self.live:
            sys.stdout.write("\r\x1b[K")
            sys.stdout.flush()


def _table(rows: list[Outcome]) -> None:
    print(f"{'variant':<22} {'expected':<9} {'result':<9} {'examples':>8} {'s to 1st':>8} "
          f"{'shrunk':>6}  rule")
    for o in rows:
        first = f"{o.seconds_to_first:.2f}" if o.seconds_to_first is not None else "-"
        shrunk = str(o.shrunk) if o.shrunk is not None else "-"
        mark = "" if o.matches else "   <-- NOT AS EXPECTED"
        print(f"{o.variant:<22} {o.expected:<9} {o.verdict:<9} {o.examples:>8} {first:>8} "
              f"{shrunk:>6}  {o.rule}{mark}")
