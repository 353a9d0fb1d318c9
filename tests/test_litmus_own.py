"""Our own litmus tests (tests/litmus/): the engine's verdict must be the one the
file's ``Result:`` line derives from the LKMM rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import litmus

HERE = Path(__file__).parent / "litmus"
FILES = sorted(HERE.glob("*.litmus"))



def test_there_are_enough_own_tests():
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_own_litmus_verdict(path):
    prog = litmus.parse_file(str(path))
    assert prog.result in ("Never", "Sometimes", "Always"), "every own test states its verdict"
    result = litmus.run(prog)
    assert result.observation == prog.result
    # A Never test must still have executions: an empty run would say Never for nothing.
    assert result.executions > 0 and result.negative > 0
