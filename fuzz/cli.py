"""The ``vmafuzz`` command line. Each subcommand lives in its own module.

Exit status: 0 success / invariant holds, 1 a violation (or a litmus mismatch
where one is checked), 2 bad input, 3 no verdict (an exploration cut short, or a
fuzz run in which no lookup finished), 130 interrupted.
"""

from __future__ import annotations

import os
import sys

import argparse
import importlib
import importlib.util

from models import limits
from models.engine import EndlessThread, ModelError
from models.protocol import ProtocolError

# subcommand -> module providing ``add_arguments(parser)`` and ``run(args) -> int``
SUBCOMMANDS = {
    "litmus": ("fuzz.litmus_cmd", "explore LKMM C litmus tests exhaustively (herd7-style output)"),
    "list": ("fuzz.explore_cmd", "list the shipped protocols and variants"),
    "explore": ("fuzz.explore_cmd", "check a protocol variant exhaustively on a small scenario"),
    "run": ("fuzz.run_cmd", "fuzz a protocol variant with Hypothesis"),
    "replay": ("fuzz.replay_cmd", "replay saved counterexamples from the corpus"),
    "export-litmus": ("fuzz.export_litmus", "write saved counterexamples as LKMM C litmus tests"),
    "campaign": ("fuzz.campaign", "fuzz every shipped variant and compare with its expected verdict"),
}


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as argparse does, without the usage block
        sys.stderr.write(f"vmafuzz: error: {message}\n")
        sys.exit(2)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser. Only the subcommand named in ``argv`` is imported (every one when
    ``argv`` names none, e.g. ``--help``): ``vmafuzz litmus`` must not pay for
    Hypothesis and the fuzzing machinery at start-up (issue 12, item 5)."""
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    parser = _Parser(prog="vmafuzz", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (modname, help_) in SUBCOMMANDS.items():
        if chosen in SUBCOMMANDS and name != chosen:
            sub.add_parser(name, help=help_, description=help_)   # listed, never run
            continue
        if importlib.util.find_spec(modname) is None:
            continue   # a subcommand whose module is not written yet
        p = sub.add_parser(name, help=help_, description=help_)
        mod = importlib.import_module(modname)
        getattr(mod, f"add_{name}_arguments", mod.add_arguments)(p)
        add_limit_arguments(p)
        p.set_defaults(_run=getattr(mod, f"run_{name}", None) or mod.run)
    return parser


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    """The limits every command takes (docs/limits.md)."""
    g = p.add_argument_group("limits (docs/limits.md)")
    g.add_argument("--max-memory", type=float, default=limits.DEFAULT_MAX_MEMORY_MB, metavar="MB",
                   help="stop (no verdict, exit 3) when the process uses more memory than this "
                        "(default %(default)g: half of this machine's memory, at most 4096)")
    g.add_argument("--step-seconds", type=float, default=limits.STEP_SECONDS, metavar="S",
                   help="a protocol thread whose step runs this long without yielding is an "
                        "error of the protocol (default %(default)g)")


def check_limits(args) -> None:
    if not (0 < args.max_memory < float("inf")):
        raise UsageError(f"--max-memory must be a positive number of MB, not {args.max_memory:g}")
    if not (0 < args.step_seconds < float("inf")):
        raise UsageError(f"--step-seconds must be a positive number, not {args.step_seconds:g}")
    seconds = getattr(args, "seconds", None)
    if seconds is not None and not (0 < seconds < float("inf")):
        raise UsageError(f"--seconds must be a positive number, not {seconds:g}")
    states = getattr(args, "max_states", None)
    if states is not None and states < 1:
        raise UsageError(f"--max-states must be at least 1, not {states}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with limits.guarded():     # Ctrl-C is never lost from here on, even while parsing
            parser = build_parser(argv)
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:     # a bad option (one line written) or --help: the status
                return exc.code if isinstance(exc.code, int) else 2
            if not getattr(args, "_run", None):
                parser.print_help()
                return 2
            return _run(args)
    except KeyboardInterrupt:      # Ctrl-C while the parser imports the subcommand
        sys.stderr.write("vmafuzz: interrupted\n")
        from . import _start
        if _start.installed:
            # The program, interrupted inside a half-done import (of Hypothesis): nothing
            # was found yet, and the interpreter's exit could trip over that import
            # (seen: killed by SIGINT after this line), so leave at once.
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(130)
        return 130


def _run(args) -> int:
    try:
        check_limits(args)
        with limits.guarded(args.max_memory, args.step_seconds):
            status = args._run(args)
            if status != 130 and limits.interrupt_unhandled():
                # Ctrl-C swallowed on the way (by Hypothesis, in a callback): never a verdict
                raise KeyboardInterrupt
            return status
    except UsageError as exc:
        sys.stderr.write(f"vmafuzz: {exc}\n")
        return 2
    except EndlessThread as exc:      # its message says where
        sys.stderr.write(f"vmafuzz: {exc}\n")
        return 2
    except (ModelError, ProtocolError) as exc:   # a protocol that cannot run: not a finding
        sys.stderr.write(f"vmafuzz: {user_error(exc)}\n")
        return 2
    except limits.EndlessStep as exc:   # a protocol's fault: where its code was when stopped
        from models.registry import user_frame
        where = user_frame(exc)
        sys.stderr.write(f"vmafuzz: {where[0]}:{where[1]}: " if where else "vmafuzz: ")
        sys.stderr.write(f"{exc.message}\n")
        return 2
    except limits.Stop as exc:          # --seconds, --max-memory: no verdict
        sys.stderr.write(f"vmafuzz: no verdict: {exc.message}\n")
        return 3
    except KeyboardInterrupt:
        sys.stderr.write("vmafuzz: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except SystemExit as exc:   # sys.exit() in a user's protocol file is its failure, not our status
        from models.registry import user_frame
        if user_frame(exc) is None:
            raise
        sys.stderr.write(f"vmafuzz: {user_error(exc)}\n")
        return 2
    except BaseException as exc:    # an exception in a user's protocol file: one line, exit 2
        if limits.interrupt_unhandled():
            # Ctrl-C landed where a library turned it into something else (Hypothesis
            # reports what its final replay raised, an exception group): interrupted
            sys.stderr.write("vmafuzz: interrupted\n")
            return 130
        from models.registry import user_frame
        if not isinstance(exc, Exception) or user_frame(exc) is None:
            raise
        sys.stderr.write(f"vmafuzz: {user_error(exc)}\n")
        return 2


def user_error(exc: BaseException) -> str:
    """One line for a protocol that failed: the user's file and line when the
    failure is in a user's protocol file, and what went wrong, by name."""
    cause = exc
    while isinstance(cause, ModelError) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, ProtocolError) and cause.__cause__ is not None:
        cause = cause.__cause__ if not isinstance(exc, ProtocolError) else cause
    from models.registry import user_frame
    where = user_frame(exc)
    thread = ""
    if isinstance(exc, ModelError) and str(exc).startswith("thread "):
        thread = " in " + str(exc).split(":", 1)[0]
    if isinstance(cause, ProtocolError):
        msg = str(cause)
    elif cause is exc and isinstance(exc, ModelError):
        return f"the model cannot run: {exc}"
    else:
        msg = f"{type(cause).__name__}{thread}: {cause}"
    if where is None:
        where = _class_of(msg)
    return f"{where[0]}:{where[1]}: {msg}" if where else msg


def _class_of(msg: str) -> tuple[str, int] | None:
    """(file, line) of the user's protocol class a message names first."""
    import inspect
    for name, mod in reversed(list(sys.modules.items())):     # the file loaded last first
        if not name.startswith("vmafuzz_user_"):
            continue
        for obj in vars(mod).values():
            if isinstance(obj, type) and obj.__module__ == name and msg.startswith(f"{getattr(obj, 'name', '')}:"):
                try:
                    return mod.__file__, inspect.getsourcelines(obj)[1]
                except (OSError, TypeError):
                    return None
    return None
