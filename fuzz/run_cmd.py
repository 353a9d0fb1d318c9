"""``vmafuzz run VARIANT``: fuzz one variant with the Hypothesis state machine.

On a violation the run is shrunk, printed (trace and violation report) and
saved to the corpus (unless it already has a trace as short of the same bug,
see ``corpus.as_short_in_corpus``); exit 1. A data race is a finding of its own
(rule "data race"): its shortest run is shrunk, printed with both accesses and
saved the same way, after the violation when the runs also broke the invariant;
exit 1. When the invariant held: exit 0 with the number of
examples and steps run. When no lookup ever finished (``--steps`` too small),
nothing was checked: exit 3, "no verdict". Ctrl-C stops, keeps and saves what
was found, exit 130.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import attrs
from hypothesis import __version__ as hypothesis_version

from models import limits
from models.scenario import count

from .cli import UsageError
from .corpus import CorpusError, as_short_in_corpus, entry_for, save
from .explore_cmd import add_scenario_arguments, check_protocol, scenario_fixed, scenario_from, variant_from
from .graph import add_counterexample_arguments, check_graph_option, counterexample_files
from .machine import (DEFAULT_BURST, PROFILE_CI, PROFILE_DEV, FuzzResult, Recorder, Sizes,
                      database_dir, fuzz, result_from_recorder)
from .report import add_trace_arguments, race_accesses, render_race, render_trace, render_violation

DEFAULT_MAX_EXAMPLES = 2000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("variant", help="a shipped variant (see `vmafuzz list`) or FILE.py:NAME")
    add_fuzz_arguments(p)
    add_scenario_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_trace_arguments(p)
    add_counterexample_arguments(p)


def add_fuzz_arguments(p: argparse.ArgumentParser, max_examples: int = DEFAULT_MAX_EXAMPLES,
                       seconds: float | None = None) -> None:
    g = p.add_argument_group("budget")
    g.add_argument("--max-examples", type=int, default=max_examples,
                   help=f"valid test cases to generate (default {max_examples}); Hypothesis also "
                   "runs some it discards, so the count reported can be higher")
    g.add_argument("--seconds", type=float, default=seconds,
                   help="stop generating and shrinking after about this long"
                   + (f" (default {seconds:g})" if seconds else ""))
    g.add_argument("--seed", type=int, help="random seed (default: random); a seeded run does not "
                   "replay the example database, so the same seed repeats the same run")
    g.add_argument("--steps", type=int, help="the most operations in one run "
                   "(default: twice a sequentially consistent run, plus 20)")
    g.add_argument("--burst", type=int, default=DEFAULT_BURST,
                   help=f"the most operations one rule runs a thread for (default {DEFAULT_BURST})")
    g.add_argument("--no-guided", action="store_true",
                   help="Hypothesis's examples only: no coverage-guided runs between them (docs/fuzzing.md)")
    g.add_argument("--profile", choices=("dev", "ci"), default="dev",
                   help="dev: random, example database in .hypothesis/; ci: derandomized, no database")
    g.add_argument("--corpus", default="corpus", help="where failures are saved (default corpus/)")
    g.add_argument("--no-save", action="store_true", help="do not save failures to the corpus")


@attrs.frozen(slots=True)
class Budget:
    """A fuzz run's budget and where it saves its findings: the plain values the
    commands below the CLI take (``Budget.from_args`` is the only place that
    reads the command line)."""

    max_examples: int = DEFAULT_MAX_EXAMPLES
    seconds: float | None = None
    seed: int | None = None
    steps: int | None = None
    burst: int = DEFAULT_BURST
    profile: str = "dev"            # "dev" or "ci"
    corpus: str = "corpus"
    save: bool = True
    guided: bool = True             # the coverage-guided phase (fuzz/guided.py)

    def __attrs_post_init__(self):
        if self.max_examples < 1:
            raise UsageError("--max-examples must be at least 1")
        if self.seconds is not None and not (0 < self.seconds < math.inf):
            raise UsageError(f"--seconds must be a positive number, not {self.seconds}")
        if self.steps is not None and self.steps < 1:
            raise UsageError("--steps must be at least 1")
        if self.burst < 1:
            raise UsageError("--burst must be at least 1")

    @classmethod
    def from_args(cls, args) -> "Budget":
        return cls(args.max_examples, args.seconds, args.seed, args.steps, args.burst, args.profile,
                   args.corpus, not args.no_save, not args.no_guided)


def check_budget(args) -> Budget:
    return Budget.from_args(args)


def fuzz_args(budget: Budget, variant, scenario, recorder: Recorder, sizes: Sizes | None = None) -> FuzzResult:
    profile = PROFILE_CI if budget.profile == "ci" else PROFILE_DEV
    # A seeded run skips the example database, which would replay earlier
    # failures first: the same seed then gives the same run.
    db = database_dir(variant, scenario if sizes is None else sizes.upto) \
        if profile == PROFILE_DEV and budget.seed is None else None
    return fuzz(variant, scenario, max_examples=budget.max_examples, seconds=budget.seconds,
                seed=budget.seed, max_steps=budget.steps, max_burst=budget.burst, profile=profile,
                database=db, recorder=recorder, sizes=sizes, guided=budget.guided)


def save_failure(budget: Budget, variant, result: FuzzResult) -> tuple[str | None, bool]:
    """Save the violation (or, without one, the data race) to the corpus."""
    if result.failure is not None:
        return _save(budget, variant, result, result.failure.violation, result.failure.execution)
    if result.race is not None:
        return _save(budget, variant, result, result.race.race, result.race.execution)
    return None, False


def save_race(budget: Budget, variant, result: FuzzResult) -> tuple[str | None, bool]:
    """Save the data race of a result that also violated (``save_failure`` saved that)."""
    if result.failure is None or result.race is None:
        return None, False
    return _save(budget, variant, result, result.race.race, result.race.execution)


def _save(budget: Budget, variant, result: FuzzResult, finding, execution) -> tuple[str | None, bool]:
    return save_finding(budget, variant, result.scenario, finding, execution,
                        f"found by vmafuzz run (hypothesis {hypothesis_version})")


def save_finding(budget: Budget, variant, scenario, finding, execution, note: str) -> tuple[str | None, bool]:
    """Save a finding (a violation or a data race, and the run that shows it) to the
    corpus unless one as short is there: (path, whether new), or (None, False)."""
    if not budget.save:
        return None, False
    try:
        entry = entry_for(variant, scenario, finding, execution, note)
        path = as_short_in_corpus(entry, Path(budget.corpus), variant.family)
        if path is not None:
            return str(path), False
        path, new = save(entry, Path(budget.corpus), variant.family)
    except (CorpusError, OSError) as exc:
        sys.stderr.write(f"vmafuzz: could not save the counterexample: {exc}\n")
        return None, False
    return str(path), new


def run(args) -> int:
    variant = variant_from(args.variant)
    scenario = scenario_from(args, variant)
    budget = Budget.from_args(args)
    check_graph_option(args.graph)
    # No scenario option given: each example draws its size (a bug that needs a
    # second writer cycle is found); the result names the range it covers.
    sizes = None if scenario_fixed(args) else Sizes.around(variant, scenario)
    if sizes is not None and not sizes.drawn:
        sizes = None
    rec = Recorder()
    interrupted = False
    stopped = None
    try:
        # The whole command within --seconds (and the grace of models/limits.py): the
        # first run to the end alone can take minutes on a big scenario (issue 11).
        with limits.budget(None if budget.seconds is None else budget.seconds + limits.GRACE,
                           f"--seconds {budget.seconds or 0:g} spent"):
            check_protocol(variant, scenario)
            result = fuzz_args(budget, variant, scenario, rec, sizes)
    except limits.EndlessStep:
        raise                         # the protocol's fault: exit 2 (fuzz/cli.py)
    except (limits.OutOfTime, limits.OutOfMemory) as exc:
        stopped = exc.message         # no verdict, unless something was found: kept and saved
        interrupted = True
        result = result_from_recorder(variant, scenario, rec, sizes)
    except KeyboardInterrupt:
        interrupted = True
        result = result_from_recorder(variant, scenario, rec, sizes)
    corpus_file, new = save_failure(budget, variant, result)
    race_file, race_new = save_race(budget, variant, result)
    if args.json:
        print(json.dumps(result_json(result, corpus_file, interrupted, race_file, variant)))
    else:
        print_result(variant, result, corpus_file, new, args.no_trace, interrupted, args.columns,
                     race_file, race_new, why=f"stopped ({stopped})" if stopped else "interrupted")
    found = result.failure or result.race
    counterexample_files(args, variant, result.scenario.describe(variant), found and found.execution,
                         result.failure and result.failure.violation,
                         None if result.failure or not result.race else result.race.race)
    sys.stdout.flush()
    if stopped is not None:
        if found:
            return 1
        sys.stderr.write(f"vmafuzz: no verdict: {stopped}\n")
        return 3
    if interrupted:
        return 130
    if result.verdict == "inconclusive":
        return 3
    return 1 if result.failure is not None or result.race is not None else 0


def result_json(result: FuzzResult, corpus_file: str | None, interrupted: bool = False,
                race_file: str | None = None, variant: type | None = None) -> dict:
    f = result.failure
    r = result.race
    return {
        "variant": result.variant,
        "scenario": result.scenario.to_json(),
        "verdict": result.verdict,
        "rule": f.violation.rule if f else r.race.rule if r else None,
        "examples": result.examples,
        "examples_to_first_failure": result.examples_to_first,
        "guided_runs": result.guided_runs,
        "guided_runs_to_first_failure": result.guided_to_first,
        # "hypothesis" or "guided" (fuzz/guided.py); the campaign's explorer pass says "explorer"
        "found_by": result.found_by,
        "seconds": round(result.seconds, 3),
        "seconds_to_first_failure": None if result.seconds_to_first is None
        else round(result.seconds_to_first, 3),
        "steps": f.steps if f else None,
        "steps_run": result.steps,
        "lookups_checked": result.lookups,
        "corpus_file": corpus_file,
        "interrupted": interrupted,
        "bound": result.bound_json(variant),
        # the data race (also when the runs broke the invariant: then rule names the violation)
        "data_race": None if r is None else {
            "steps": r.steps, "accesses": race_accesses(r.race, r.execution),
            "more_pairs": r.race.more, "examples_with_race": result.races,
            "seconds_to_first_race": round(result.seconds_to_first_race, 3),
            "corpus_file": race_file or (corpus_file if f is None else None)},
    }


def print_result(variant, result: FuzzResult, corpus_file, new: bool, no_trace: bool,
                 interrupted: bool, columns: bool = False, race_file=None, race_new=False,
                 why: str = "interrupted") -> None:
    head = f"{variant.name} on {result.scenario.describe(variant)}"
    if result.sizes is not None and result.failure is None and result.race is None:
        head = f"{variant.name} on {result.sizes.base.describe(variant)} up to {result.sizes.upto.describe(variant)}"
    if interrupted:
        print(f"{head}: {why} after {count(result.examples, 'example')}, {count(result.steps, 'step')}, "
              f"{result.seconds:.1f} s")
    f = result.failure
    if f is None and result.race is not None:
        print(f"{head}: DATA RACE, no intact-VMA violation over {count(result.examples, 'example')}, "
              f"{count(result.lookups, 'lookup')} checked, {result.seconds:.1f} s")
        _print_race(result, no_trace, columns, corpus_file, new, interrupted)
        return
    if f is None:
        if interrupted:
            return
        if result.verdict == "inconclusive":
            print(f"{head}: NO VERDICT: no lookup finished in any of {result.examples} examples, "
                  f"so nothing was checked; raise --steps")
            return
        print(f"{head}: HOLDS over {count(result.examples, 'example')}, {count(result.steps, 'step')}, "
              f"{count(result.lookups, 'lookup')} checked, {result.seconds:.1f} s"
              + (" (--seconds spent)" if result.budget_spent else ""))
        print(f"  bound: {result.bound(variant)}")
        return
    shrunk = f"not fully shrunk: {f.steps} steps" if interrupted else f"shrunk to {f.steps} steps"
    by = (f" and {count(result.guided_to_first, 'coverage-guided run')}, found by one of those"
          if result.found_by == "guided" else "")
    print(f"{head}: VIOLATED after {count(result.examples_to_first, 'example')}{by} "
          f"({result.seconds_to_first:.2f} s); {shrunk} "
          f"({count(result.examples, 'example')}, {result.seconds:.1f} s in all)")
    if not no_trace:
        print(render_trace(f.execution, f.violation.at, columns))
    width = result.scenario.width or variant.counter_width
    print(render_violation(f.violation, f.execution, width if f.violation.wrapped else None))
    _print_saved(corpus_file, new)
    if result.race is not None:
        print("the runs also raced:")
        _print_race(result, no_trace, columns, race_file, race_new, interrupted)


def _print_race(result: FuzzResult, no_trace: bool, columns: bool, corpus_file, new: bool,
                interrupted: bool) -> None:
    r = result.race
    shrunk = f"not shrunk: {r.steps} steps" if interrupted else f"shrunk to {r.steps} steps"
    print(f"data race in {count(result.races, 'example')} (first after "
          f"{result.seconds_to_first_race:.2f} s); shortest run {shrunk}")
    if not no_trace:
        print(render_trace(r.execution, r.race.at, columns))
    print(render_race(r.race, r.execution))
    _print_saved(corpus_file, new)


def _print_saved(corpus_file, new: bool) -> None:
    if corpus_file:
        print(f"saved to {corpus_file}" if new else
              f"not saved: the corpus already has a counterexample as short that reproduces: {corpus_file}")
