"""The kernel's LKMM litmus tests against herd7's complete output.

Each test's set of final states and its Observation word must equal what
herd7 printed (``../shared/litmus/kernel/NAME.herd7.out``). The directory is
found beside the repository, or through ``VMAFUZZ_SHARED`` (the ``shared``
folder that holds ``litmus/kernel``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models import litmus


def kernel_dir() -> Path:
    env = os.environ.get("VMAFUZZ_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return base / "litmus" / "kernel"


KERNEL = kernel_dir()
FILES = sorted(KERNEL.glob("*.litmus"))



# Without the suite these tests are skipped, saying why; CI (.ci/run) sets
# VMAFUZZ_REQUIRE_SHARED=1 so that there a missing suite fails instead.
needs_suite = pytest.mark.skipif(
    not KERNEL.is_dir() and not os.environ.get("VMAFUZZ_REQUIRE_SHARED"),
    reason=f"{KERNEL} is missing: put shared/ beside the checkout or set VMAFUZZ_SHARED")


@needs_suite
def test_kernel_suite_is_there():
    assert KERNEL.is_dir(), f"{KERNEL} is missing: set VMAFUZZ_SHARED to the shared/ folder"
    assert len(FILES) == 35
    assert all(f.with_suffix(".herd7.out").is_file() for f in FILES)


def _compare(path: Path) -> tuple[litmus.LitmusResult, litmus.HerdOutcome]:
    result = litmus.run(litmus.parse_file(str(path)))
    herd = litmus.read_herd_output(path.with_suffix(".herd7.out").read_text())
    return result, herd


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_same_states_and_observation_as_herd7(path):
    result, herd = _compare(path)
    assert litmus.state_lines(result) == herd.states
    assert result.observation == herd.observation


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_never_tests_are_never(path):
    """Soundness: nothing LKMM forbids is ever reported reachable."""
    prog = litmus.parse_file(str(path))
    if prog.result != "Never":
        pytest.skip("not a Never test")
    assert litmus.run(prog).observation == "Never"


@needs_suite
def test_load_buffering_state_and_counts():
    """LB+poonceonces needs a po|rf cycle (a load reads a po-later store of the other
    thread): its fourth state, and herd7's execution counts (Positive 1, Negative 3)."""
    path = KERNEL / "LB+poonceonces.litmus"
    result, herd = _compare(path)
    assert "0:r0=1; 1:r0=1;" in litmus.state_lines(result)
    text = path.with_suffix(".herd7.out").read_text()
    assert f"Positive: {result.positive} Negative: {result.negative}" in text
