"""CI property checks: every shipped variant against the fuzzer, derandomized.

The verdict comes from running the fuzzer; ``expected`` (the table of
protocols.md section 5) is only what it is compared with. The budget is fixed
and the profile derandomized (the plugin's fixed seed ``CI_SEED``), so CI sees
the same examples on every run. The runs go through the vmafuzz pytest plugin
(fuzz/pytest_plugin.py, docs/pytest.md), so a red check shows the kernel trace
and the broken rule, the corpus file written and the ``vmafuzz run ... --seed``
line that repeats it.
"""

from pathlib import Path

import pytest

from fuzz.corpus import collect, load, replay, resolve_variant
from fuzz.oracle import matches_expected
from models.variants import SHIPPED

# Holding variants: examples each must pass. Violated variants: the budget
# within which the derandomized fuzzer must catch them.
HOLDS_EXAMPLES = 150
CATCH_EXAMPLES = 3000

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


# Violated variants the fuzzer is known not to catch within the budget (the
# explorer does, and their corpus files are the explorer's): strict, so that a
# fuzzer that starts catching one fails here until it is taken off the list.
BEYOND_FUZZER: dict[str, str] = {}


def _with_known_misses(variants):
    return [pytest.param(v, marks=pytest.mark.xfail(reason=BEYOND_FUZZER[v.name], strict=True))
            if v.name in BEYOND_FUZZER else v for v in variants]


@pytest.mark.parametrize("variant", _with_known_misses(SHIPPED), ids=lambda v: v.name)
def test_variant_verdict_matches_table(variant, vmafuzz):
    budget = HOLDS_EXAMPLES if variant.expected == "holds" else CATCH_EXAMPLES
    # The plugin fails the test with the report unless the outcome matches
    # ``expected``; it shrinks only a finding it reports (a holding variant's).
    result = vmafuzz(variant, max_examples=budget, profile="ci")
    # "data race" (B-as-merged) is met by a race, with or without a violation too
    assert matches_expected(variant.expected, result.verdict, result.race is not None), (
        f"{variant.name}: fuzzer says {result.verdict} after {result.examples} examples")
    if result.failure is not None:
        # a real counterexample: stopped right at a lookup the oracle rejects
        assert result.failure.steps == result.failure.execution.steps
        assert result.failure.violation.rule


@pytest.mark.parametrize("path", collect([CORPUS]), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file_replays_to_its_violation(path):
    from fuzz.oracle import DATA_RACE
    entry = load(path)
    r = replay(entry, resolve_variant(entry, str(path)))
    assert r.reproduces, r.reason
    assert (r.race if entry.expected.rule == DATA_RACE else r.violation).rule == entry.expected.rule
    assert r.execution.steps == entry.expected.steps


def test_every_violated_variant_has_a_corpus_file():
    have = {load(p).variant_name for p in collect([CORPUS])}
    missing = [v.name for v in SHIPPED if v.expected == "violated" and v.name not in have]
    assert not missing
