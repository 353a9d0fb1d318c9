"""The pytest plugin (fuzz/pytest_plugin.py): a user's three-line test file, run by pytest.

Inner pytest runs use pytester: in-process where no global Hypothesis state is
touched, in a subprocess for ``--hypothesis-profile`` and ``--hypothesis-seed``
(Hypothesis's plugin sets those for the whole process). Installed, the inner
pytest gets the plugin through its ``pytest11`` entry point, as a user's would;
from a bare checkout through ``-p``.
"""

import os
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

import fuzz.pytest_plugin as plugin
from fuzz.corpus import load, replay, resolve_variant
from fuzz.pytest_plugin import CI_SEED, plan
from models.variants import VariantError

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = any(ep.name == "vmafuzz" and ep.value == "fuzz.pytest_plugin"
                for ep in entry_points(group="pytest11")) \
    and not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
# -p with the module would register it a second time, under another name
PLUGIN = [] if INSTALLED else ["-p", "fuzz.pytest_plugin", "-W", "ignore::pytest.PytestAssertRewriteWarning"]

# B-acquire-retry (docs/examples/my_variant.py) as a user who believes it holds
# would write it: the fuzzer finds the in-lock read.
USER_VARIANT = '''
from models.ops import smp_load_acquire
from models.protocols import ProtocolB


class AcquireRetry(ProtocolB):
    name = "B-acquire-retry"
    description = "retry with smp_load_acquire instead of smp_rmb + READ_ONCE"
    expected = "holds"

    def retry_ok(self, s):
        now = yield smp_load_acquire(self.mm.mm_lock_seq)
        return now == s
'''
# a seed that finds it within the budget (any seed's run repeats exactly). The
# failing test does not shrink (seconds more on 2 busy cores); `vmafuzz run`
# shrinks, and so does the plugin by default.
SEED = 1429036359


def _three_lines(body: str) -> str:
    text = f"from fuzz.pytest_plugin import vmafuzz_test\n\n{body}\n"
    assert text.count("\n") == 3
    return text


def test_the_entry_point_is_declared_and_loads_the_plugin():
    tomllib = pytest.importorskip("tomllib")      # Python 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    value = project["entry-points"]["pytest11"]["vmafuzz"]
    # what pytest does with it once installed
    mod = EntryPoint("vmafuzz", value, "pytest11").load()
    assert mod is plugin
    assert callable(mod.pytest_addoption) and callable(mod.pytest_configure)


def test_a_failing_user_variant_shows_trace_rule_seed_and_corpus_file(pytester):
    pytester.makepyfile(my_variant=USER_VARIANT)
    pytester.makepyfile(test_mine=_three_lines(
        f'test_my_variant = vmafuzz_test("my_variant.py:AcquireRetry", max_examples=300, seed={SEED}, shrink=False)'))
    corpus = pytester.path / "saved"
    res = pytester.runpytest(*PLUGIN, f"--vmafuzz-corpus={corpus}")
    res.assert_outcomes(failed=1)
    out = res.stdout.str()
    # vmafuzz run's report: the kernel trace (numbered steps, the stale read) and the rule
    res.stdout.fnmatch_lines([
        "B-acquire-retry on 1 VMA, 1 writer x 1 cycle, 1 reader x 1 lookup: VIOLATED after * example*shrunk to *",
        " step  thread   operation",
        "   #1  *<- initial value",
        "*#*reader0  smp_load_acquire(mm->mm_lock_seq) = *   STALE",
        "*reader0  -- lookup 0: success",
        "VIOLATION: *",
        f"saved to {corpus}/B/B-acquire-retry/*.json",
        "expected: holds; outcome: violated",
        f"repeat the run:   vmafuzz run my_variant.py:AcquireRetry --seed {SEED} --max-examples 300",
        # relative to where pytest runs, to paste there
        # the user's own file runs on replay only when named (docs/corpus-format.md)
        "replay the trace: vmafuzz replay --variant-file my_variant.py saved/B/B-acquire-retry/*.json",
    ])
    # the report, not raw Hypothesis draws or a Python traceback
    assert "state.step" not in out and "data(" not in out and "Traceback" not in out
    saved = list(corpus.glob("B/B-acquire-retry/*.json"))
    assert len(saved) == 1
    entry = load(saved[0])
    rule = next(line for line in out.splitlines() if line.startswith("VIOLATION: "))[len("VIOLATION: "):]
    assert entry.variant_file == "my_variant.py" and entry.expected.rule == rule
    r = replay(entry, resolve_variant(entry, str(saved[0])))
    assert r.reproduces and r.violation.rule == entry.expected.rule


def test_variants_as_expected_pass(pytester):
    # a holding variant on a small budget, and a violated one (docs example)
    # found at its default expectation, with its path relative to the test file
    sub = pytester.mkdir("sub")
    (sub / "my_variant.py").write_text((ROOT / "docs/examples/my_variant.py").read_text())
    (sub / "test_ok.py").write_text(
        "from fuzz.pytest_plugin import vmafuzz_test\n\n"
        "test_b = vmafuzz_test('B', max_examples=25)\n"
        f"test_mine = vmafuzz_test('my_variant.py:B-acquire-retry', seed={SEED})\n")
    res = pytester.runpytest(*PLUGIN, "-v")
    res.assert_outcomes(passed=2)
    assert not list(pytester.path.rglob("vmafuzz-corpus"))      # nothing saved for a pass
    # and the marker deselects them
    pytester.runpytest(*PLUGIN, "-m", "not vmafuzz").assert_outcomes(deselected=2)


def test_an_expected_violation_not_found_fails(pytester):
    pytester.makepyfile(test_x=_three_lines("test_b = vmafuzz_test('B', expect='violated', max_examples=15, seed=5)"))
    res = pytester.runpytest(*PLUGIN)
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines([
        "B on 1 VMA, 1 writer x 1 cycle, 1 reader x 1 lookup: HOLDS over * examples*",
        "expected: violated; outcome: holds (raise max_examples or seconds if the finding is rare)",
        "repeat the run:   vmafuzz run B --seed 5 --max-examples 15",
    ])
    assert "replay the trace" not in res.stdout.str()


def test_bad_arguments_fail_in_one_line(pytester):
    pytester.makepyfile(test_x=_three_lines("test_x = vmafuzz_test('B', cycels=2)"))
    res = pytester.runpytest(*PLUGIN)
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["vmafuzz: unknown option cycels; scenario options are vmas, *"])
    assert "Traceback" not in res.stdout.str()


def test_profiles_and_seed_from_the_command_line_without_a_conftest(pytester, monkeypatch):
    # A subprocess: Hypothesis's plugin loads the profile and seed process-wide.
    # The checkout on the path in any case: an entry point seen from it (a
    # vmafuzz.egg-info a build left there) is then seen by the subprocess too.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(test_profile=(
        "from hypothesis import settings\n"
        "from fuzz.pytest_plugin import vmafuzz_test\n\n"
        "def test_loaded():\n"
        "    assert settings.default.derandomize and settings.default.database is None\n\n"
        "test_seeded = vmafuzz_test('B-no-rmb', expect='holds', shrink=False)\n"))
    assert not list(pytester.path.glob("conftest.py"))
    res = pytester.runpytest_subprocess(*PLUGIN, "--hypothesis-profile=vmafuzz-ci", "--hypothesis-seed=7")
    res.assert_outcomes(passed=1, failed=1)
    res.stdout.fnmatch_lines(["VIOLATION: *", "repeat the run:   vmafuzz run B-no-rmb --seed 7 --max-examples 2000"])


def test_plan_seed_and_command_line(tmp_path):
    # derandomized: the fixed seed; the command line names only what differs from the defaults
    p = plan(None, "A-narrow-seq", profile="ci", max_examples=50, seconds=2.5, cycles=3, burst=8)
    assert p.seed == CI_SEED and p.expect == "violated"
    assert p.command() == "vmafuzz run A-narrow-seq --cycles 3 --seed 0 --max-examples 50 --seconds 2.5 --burst 8"
    # random seeds differ from run to run (2**32 of them)
    assert len({plan(None, "B", profile="dev").seed for _ in range(4)}) > 1
    assert plan(None, "B", seed=11, slab="rcu", spare_files=3).command() == \
        "vmafuzz run B --spare-files 3 --slab rcu --seed 11 --max-examples 2000"


def test_plan_finds_a_user_file_beside_the_test_and_rejects_nonsense(tmp_path, monkeypatch):
    (tmp_path / "v.py").write_text(USER_VARIANT)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    p = plan(None, "v.py:B-acquire-retry", base=tmp_path, seed=1)
    assert p.variant.name == "B-acquire-retry" and p.expect == "holds"
    # outside the current directory the command line names the file absolutely
    assert p.spec == f"{tmp_path / 'v.py'}:B-acquire-retry"
    with pytest.raises(VariantError):
        plan(None, "v.py:B-acquire-retry", base=elsewhere)
    with pytest.raises(ValueError, match="expect must be"):
        plan(None, "B", expect="broken")
    with pytest.raises(ValueError, match="profile must be"):
        plan(None, "B", profile="fast")


def test_the_fixture_returns_the_result(pytester):
    pytester.makepyfile(test_fix='''
        def test_it(vmafuzz):
            r = vmafuzz("B-no-rmb", seed=3)
            assert r.verdict == "violated" and r.failure is not None
    ''')
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)
