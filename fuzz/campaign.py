"""``vmafuzz campaign``: the fuzz campaign over every shipped variant.

Default budget, per variant: 1500 examples or 20 seconds of generation,
whichever ends first, times the square of the writer cycles of its default
scenario, then shrinking of a failure. A bug that needs a reader stalled across
several writer cycles (the wrap-around variants: 2 and 4 cycles) needs much
longer runs to be found, so its budget grows with the cycles. A holding variant spends it all
(5 x 20 s); a violated one stops at its first failure. The whole campaign takes
about four minutes on 2 cores. ``--max-examples`` and ``--seconds`` raise the
budget. New failures are saved to the corpus (one shorter than, or unlike, what it
already holds).

Exit status 1 when a variant's result differs from its expected verdict
(a holding variant violated or raced, or a violated variant that escaped the
budget). A variant expected to race (B-as-merged: "data race") meets it when a
data race was found, whether or not its runs also broke the invariant (both are
reported: the rule column then names both); such a variant spends its whole
budget unless a violation ends it, since a race never stops the search for one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import attrs

from models.variants import SHIPPED

from .explore_cmd import add_scenario_arguments, scenario_from, variant_from
from .machine import Recorder
from .oracle import DATA_RACE, matches_expected
from .run_cmd import add_fuzz_arguments, check_budget, fuzz_args, result_json, save_failure, save_race

DEFAULT_EXAMPLES = 1500
DEFAULT_SECONDS = 20.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("variants", nargs="*", metavar="VARIANT",
                   help="only these variants, shipped or FILE.py:NAME (default: every shipped one)")
    add_fuzz_arguments(p, max_examples=DEFAULT_EXAMPLES, seconds=DEFAULT_SECONDS)
    add_scenario_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON object per variant")
    p.epilog = ("Each variant's budget is --max-examples examples or --seconds of generation, "
                "whichever ends first, times the square of the writer cycles (x writers) of its "
                "default scenario: a stalled reader across many cycles is rarer.")


def run(args) -> int:
    budget = check_budget(args)
    variants = [variant_from(n) for n in args.variants] or list(SHIPPED)
    scenarios = [scenario_from(args, v) for v in variants]      # bad options: exit 2 before any run
    live = sys.stdout.isatty() and not args.json
    rows = []
    mismatches = 0
    t0 = time.perf_counter()
    for i, (variant, scenario) in enumerate(zip(variants, scenarios), 1):
        if live:
            sys.stdout.write(f"\r\x1b[K[{i}/{len(variants)}] {variant.name} ... "
                             f"({time.perf_counter() - t0:.0f} s)")
            sys.stdout.flush()
        rec = Recorder()
        # A reader stalled across c writer cycles gets rarer about geometrically in c;
        # the square keeps the wrap-around variants (2 and 4 cycles) caught reliably
        # (A-narrow-seq once escaped 3,000 examples with a linear budget) while a
        # one-cycle variant's budget is unchanged. A violated variant stops at its first
        # failure, so the larger budget is only spent when something escapes.
        factor = (scenario.cycles * scenario.writers) ** 2
        grown = attrs.evolve(budget, max_examples=budget.max_examples * factor,
                             seconds=budget.seconds * factor if budget.seconds else None)
        try:
            result = fuzz_args(grown, variant, scenario, rec)
        except KeyboardInterrupt:
            from .machine import result_from_recorder
            result = result_from_recorder(variant, scenario, rec)
            save_failure(budget, variant, result)
            if live:
                sys.stdout.write("\n")
            _table(rows)
            raise
        corpus_file, new = save_failure(budget, variant, result)
        race_file, race_new = save_race(budget, variant, result)
        new = new or race_new
        ok = matches_expected(variant.expected, result.verdict, result.race is not None)
        mismatches += not ok
        rows.append((variant, result, ok, corpus_file if new else None))
        if not args.json and not live:
            # Not a terminal (CI, nohup, a pipe): one line per finished variant, so a
            # log shows progress during the minutes a campaign takes.
            print(f"[{i}/{len(variants)}] {variant.name}: {result.verdict}"
                  f"{'' if ok else ' (NOT as expected)'} after {time.perf_counter() - t0:.0f} s",
                  flush=True)
        if args.json:
            obj = result_json(result, corpus_file, race_file=race_file, variant=variant)
            obj.update(expected=variant.expected, matches=ok)
            print(json.dumps(obj))
            sys.stdout.flush()
    if live:
        sys.stdout.write("\r\x1b[K")
    if not args.json:
        _table(rows)
        new = sum(1 for r in rows if r[3])
        print(f"{len(rows)} variants in {time.perf_counter() - t0:.0f} s; budget per variant: "
              f"{args.max_examples} examples" + (f" or {args.seconds:g} s" if args.seconds else "")
              + f" (x cycles squared); {new} new corpus files; "
              + ("all as expected" if not mismatches else f"{mismatches} NOT as expected"))
    sys.stdout.flush()
    return 1 if mismatches else 0


def _table(rows) -> None:
    print(f"{'variant':<22} {'expected':<9} {'result':<9} {'examples':>8} {'s to 1st':>8} "
          f"{'shrunk':>6}  rule")
    for variant, r, ok, _ in rows:
        # a variant that only raced: when its race was first seen, and its shrunk length
        to_first = r.seconds_to_first if r.failure else r.seconds_to_first_race if r.race else None
        steps = r.shrunk_steps if r.failure else r.race.steps if r.race else None
        first = f"{to_first:.2f}" if to_first is not None else "-"
        shrunk = str(steps) if steps is not None else "-"
        rule = r.failure.violation.rule if r.failure else ""
        if r.race is not None:
            rule = f"{rule} + {DATA_RACE}" if rule else DATA_RACE
        if r.verdict == "holds":
            rule = r.bound(variant)          # a holds names what it covers
        mark = "" if ok else "   <-- NOT AS EXPECTED"
        n = r.examples_to_first if r.examples_to_first is not None else r.examples
        print(f"{variant.name:<22} {variant.expected:<9} {r.verdict:<9} {n:>8} {first:>8} "
              f"{shrunk:>6}  {rule}{mark}")
