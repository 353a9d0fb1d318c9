"""The protocol API (issue 8): any family through one interface, the seqlock
family, verdicts that name their bounds, errors from user code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from fuzz.cli import main
from fuzz.exhaustive import check_variant
from fuzz.machine import PROFILE_CI, fuzz
from models import protocol
from models.engine import Execution, FirstChooser
from models.scenario import Scenario, build
from models.seqlock import TORN_PAIR
from models.variants import BY_NAME, SHIPPED, resolve

ROOT = Path(__file__).resolve().parents[1]
SEQLOCK = [v for v in SHIPPED if v.family == "seqlock"]
RELOCK = f"{ROOT}/docs/examples/relock.py:B-relock-skips-begin"
MP = f"{ROOT}/docs/examples/message_passing.py"


# ---------------------------------------------------------------- the seqlock family

def test_the_seqlock_family_ships_base_and_six_variants():
    names = {v.name for v in SEQLOCK}
    assert names == {"seqlock", "seqlock-no-begin-wmb", "seqlock-no-end-wmb", "seqlock-no-begin-rmb",
                     "seqlock-no-retry-rmb", "seqlock-no-odd-check", "seqlock-no-retry"}


@pytest.mark.parametrize("variant", SEQLOCK, ids=lambda v: v.name)
def test_every_seqlock_variant_gets_its_verdict_from_exploration(variant):
    r = check_variant(variant, Scenario.default_for(variant))
    assert r.verdict == variant.expected
    if r.verdict == "violated":
        assert r.violation.rule == TORN_PAIR
        ends = [g[1] for g in r.execution.ghosts if isinstance(g[1], protocol.Observation)]
        assert ends[-1].outcome == "success" and ends[-1].a != ends[-1].b   # in its own terms


@pytest.mark.parametrize("name", ["seqlock-no-retry", "seqlock-no-end-wmb"])
def test_the_fuzzer_shrinks_a_seqlock_bug_to_the_explorers_shortest(name):
    v = BY_NAME[name]
    sc = Scenario.default_for(v)
    shortest = check_variant(v, sc).shortest_steps
    r = fuzz(v, sc, max_examples=2000, seed=1, profile=PROFILE_CI, database=None)
    assert r.verdict == "violated" and r.failure.steps == shortest


def test_the_seqlock_uses_only_the_public_api():
    tree = ast.parse((ROOT / "models/seqlock/__init__.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "typing", "models.events", "models.ops", "models.protocol"}
    assert len((ROOT / "models/seqlock/__init__.py").read_text().splitlines()) < 180


# ---------------------------------------------------------------- one interface, any family

def test_ghosts_are_typed_records_not_tuples():
    v = BY_NAME["B"]
    world = build(v, Scenario.default_for(v))
    ex = Execution(world.threads)
    ex.run(FirstChooser())
    kinds = {type(g[1]).__name__ for g in ex.ghosts}
    assert kinds == {"Commit", "LookupEnd"}
    assert all(not isinstance(g[1], tuple) for g in ex.ghosts)


def test_a_subclass_joins_the_registry_and_old_names_are_aliases():
    import models.protocols as old
    import models.variants as variants

    class Mine(old.ProtocolB):
        name = "test-registry-mine"

    assert protocol.registry()["test-registry-mine"] is Mine
    assert Mine not in SHIPPED                       # only the shipped families' modules
    assert old.ProtocolB is BY_NAME["B"] and variants.B_no_rmb is BY_NAME["B-no-rmb"]
    assert resolve(f"{ROOT}/docs/examples/my_variant.py:B-acquire-retry").family == "B"


@pytest.mark.parametrize("name,verdict", [("mp", "holds"), ("mp-no-rmb", "violated"), ("mp-no-wmb", "violated")])
def test_a_family_written_from_scratch_in_a_user_file(name, verdict, capsys):
    rc = main(["explore", f"{MP}:{name}", "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert obj["verdict"] == verdict and rc == (0 if verdict == "holds" else 1)
    if verdict == "violated":
        assert obj["rule"] == "message lost"


def test_a_family_refuses_scenario_options_it_does_not_take(capsys):
    assert main(["explore", "seqlock", "--vmas", "2"]) == 2
    assert "takes no --vmas" in capsys.readouterr().err


# ---------------------------------------------------------------- bounds

def test_explore_deepens_and_finds_a_bug_that_needs_two_cycles(capsys):
    rc = main(["explore", RELOCK, "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert rc == 1 and obj["verdict"] == "violated" and obj["scenario"]["cycles"] == 2
    assert [lv["verdict"] for lv in obj["bound"]["smaller"]] == ["holds"]
    assert obj["bound"]["smaller"][0]["scenario"]["cycles"] == 1


def test_explore_with_a_fixed_scenario_does_not_deepen(capsys):
    assert main(["explore", RELOCK, "--cycles", "1", "--no-trace"]) == 0
    out = capsys.readouterr().out
    assert "HOLDS on 1 VMA, 1 writer x 1 cycle" in out
    assert "bound: exhaustive: every execution of 1 VMA, 1 writer x 1 cycle, 1 reader x 1 lookup" in out


def test_a_holds_from_explore_names_the_largest_scenario_completed(capsys):
    assert main(["explore", "seqlock", "--deepen-states", "1500", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    b = obj["bound"]
    assert b["search"] == "exhaustive" and b["complete"] and b["states"] == obj["states"]
    assert obj["scenario"]["cycles"] == 2 and b["scenario"] == obj["scenario"]
    assert "exhaustive: every execution of 1 writer x 2 writes" in b["text"]
    assert b["cut_short"] is not None


def test_a_holds_from_run_names_the_examples_and_scenarios(capsys):
    assert main(["run", "seqlock", "--max-examples", "40", "--profile", "ci", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "bound: fuzzed: " in out and "scenarios drawn (cycles, readers) from 1 writer x 1 write" in out
    assert main(["run", "seqlock", "--cycles", "2", "--max-examples", "40", "--profile", "ci", "--no-save",
                 "--json"]) == 0
    b = json.loads(capsys.readouterr().out)["bound"]
    assert b["search"] == "fuzzed" and b["examples"] >= 40 and b["upto"] is None
    assert b["scenario"]["cycles"] == 2 and "scenario 1 writer x 2 writes" in b["text"]


def test_run_finds_a_bug_that_needs_two_cycles_without_scenario_options(capsys, tmp_path):
    rc = main(["run", RELOCK, "--seconds", "30", "--seed", "1", "--profile", "ci", "--json",
               "--corpus", str(tmp_path)])
    obj = json.loads(capsys.readouterr().out)
    assert rc == 1 and obj["verdict"] == "violated" and obj["scenario"]["cycles"] == 2


def test_campaign_takes_a_user_file_and_scenario_options(capsys):
    rc = main(["campaign", RELOCK, "--cycles", "2", "--max-examples", "400", "--seed", "1",
               "--profile", "ci", "--no-save", "--json"])
    obj, summary = map(json.loads, capsys.readouterr().out.splitlines())   # the variant, then the summary
    assert rc == 0 and obj["verdict"] == "violated" and obj["matches"]
    assert summary["summary"]["as_expected"] == 1
    assert obj["scenario"]["cycles"] == 2


# ---------------------------------------------------------------- errors from user code

BROKEN = '''from models.protocols import ProtocolB
from models.seqlock import Seqlock


class Crash(ProtocolB):
    name = "crash"

    def retry_ok(self, s):
        yield self.rmb()
        raise ValueError("boom")


class NoCommit(ProtocolB):
    name = "no-commit"

    def mmap_write_unlock(self, cyc):
        yield from self.seq_end(cyc)


class NotLoaded(ProtocolB):
    name = "not-loaded"

    def speculative_lookup(self, i):
        got = yield from super().speculative_lookup(i)
        if got is None:
            return None
        return self.success(got[1]["vma"], got[1]["vm_file"], got[1]["f_inode"], 7, got[1]["vm_start"])


class BadInvariant(Seqlock):
    name = "bad-invariant"

    def check(self, ex):
        return 1 // 0
'''


@pytest.mark.parametrize("name,line,words", [
    ("crash", 10, "ValueError in thread reader0: boom"),
    ("no-commit", 13, "ended without `yield cyc.commit()`"),
    ("not-loaded", 20, "success() got vm_pgoff = 7, a value not loaded from memory"),
    ("bad-invariant", 34, "ZeroDivisionError"),
])
@pytest.mark.parametrize("command", ["explore", "run"])
def test_user_code_errors_are_one_line_with_file_and_line_exit_2(tmp_path, capsys, name, line, words, command):
    f = tmp_path / "broken.py"
    f.write_text(BROKEN)
    extra = ["--max-examples", "5", "--no-save"] if command == "run" else []
    assert main([command, f"{f}:{name}", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"vmafuzz: {f}:{line}: ") and words in err
