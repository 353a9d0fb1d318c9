"""``vmafuzz replay PATH...``: replay saved counterexamples from the corpus.

Each file replays deterministically (no Hypothesis, no database) and prints the
same report as ``vmafuzz run``, then whether it still reproduces its recorded
violation. Exit status: 0 every file reproduces, 1 some no longer reproduce,
2 some file could not be used (each named in one line; the others still replay),
3 some file was cut short by ``--seconds`` or ``--max-memory`` (no verdict).
"""

from __future__ import annotations

import argparse
import json
import sys

from models import limits
from models.engine import ModelError
from models.protocol import ProtocolError
from models.registry import user_frame
from models.scenario import count

from .cli import UsageError, user_error
from .corpus import CorpusError, collect, load, replay, resolve_variant
from .oracle import DATA_RACE
from .graph import add_graph_argument, check_graph_option, graph_replayed
from .report import add_trace_arguments, race_accesses, render_race, render_trace, render_violation


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="corpus files or folders (recursive)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help="give up on a file after about S seconds (no verdict; the other files "
                        "still replay; default: no limit but --max-memory)")
    p.add_argument("--variant-file", action="append", default=[], metavar="FILE.py",
                   help="a protocol file the corpus files may run (repeatable); a corpus file "
                        "that names any other file is refused: data never chooses code to run")
    add_trace_arguments(p)
    add_graph_argument(p)


def run(args) -> int:
    check_graph_option(args.graph)
    per_path = [(p, collect([p])) for p in args.paths]
    files = [f for _, found in per_path for f in found]
    if not files:
        raise UsageError(f"no corpus files under {' '.join(args.paths)}")
    bad = stale = ok = 0
    for folder, found in per_path:
        # A folder named on the command line that holds no trace is a mistake
        # (a typo, the wrong checkout) even when other paths have some.
        if not found:
            bad += 1
            if args.json:
                print(json.dumps({"file": str(folder), "status": "error", "error": "no corpus files"}))
            sys.stderr.write(f"vmafuzz: {folder}: no corpus files (*.json) in this folder\n")
    undecided = 0
    for path in files:
        # One file's fault never stops the others: each is reported, then exit 2.
        try:
            entry = load(path)
            variant = resolve_variant(entry, str(path), trusted=args.variant_file)
            with limits.budget(args.seconds):
                r = replay(entry, variant)
        except CorpusError as exc:
            bad += 1
            _unusable(args, path, str(exc))
            continue
        except (limits.OutOfTime, limits.OutOfMemory) as exc:
            undecided += 1
            _unusable(args, path, f"{path}: no verdict: {exc.message}", "no verdict")
            continue
        except limits.EndlessStep as exc:
            bad += 1
            where = user_frame(exc)
            _unusable(args, path, f"{where[0]}:{where[1]}: {exc.message} (replaying {path})"
                      if where else f"{path}: {exc.message}")
            continue
        except (ModelError, ProtocolError, SystemExit) as exc:     # the protocol's code failed
            bad += 1
            _unusable(args, path, f"{user_error(exc)} (replaying {path})")
            continue
        except Exception as exc:
            if user_frame(exc) is None:
                raise                  # ours: a bug to see whole
            bad += 1
            _unusable(args, path, f"{user_error(exc)} (replaying {path})")
            continue
        ok += r.reproduces
        stale += not r.reproduces
        is_race = entry.expected.rule == DATA_RACE
        graph_replayed(args.graph, r, path, len(files) > 1)
        if args.json:
            rule = (DATA_RACE if r.race else None) if is_race else \
                (r.violation.rule if r.violation else None)
            print(json.dumps({
                "file": str(path), "status": "reproduces" if r.reproduces else "differs",
                "variant": entry.spec, "scenario": entry.scenario.to_json(),
                "expected": entry.expected.to_json(),
                "rule": rule,
                # a data-race entry's run may also break the invariant: both are shown
                "violation": r.violation.rule if r.violation else None,
                "data_race": race_accesses(r.race, r.execution) if r.race else None,
                "steps": r.execution.steps, "reason": r.reason or None}))
            continue
        print(f"== {path}")
        print(f"{entry.spec} on {entry.scenario.describe(variant)}")
        if (r.violation is not None or r.race is not None) and not args.no_trace:
            upto = r.violation.at if r.violation is not None and not is_race else None
            print(render_trace(r.execution, upto, args.columns))
        if r.violation is not None:
            print(render_violation(r.violation, r.execution, r.width if r.violation.wrapped else None))
        if r.race is not None:
            print(render_race(r.race, r.execution))
        if r.reproduces:
            print(f"REPRODUCES: {entry.expected.describe()}")
        else:
            print(f"NO LONGER REPRODUCES: {r.reason}")
        print()
    if not args.json:
        print(f"{count(len(files), 'file')}: {ok} reproduce, {stale} no longer reproduce, {bad} unusable"
              + (f", {undecided} cut short (no verdict)" if undecided else ""))
    sys.stdout.flush()
    return 2 if bad else 1 if stale else 3 if undecided else 0


def _unusable(args, path, message: str, status: str = "error") -> None:
    """One line on standard error (and a JSON record with --json) for a file that
    gave no result."""
    if args.json:
        print(json.dumps({"file": str(path), "status": status, "error": message}))
    sys.stderr.write(f"vmafuzz: {message}\n")
