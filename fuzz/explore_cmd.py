"""``vmafuzz list`` and ``vmafuzz explore VARIANT``."""

from __future__ import annotations

import argparse
import json
import sys

from models import limits
from models.scenario import Scenario, ScenarioError, unused_options
from models.variants import SHIPPED, VariantError, resolve

from .cli import UsageError
from .exhaustive import DEEPEN_STATES, check_deepening, check_variant
from .graph import add_counterexample_arguments, check_graph_option, counterexample_files
from .report import add_trace_arguments, render_race, render_trace, render_violation


def add_scenario_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scenario (defaults: the variant's own smallest scenario)")
    g.add_argument("--vmas", type=int, help="VMAs in the mm (each writer cycle changes all)")
    g.add_argument("--writers", type=int, help="writer threads")
    g.add_argument("--cycles", type=int, help="writer cycles per writer")
    g.add_argument("--readers", type=int, help="reader threads")
    g.add_argument("--lookups", type=int, help="speculative lookups per reader")
    g.add_argument("--width", type=int, help="bits of the sequence counters (default: unbounded)")
    g.add_argument("--spare-files", type=int, dest="spare_files",
                   help="spare struct file slots (default: one per new file)")
    g.add_argument("--slab", choices=("typesafe", "rcu", "kfree"),
                   help="how a file's memory goes after its last fput")


SCENARIO_OPTIONS = ("vmas", "writers", "cycles", "readers", "lookups", "width", "spare_files", "slab")


def scenario_options(args) -> dict:
    """The scenario options given on the command line (None: not given)."""
    return {k: getattr(args, k, None) for k in SCENARIO_OPTIONS}


def scenario_fixed(args) -> bool:
    """Did the user fix any part of the scenario?"""
    return any(v is not None for v in scenario_options(args).values())


def scenario_from(args, variant) -> Scenario:
    given = scenario_options(args)
    unused = unused_options(variant, **given)
    if unused:
        opts = ", ".join("--" + k.replace("_", "-") for k in unused)
        raise UsageError(f"{variant.name} ({variant.family} family) takes no {opts}; it takes "
                         + ", ".join("--" + k.replace("_", "-") for k in SCENARIO_OPTIONS
                                     if k in variant.scenario_options))
    try:
        return Scenario.default_for(variant, **given)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None


def check_protocol(variant, scenario) -> None:
    """Build the scenario and take one run to the end before any search, so a
    protocol that breaks the API's rules (or raises) is told so at once, by name."""
    from models.scenario import build
    world = build(variant, scenario)
    from .machine import sc_run
    sc_run(world)


def variant_from(spec: str):
    try:
        return resolve(spec)
    except VariantError as exc:
        raise UsageError(str(exc)) from None


# ---- list ----

def add_list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per variant")


def run_list(args) -> int:
    for cls in SHIPPED:
        if args.json:
            print(json.dumps({"variant": cls.name, "protocol": cls.family, "family": cls.family,
                              "description": cls.description, "expected": cls.expected,
                              "default_scenario": Scenario.default_for(cls).to_json()}))
        else:
            print(f"{cls.name:<22} {cls.family:<7}  expected {cls.expected:<9}  {cls.description}")
    return 0


# ---- explore ----

def add_explore_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("variant", help="a shipped variant (see `vmafuzz list`) or FILE.py:NAME")
    add_scenario_arguments(p)
    p.add_argument("--max-states", type=int, default=2_000_000,
                   help="give up (verdict incomplete, exit 3) after this many states")
    p.add_argument("--seconds", type=float, default=None,
                   help="give up (verdict incomplete, exit 3) after about this long (default: no limit "
                        "but --max-states and --max-memory)")
    p.add_argument("--deepen-states", type=int, default=DEEPEN_STATES, dest="deepen_states",
                   help="without scenario options, explore bigger scenarios (more cycles, VMAs, "
                   "readers) after the variant's own while this many more states last "
                   f"(default {DEEPEN_STATES}; 0: only the variant's own scenario)")
    p.add_argument("--no-reduction", action="store_true", dest="no_reduction",
                   help="explore every state: no swapping of identical readers, no readers one "
                        "at a time, no invisible steps first (the same verdict and shortest "
                        "trace, in more states)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_trace_arguments(p)
    add_counterexample_arguments(p)


def run_explore(args) -> int:
    check_graph_option(args.graph)
    variant = variant_from(args.variant)
    scenario = scenario_from(args, variant)
    if args.max_states is not None and args.max_states < 1:
        raise UsageError("--max-states must be at least 1")
    if args.deepen_states < 0:
        raise UsageError("--deepen-states cannot be negative")
    with limits.budget(args.seconds):
        # The first run to the end is inside the budget too: on a big scenario it
        # alone can take minutes (issue 11).
        check_protocol(variant, scenario)
        reduce = not args.no_reduction
        if scenario_fixed(args) or not args.deepen_states:
            result = check_variant(variant, scenario, max_states=args.max_states,
                                   symmetry=reduce, alone=reduce, invisible=reduce)
        else:
            result = check_deepening(variant, scenario, max_states=args.max_states,
                                     deepen_states=args.deepen_states, reduce=reduce)
    scenario = result.scenario
    width = result.execution and result.violation and result.violation.wrapped and \
        (scenario.width or variant.counter_width)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        s = result.stats
        print(f"{variant.name}: {result.verdict.upper()} on {scenario.describe(variant)}")
        print(f"  {s.executions} complete executions, {s.states} distinct states, "
              f"{s.seconds:.2f} s")
        print(f"  bound: {result.bound()}")
        if result.violation is not None:
            print(f"  shortest violating trace: {result.shortest_steps} steps")
            if not args.no_trace:
                print(render_trace(result.execution, result.violation.at, args.columns))
            print(render_violation(result.violation, result.execution, width or None))
        if result.race is not None:
            # Shown after the violation when there is one: the race is a finding
            # of its own, and never hides the broken invariant.
            ex = result.race_execution
            also = "also " if result.violation is not None else ""
            print(f"  {also}a data race, shortest trace: {ex.steps} steps")
            if not args.no_trace:
                print(render_trace(ex, result.race.at, args.columns))
            print(render_race(result.race, ex))
            if result.violation is None and s.truncated:
                print(f"  stopped: {s.stopped or f'--max-states {args.max_states} reached'}: "
                      f"no verdict on the intact-VMA invariant")
        elif result.verdict == "incomplete":
            print(f"  stopped: {s.stopped or f'--max-states {args.max_states} reached'}: no verdict")
    counterexample_files(args, variant, scenario.describe(variant),
                         result.execution if result.violation is not None else result.race_execution,
                         result.violation, None if result.violation is not None else result.race)
    sys.stdout.flush()
    return {"holds": 0, "violated": 1, "data race": 1, "incomplete": 3}[result.verdict]


add_arguments = add_explore_arguments
run = run_explore
