"""The pytest plugin (entry point ``pytest11``, name ``vmafuzz``): fuzz a variant as a test case.

Installing the project registers it, so in any project:

* ``pytest --hypothesis-profile=vmafuzz-ci`` (or ``vmafuzz-dev``) works without a
  conftest: importing this module imports ``fuzz.machine``, which registers the
  profiles, and pytest imports entry-point plugins before Hypothesis's own plugin
  loads the profile named on the command line;
* a test file of three lines turns a variant and a scenario into a test::

      from fuzz.pytest_plugin import vmafuzz_test

      test_mine = vmafuzz_test("my_variant.py:MyVariant", cycles=2, seconds=20)

* the ``vmafuzz`` fixture does the same inside a test of one's own (parametrized,
  or with more assertions on the ``FuzzResult`` it returns).

A test passes when the fuzzer's outcome agrees with ``expect`` (default: the
variant's ``expected``), with ``fuzz.oracle.matches_expected``, the rule the
campaign uses. Otherwise it fails with the report ``vmafuzz run`` prints (the
kernel trace and the broken rule, shrunk), the corpus file written, and the
``vmafuzz run ... --seed N`` command line that repeats the run; never raw
Hypothesis draws, because ``fuzz()`` keeps them inside the state machine.

Every run has an explicit seed, so that the command line printed repeats it: the
``seed=`` argument; else ``--hypothesis-seed``; else, when the loaded profile
derandomizes (``vmafuzz-ci``), the fixed ``CI_SEED``; else a fresh random one.
A seeded run does not use the example database (as ``vmafuzz run --seed``).
docs/pytest.md is the user's guide.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

import attrs
import pytest
from hypothesis import settings

from models.scenario import Scenario, ScenarioError
from models.variants import BY_NAME, VariantError, resolve

from .corpus import load
from .machine import DEFAULT_BURST, PROFILE_CI, PROFILE_DEV, FuzzResult, fuzz, register_profiles
from .oracle import matches_expected
from .run_cmd import DEFAULT_MAX_EXAMPLES, Budget, print_result, save_failure, save_race

# The seed of a derandomized run (profile vmafuzz-ci): fixed, so CI sees the same
# examples on every run and a red CI is repeated by the command line it prints.
CI_SEED = 0

_SCENARIO_FIELDS = tuple(a.name for a in attrs.fields(Scenario))
# Scenario fields as `vmafuzz run` options, for the reproducing command line.
_OPTION = {name: "--" + name.replace("_", "-") for name in _SCENARIO_FIELDS}


# ------------------------------------------------------------------ pytest hooks

def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("vmafuzz")
    g.addoption("--vmafuzz-corpus", metavar="DIR", default=None,
                help="where a failing vmafuzz test saves its counterexample (default: "
                "vmafuzz-corpus/ under pytest's temporary directory; the project's corpus/ keeps it)")


def pytest_configure(config: pytest.Config) -> None:
    # The profiles are registered on import already; again here in case another
    # plugin reset Hypothesis's registry (harmless, see register_profiles).
    register_profiles()
    config.addinivalue_line("markers", "vmafuzz: a test that fuzzes a protocol variant "
                            "(deselect with -m 'not vmafuzz')")


@pytest.fixture
def vmafuzz(request: pytest.FixtureRequest) -> Callable[..., FuzzResult]:
    """``vmafuzz(variant, **options) -> FuzzResult``: fuzz, and fail the test with
    the report unless the outcome is the expected one (options: see vmafuzz_test)."""
    def check(variant, **options) -> FuzzResult:
        return run_check(request, variant, base=request.path.parent, **options)
    return check


# ------------------------------------------------------------------ the one-liner

def vmafuzz_test(variant, **options) -> Callable[[pytest.FixtureRequest], None]:
    """A test function: bind it to a name starting with ``test`` in a test module.

    ``variant``: a shipped variant's name, ``FILE.py:NAME`` (a relative FILE is
    looked up beside the calling test file first, then in the current directory),
    or a variant class. Options: ``expect`` ("holds", "violated" or "data race";
    default the variant's ``expected``), ``max_examples`` (default 2000),
    ``seconds``, ``seed``, ``steps``, ``burst``, ``profile`` ("ci" or "dev";
    default from the loaded Hypothesis profile), ``shrink`` (default: only when
    the finding fails the test), ``guided`` (default True: the coverage-guided
    runs between examples; False is ``--no-guided``), and the scenario: ``vmas``, ``writers``,
    ``cycles``, ``readers``, ``lookups``, ``width``, ``spare_files``, ``slab``
    (default: the variant's own).
    """
    caller = sys._getframe(1).f_globals.get("__file__")
    base = Path(caller).resolve().parent if caller else None

    @pytest.mark.vmafuzz
    def test(request: pytest.FixtureRequest) -> None:
        run_check(request, variant, base=base, **options)

    test.__doc__ = f"vmafuzz: {_label(variant)} fuzzed, outcome as expected"
    return test


# ------------------------------------------------------------------ the check

@attrs.frozen(slots=True)
class Plan:
    """One fuzz run as the test will do it, and as `vmafuzz run` repeats it."""

    variant: Any                # the variant class
    spec: str                   # how `vmafuzz run` names it
    scenario: Scenario
    expect: str
    seed: int
    profile: str                # PROFILE_CI or PROFILE_DEV
    max_examples: int
    seconds: float | None
    steps: int | None
    burst: int
    shrink: bool | None         # None: only when the finding fails the test
    guided: bool = True         # the coverage-guided phase between examples (fuzz/guided.py)

    def command(self) -> str:
        words = ["vmafuzz", "run", self.spec]
        default = Scenario.default_for(self.variant)
        for name in _SCENARIO_FIELDS:
            value = getattr(self.scenario, name)
            if value != getattr(default, name):
                words += [_OPTION[name], str(value)]
        words += ["--seed", str(self.seed), "--max-examples", str(self.max_examples)]
        if self.seconds is not None:
            words += ["--seconds", f"{self.seconds:g}"]
        if self.steps is not None:
            words += ["--steps", str(self.steps)]
        if self.burst != DEFAULT_BURST:
            words += ["--burst", str(self.burst)]
        if not self.guided:
            words += ["--no-guided"]
        return " ".join(shlex.quote(w) for w in words)


def plan(config: pytest.Config | None, variant, *, base: Path | None = None, expect: str | None = None,
         max_examples: int = DEFAULT_MAX_EXAMPLES, seconds: float | None = None, seed: int | None = None,
         steps: int | None = None, burst: int = DEFAULT_BURST, profile: str | None = None,
         shrink: bool | None = None, guided: bool = True, **scenario: Any) -> Plan:
    """Resolve a test's arguments. Raises VariantError, ScenarioError, ValueError
    (shown as one line by ``run_check``)."""
    unknown = sorted(set(scenario) - set(_SCENARIO_FIELDS))
    if unknown:
        raise ValueError(f"unknown option {', '.join(unknown)}; scenario options are "
                         f"{', '.join(_SCENARIO_FIELDS)}")
    cls, spec = _variant(variant, base)
    if expect is None:
        expect = cls.expected
    if expect not in ("holds", "violated", "data race"):
        raise ValueError(f"expect must be 'holds', 'violated' or 'data race', not {expect!r}")
    if max_examples < 1:
        raise ValueError("max_examples must be at least 1")
    if profile is None:
        profile = PROFILE_CI if settings.default.derandomize else PROFILE_DEV
    elif profile in ("ci", "dev"):
        profile = PROFILE_CI if profile == "ci" else PROFILE_DEV
    else:
        raise ValueError(f"profile must be 'ci' or 'dev', not {profile!r}")
    if seed is None:
        seed = _seed(config, profile)
    return Plan(cls, spec, Scenario.default_for(cls, **scenario), expect, seed, profile,
                max_examples, seconds, steps, burst, shrink, guided)


def run_check(request: pytest.FixtureRequest, variant, *, base: Path | None = None,
              **options: Any) -> FuzzResult:
    """Fuzz as planned; fail the test (no Python traceback: the report is the
    story) unless the outcome is the expected one."""
    try:
        p = plan(request.config, variant, base=base, **options)
    except (VariantError, ScenarioError, ValueError) as exc:
        pytest.fail(f"vmafuzz: {exc}", pytrace=False)
    # Shrinking only pays when the finding is reported: a violation a test
    # expects ends the run at once, as in the CI checks.
    shrink = p.shrink if p.shrink is not None else p.expect == "holds"
    result = fuzz(p.variant, p.scenario, max_examples=p.max_examples, seconds=p.seconds, seed=p.seed,
                  max_steps=p.steps, max_burst=p.burst, profile=p.profile, database=None, shrink=shrink,
                  guided=p.guided)
    if matches_expected(p.expect, result.verdict, result.race is not None):
        return result
    pytest.fail(failure_report(request, p, result), pytrace=False)


def failure_report(request: pytest.FixtureRequest, p: Plan, result: FuzzResult) -> str:
    """`vmafuzz run`'s own report (run_cmd.print_result), with the corpus file it
    saved, then what was expected and how to repeat it."""
    corpus = Path(_corpus_dir(request))
    saved = Budget(corpus=str(corpus))
    corpus_file, new = save_failure(saved, p.variant, result)
    race_file, race_new = save_race(saved, p.variant, result)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_result(p.variant, result, corpus_file, new, False, False, False, race_file, race_new)
    lines = [out.getvalue().rstrip("\n"), "",
             f"expected: {p.expect}; outcome: {result.verdict}"
             + ("" if result.failure is not None or result.race is not None else
                " (raise max_examples or seconds if the finding is rare)"),
             f"repeat the run:   {p.command()}"]
    for f in (corpus_file, race_file if race_file != corpus_file else None):
        if f:
            # a user's protocol file runs on replay only when named (docs/corpus-format.md)
            vfile = load(Path(f)).variant_file
            named = f"--variant-file {shlex.quote(vfile)} " if vfile else ""
            lines.append(f"replay the trace: vmafuzz replay {named}{shlex.quote(_shown_path(f))}")
    return "\n".join(lines)


# ------------------------------------------------------------------ helpers

def _variant(variant, base: Path | None) -> tuple[type, str]:
    """The class, and the name `vmafuzz run` knows it by."""
    if isinstance(variant, type):
        if BY_NAME.get(getattr(variant, "name", None)) is variant:
            return variant, variant.name
        path = getattr(variant, "__vmafuzz_file__", None) or getattr(sys.modules.get(variant.__module__),
                                                                     "__file__", None)
        if not path:
            raise VariantError(f"variant {variant.__name__}: cannot tell which file defines it")
        return variant, f"{_shown_path(path)}:{variant.name}"
    if not isinstance(variant, str):
        raise ValueError(f"a variant is a name, FILE.py:NAME or a class, not {variant!r}")
    spec = variant
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        path, name = spec.rsplit(":", 1)
        found = Path(path)
        # beside the test file first: a user's variant usually lives next to its test
        if not found.is_absolute() and base is not None and (base / found).is_file():
            found = base / found
        spec = f"{_shown_path(found)}:{name}"
    return resolve(spec), spec


def _shown_path(path) -> str:
    """Relative to the current directory when inside it: the command lines printed
    are meant to be pasted where pytest ran."""
    full = Path(path).resolve()
    try:
        return str(full.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(full)


def _seed(config: pytest.Config | None, profile: str) -> int:
    forced = config.getoption("hypothesis_seed", None) if config is not None else None
    if forced is not None:
        try:
            return int(forced)
        except ValueError:
            # Hypothesis accepts any string; `vmafuzz run --seed` wants a number
            return int.from_bytes(hashlib.sha256(str(forced).encode()).digest()[:4], "big")
    if profile == PROFILE_CI:
        return CI_SEED
    return random.SystemRandom().randrange(2 ** 32)


def _corpus_dir(request: pytest.FixtureRequest) -> str:
    chosen = request.config.getoption("vmafuzz_corpus", None)
    if chosen:
        return os.path.abspath(chosen)
    # pytest keeps its last few temporary directories, so the file outlives the run
    return str(request.getfixturevalue("tmp_path_factory").getbasetemp() / "vmafuzz-corpus")


def _label(variant) -> str:
    return variant.name if isinstance(variant, type) else str(variant)


__all__ = ["CI_SEED", "Plan", "plan", "run_check", "vmafuzz", "vmafuzz_test"]
