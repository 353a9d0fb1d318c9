"""What every hostile case asserts (issue 11), and the inputs the cases start from.

A case runs one command, in-process (``fuzz.cli.main``) unless it needs a real
process (signals, special files), and checks:

* the exit status is the contract's (2 bad input, 3 no verdict, 130 interrupted);
* standard error holds exactly one line (progress lines aside) that starts with
  ``vmafuzz:`` and names the bad file, and no traceback;
* no file was left half-written (no ``.tmp-*`` anywhere under the case's folder,
  nothing new beside the inputs unless the command saves);
* the other inputs of the same command were still processed;
* it finished within its budget plus two seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import attrs

REPO = Path(__file__).resolve().parents[2]
FORMS = REPO / "tests" / "litmus-forms"
CORPUS = REPO / "corpus"

# The good inputs that ride along with every bad one: they must still be processed.
GOOD_LITMUS = FORMS / "cond-and-or.litmus"
GOOD_LITMUS_NAME = "cond-and-or"
GOOD_CORPUS = CORPUS / "seqlock" / "seqlock-no-retry" / "c8de6e502d36aab8a041.json"

SLACK = 2.0       # seconds over its budget a case may take (issue 11)
PROGRESS = "vmafuzz: still running after"


@attrs.frozen
class Outcome:
    status: int
    out: str
    err: str
    seconds: float

    @property
    def err_lines(self) -> list[str]:
        """Standard error without the progress lines of long work."""
        return [ln for ln in self.err.splitlines() if ln.strip() and not ln.startswith(PROGRESS)]


def call(argv: list[str], capsys) -> Outcome:
    """``vmafuzz ARGV`` in this process."""
    from fuzz.cli import main
    capsys.readouterr()
    t0 = time.monotonic()
    status = main([str(a) for a in argv])
    seconds = time.monotonic() - t0
    cap = capsys.readouterr()
    return Outcome(status, cap.out, cap.err, seconds)


def spawn(argv: list[str], cwd: Path, timeout: float = 30.0) -> Outcome:
    """``vmafuzz ARGV`` in a process of its own (``python -m fuzz``)."""
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "fuzz", *map(str, argv)], cwd=cwd, capture_output=True,
                       text=True, timeout=timeout, env=_env())
    return Outcome(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def popen(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fuzz", *map(str, argv)], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_no_traceback(o: Outcome) -> None:
    assert "Traceback" not in o.err and "Traceback" not in o.out, o.err[-2000:]
    assert "Exception ignored" not in o.err, o.err[-2000:]


def assert_one_line(o: Outcome, names: str, status: int | tuple = 2) -> str:
    """Exactly one error line, naming ``names``; the exit status; no traceback."""
    assert_no_traceback(o)
    want = status if isinstance(status, tuple) else (status,)
    assert o.status in want, (o.status, o.err[-2000:], o.out[-500:])
    lines = o.err_lines
    assert len(lines) == 1, o.err[-2000:]
    assert lines[0].startswith("vmafuzz: "), lines[0]
    assert names in lines[0], (names, lines[0])
    return lines[0]


def assert_within(o: Outcome, budget: float) -> None:
    assert o.seconds <= budget + SLACK, f"took {o.seconds:.1f} s, budget {budget} s"


def assert_nothing_half_written(folder: Path, before: set[str] | None = None) -> None:
    found = {str(p.relative_to(folder)) for p in folder.rglob("*")}
    left = [p for p in found if Path(p).name.startswith(".tmp-")]
    assert not left, left
    if before is not None:
        assert found == before, sorted(found ^ before)


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def truncations(text: str, count: int) -> list[int]:
    """``count`` cut points spread over ``text`` (the first and last included)."""
    n = len(text)
    return sorted({round(i * (n - 1) / max(1, count - 1)) for i in range(count)})
