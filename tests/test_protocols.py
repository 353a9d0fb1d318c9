"""Protocol verdicts by exhaustive exploration (the CI property check of issue 3)
and users' own variant files."""

import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.exhaustive import check_variant
from fuzz.cli import main
from models.engine import Execution, ReplayChooser
from models.scenario import Scenario, build
from models.variants import SHIPPED, VariantError, resolve
from fuzz.oracle import DATA_RACE, Oracle, matches_expected
from models import memory

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("variant", SHIPPED, ids=lambda v: v.name)
def test_exploration_finds_the_table_verdict(variant):
    if variant.expected == DATA_RACE and getattr(memory, "data_races", None) is None:
        pytest.skip("models/memory.py has no data_races in this checkout")
    r = check_variant(variant, Scenario.default_for(variant))
    # "data race" is met by a race, with or without an intact-VMA violation (oracle.matches_expected)
    assert matches_expected(variant.expected, r.verdict, r.race is not None), \
        (r.verdict, r.violation and r.violation.rule, r.race)
    if variant.expected != DATA_RACE:
        assert r.race is None
    if r.verdict == "violated":
        # the shortest trace replays to the same violation, with no explorer involved
        world = build(variant, Scenario.default_for(variant))
        ex = Execution(world.threads)
        chooser = ReplayChooser(r.execution.path)
        oracle = Oracle(world)
        while ex.steps < r.shortest_steps:
            ex.run(chooser, max_steps=1)
        v = oracle.check(ex)
        assert v is not None and v.rule == r.violation.rule


HOLDING = [v for v in SHIPPED if v.expected == "holds"]


# Bigger scenarios too costly for the suite, measured: bench/explore.py
# --also-holding-bigger runs them.
TOO_BIG = {("C", "cycles"): "protocol C's real race with 2 own-mm cycles: about 150000 states, "
                            "6 minutes and 1.2 GB (docs/protocols-c.md)"}


@pytest.mark.parametrize("variant", HOLDING, ids=lambda v: v.name)
@pytest.mark.parametrize("bigger", [{"cycles": 2}, {"vmas": 2}], ids=["2-cycles", "2-vmas"])
def test_holding_variants_hold_on_bigger_scenarios(variant, bigger):
    (opt,) = bigger
    if opt not in variant.scenario_options:
        pytest.skip(f"the {variant.family} family takes no --{opt}")
    if (variant.family, opt) in TOO_BIG:
        pytest.skip(TOO_BIG[(variant.family, opt)])
    r = check_variant(variant, Scenario.default_for(variant, **bigger))
    assert r.verdict == "holds"
    assert r.stats.executions > 0


def test_wrap_around_report_says_the_count_wrapped():
    v = resolve("B-narrow-seq")
    r = check_variant(v, Scenario.default_for(v))
    assert r.verdict == "violated" and r.violation.wrapped
    # the same variant with unbounded counters holds: the wrap is the bug
    assert check_variant(v, Scenario.default_for(v, width=64)).verdict == "holds"


EXAMPLE = ROOT / "docs" / "examples" / "my_variant.py"


def test_users_variant_file_runs_as_documented(capsys):
    assert main(["explore", f"{EXAMPLE}:B-acquire-retry", "--no-trace"]) == 1
    out = capsys.readouterr().out
    assert "B-acquire-retry: VIOLATED" in out
    assert resolve(f"{EXAMPLE}:AcquireRetry").name == "B-acquire-retry"   # class name works too


@pytest.mark.parametrize("content,expect", [
    ("from models.protocols import ProtocolB\nclass X(ProtocolB)\n    name = 'x'\n", "syntax error"),
    ("class X:\n    name = 'X'\n", "is not a protocol"),
    ("raise RuntimeError('boom')\n", "RuntimeError while loading"),
    ("from models.protocols import ProtocolB\nclass Y(ProtocolB):\n    name = 'Y'\n", "no variant named 'X'"),
])
def test_broken_variant_files_get_one_line_and_exit_2(tmp_path, content, expect):
    f = tmp_path / "mine.py"
    f.write_text(content)
    p = subprocess.run([sys.executable, "-m", "fuzz", "explore", f"{f}:X"], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0] and str(f) in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_unknown_variant_name():
    with pytest.raises(VariantError, match="unknown variant"):
        resolve("A-no-such-thing")


def test_a_step_that_crashes_is_reported_not_traced(tmp_path):
    f = tmp_path / "crash.py"
    f.write_text("from models.protocols import ProtocolA\n"
                 "class Crash(ProtocolA):\n"
                 "    name = 'crash'\n"
                 "    def recheck(self, vma, sv):\n"
                 "        yield None\n")
    p = subprocess.run([sys.executable, "-m", "fuzz", "explore", f"{f}:crash"], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "crash" in p.stderr or "reader0" in p.stderr
