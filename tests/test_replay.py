"""``vmafuzz replay``: reports, exit statuses, corrupt files among good ones."""

import json
import shutil

import pytest

from fuzz.cli import main
from fuzz.corpus import entry_from_explorer, save
from models.scenario import Scenario
from models.variants import BY_NAME


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for name in ("A-no-recheck", "B-read-locked-change"):
        v = BY_NAME[name]
        save(entry_from_explorer(v, Scenario.default_for(v)), root, v.protocol)
    return root


def test_replay_all_reproduce(good, capsys):
    assert main(["replay", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.count("REPRODUCES:") == 2 and "VIOLATION:" in out and "step" in out


def test_replay_json(good, capsys):
    assert main(["replay", "--json", str(good)]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {o["status"] for o in objs} == {"reproduces"}
    assert all(o["rule"] == o["expected"]["rule"] for o in objs)


def test_corrupt_files_are_reported_and_the_rest_replay(good, tmp_path, capsys):
    root = tmp_path / "c"
    shutil.copytree(good, root)
    one = sorted(root.rglob("*.json"))[0]
    text = one.read_text()
    (root / "truncated.json").write_text(text[: len(text) // 3])
    doc = json.loads(text)
    (root / "version.json").write_text(json.dumps(dict(doc, version=99)))
    doc["variant"] = {"name": "A-nonexistent"}
    (root / "unknown.json").write_text(json.dumps(doc))
    assert main(["replay", str(root)]) == 2
    cap = capsys.readouterr()
    errors = cap.err.strip().splitlines()
    assert len(errors) == 3
    assert any("truncated.json: line" in e and "invalid JSON" in e for e in errors)
    assert any("version.json: format version 99" in e for e in errors)
    assert any("unknown.json: unknown variant 'A-nonexistent'" in e for e in errors)
    assert cap.out.count("REPRODUCES:") == 2


def test_a_trace_that_no_longer_reproduces_exits_1(good, tmp_path, capsys):
    src = sorted(good.rglob("*.json"))[0]
    doc = json.loads(src.read_text())
    doc["expected"]["rule"] = "use after free" if doc["expected"]["rule"] != "use after free" \
        else "torn version"
    (tmp_path / "f.json").write_text(json.dumps(doc))
    assert main(["replay", str(tmp_path / "f.json")]) == 1
    assert "NO LONGER REPRODUCES" in capsys.readouterr().out


def test_no_files_is_a_usage_error(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == 2


def test_columns_put_each_line_under_its_thread(good, capsys):
    main(["replay", str(good)])
    listed = capsys.readouterr().out
    main(["replay", "--columns", str(good)])
    columns = capsys.readouterr().out
    for block_list, block_cols in zip(listed.split("== ")[1:], columns.split("== ")[1:]):
        head = next(ln for ln in block_cols.splitlines() if ln.startswith(" step"))
        names = head.split()[1:]
        offset = {n: head.index(n) for n in names}
        trace_list = block_list.split(" step  thread")[1].split("VIOLATION")[0].splitlines()[1:]
        trace_cols = block_cols.split(head)[1].split("VIOLATION")[0].splitlines()[1:]
        assert len(names) == 2 and trace_list and len(trace_list) == len(trace_cols)
        for a, b in zip(trace_list, trace_cols):
            label, thread, text = a[:5], a[7:].split()[0], a[7:].split(None, 1)[1].lstrip()
            assert b[:5] == label                            # the same step numbers
            assert b[offset[thread]:] == text                # under its own thread's column
            assert not b[5:offset[thread]].strip()


def test_an_empty_folder_among_good_paths_is_named(good, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["replay", "--no-trace", str(good), str(empty)]) == 2
    out, err = capsys.readouterr()
    assert out.count("REPRODUCES:") == 2
    assert err.strip() == f"vmafuzz: {empty}: no corpus files (*.json) in this folder"
