"""``vmafuzz litmus FILE...``: run LKMM C litmus tests exhaustively, print herd7's layout.

Every file is processed in turn. A file that cannot be parsed or run gets one
line on standard error, ``vmafuzz: FILE:LINE:COL: what is wrong``; the other
files are still run, and the exit status is then 2. ``--witness``: a witness search
(``litmus.witness``) instead of every execution, where the test is an ``exists``. A test cut short by
``--max-states``, ``--seconds`` or ``--max-memory`` gets one such line too (no
verdict): exit status 3 unless another test gave 2 or 1. With ``--check``, a test
whose Observation differs from the ``Result:`` line of its doc comment makes
the exit status 1 (unless some file was bad: 2 wins). A flag herd7 would print
(``Flag data-race``) is printed in the same place, and listed under ``"flags"``
with ``--json``.

Only ``models.litmus`` and the model are imported (fuzz/cli.py imports the one
subcommand asked for): this command's start-up is part of what it costs
(bench/litmus_vs_herd7.py).
"""

from __future__ import annotations

import json
import sys

from models import limits, litmus


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="C litmus test(s)")
    parser.add_argument("--json", action="store_true", help="one JSON object per test, one per line")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a verdict differs from the test's 'Result:' line")
    parser.add_argument("--max-states", type=int, default=1_000_000, metavar="N",
                        help="give up on a test after N explored states (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=None, metavar="S",
                        help="give up on a test after about S seconds (no verdict; the other "
                             "tests still run; default: no limit but --max-states and --max-memory)")
    parser.add_argument("--witness", action="store_true",
                        help="for an exists test: search depth first for one execution that "
                             "satisfies the condition and stop there (Sometimes, with that state "
                             "alone and no counts); where none is found, the exhaustive run's "
                             "verdict (docs/exporting.md)")
    parser.add_argument("--no-reduction", action="store_true",
                        help="explore every interleaving instead of the stores-first reduction "
                             "(the same executions, states and flags in more states: a check "
                             "of the reduction; docs/memory-model.md)")
    parser.add_argument("--graph", metavar="FILE",
                        help="draw an execution satisfying the condition (or the first one) to "
                             "FILE.svg, FILE.png or FILE.dot; with several tests, FILE.NAME.svg ...")


def run(args) -> int:
    bad = mismatch = incomplete = False
    if args.graph:     # imported only when asked: litmus runs start fast (cli.build_parser)
        from .graph import check_graph_option, graph_litmus
        check_graph_option(args.graph)
    for path in args.files:
        try:
            prog = litmus.parse_file(path)
            with limits.budget(args.seconds):
                result = (litmus.witness if args.witness else litmus.run)(
                    prog, max_states=args.max_states, reduce=not args.no_reduction)
            if args.graph:
                graph_litmus(args.graph, prog, len(args.files) > 1)
        except litmus.LitmusIncomplete as exc:     # a budget ran out: no verdict for this test
            sys.stderr.write(f"vmafuzz: {exc}\n")
            incomplete = True
            continue
        except litmus.LitmusError as exc:
            sys.stderr.write(f"vmafuzz: {exc}\n")
            bad = True
            continue
        if args.json:
            print(json.dumps(litmus.json_record(result)), flush=True)
        else:
            print(litmus.herd_text(result) + "\n", flush=True)
        if args.check and result.result and result.result != result.observation:
            sys.stderr.write(f"vmafuzz: {path}: Observation {result.observation}, "
                             f"but the test says Result: {result.result}\n")
            mismatch = True
    return 2 if bad else 1 if mismatch else 3 if incomplete else 0
