"""The campaign's exhaustive pass: a variant the fuzzer found nothing in is explored
on the same scenario (fuzz/campaign.py, ``--exhaustive-states``)."""

from __future__ import annotations

import json

from fuzz.cli import main
from fuzz.corpus import collect, load, replay, resolve_variant

# Protocol C's real use-after-free: five preemptions at exact steps, which Hypothesis's
# random bursts alone (--no-guided) do not reach in a few examples (docs/protocols-c.md);
# the explorer finds it in about 12,000 states.
HARD = "C-foreign-mm-put"
TINY = ["--max-examples", "5", "--seconds", "5", "--workers", "1", "--json", "--no-guided"]


def _objects(capsys) -> tuple[dict, dict]:
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    return {x["variant"]: x for x in lines[:-1]}, lines[-1]["summary"]


def test_the_explorer_finds_what_the_fuzzer_let_through_and_saves_it(capsys, tmp_path):
    rc = main(["campaign", HARD, *TINY, "--corpus", str(tmp_path)])
    objs, summary = _objects(capsys)
    o = objs[HARD]
    assert rc == 0 and o["matches"] and o["verdict"] == "violated"
    assert o["found_by"] == "explorer" and o["rule"] == "use after free"
    assert o["exhaustive"]["verdict"] == "violated" and o["exhaustive"]["states"] > 1000
    # the explorer's trace is breadth first: the shortest, as `vmafuzz explore` gives it
    assert o["shrunk_steps"] == o["exhaustive"]["shortest_steps"]
    files = collect([tmp_path])
    assert len(files) == 1 and o["corpus_file"] == str(files[0])
    entry = load(files[0])
    variant = resolve_variant(entry, str(files[0]))
    assert replay(entry, variant).reproduces


def test_without_the_pass_the_fuzzer_alone_lets_it_through(capsys, tmp_path):
    rc = main(["campaign", HARD, *TINY, "--exhaustive-states", "0", "--corpus", str(tmp_path)])
    objs, _ = _objects(capsys)
    assert rc == 1 and objs[HARD]["verdict"] == "holds" and not objs[HARD]["matches"]
    assert objs[HARD]["found_by"] is None and not collect([tmp_path])


def test_a_holds_names_both_searches(capsys, tmp_path):
    rc = main(["campaign", "seqlock", *TINY, "--corpus", str(tmp_path)])
    objs, _ = _objects(capsys)
    o = objs["seqlock"]
    assert rc == 0 and o["verdict"] == "holds" and o["found_by"] is None
    assert o["exhaustive"]["verdict"] == "holds" and o["exhaustive"]["bound"]["complete"]
    rc = main(["campaign", "seqlock", "--max-examples", "5", "--seconds", "5", "--workers", "1",
               "--corpus", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "fuzzed: " in out and "exhaustive: every execution of" in out


def test_a_negative_state_budget_is_refused(capsys):
    assert main(["campaign", "seqlock", "--exhaustive-states", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--exhaustive-states" in err
