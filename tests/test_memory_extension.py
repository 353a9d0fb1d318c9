"""memory.check_extension (the engine's incremental check, with its verdict
cache) must agree with the full memory.check on every candidate the engine asks
about."""

from pathlib import Path

import pytest

import models.memory as memory
from models.scenario import Scenario
from models.variants import BY_NAME
from fuzz.exhaustive import check_variant

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def compared(monkeypatch):
    calls = []
    original = memory.check_extension

    def both(g, new, cache=None):
        fast = original(g, new, cache)   # with the engine's verdict cache, as in real runs
        full = memory.check(g)
        calls.append((fast, full))
        assert (fast is None) == (full is None), f"extension check says {fast}, full check {full}"
        return fast

    monkeypatch.setattr(memory, "check_extension", both)
    return calls


def test_agrees_on_our_litmus_tests(compared):
    from models import litmus
    files = sorted((ROOT / "tests" / "litmus").glob("*.litmus"))
    assert files
    kernel = ROOT.parent / "shared" / "litmus" / "kernel"
    files += sorted(kernel.glob("*.litmus"))
    for f in files:
        litmus.run(litmus.parse_file(str(f)))
    assert any(fast is not None for fast, _ in compared)   # some candidates were refused


@pytest.mark.parametrize("name", ["A", "A-no-wmb", "B", "B-no-end-wmb", "B-early-rcu-unlock"])
def test_agrees_on_protocol_exploration(compared, name):
    v = BY_NAME[name]
    check_variant(v, Scenario.default_for(v), max_states=3000)
    assert any(fast is not None for fast, _ in compared)
