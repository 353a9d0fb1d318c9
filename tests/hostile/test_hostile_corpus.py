"""Hostile corpus files (issue 11, items 4, 6, 7, 11): every field nulled, retyped
or deepened, version variants, nesting, truncations. A bad file is one line
naming it (and the field or position), exit 2; the good file replayed with it
still reproduces; nothing is written."""

from __future__ import annotations

import copy
import json
import os
import time

import pytest

from hostile_support import (GOOD_CORPUS, assert_no_traceback, assert_nothing_half_written, assert_one_line,
                             call, listing, truncations)

DOC = json.loads(GOOD_CORPUS.read_text())
DEEP = json.loads("[" * 40 + "1" + "]" * 40)     # deeper than any corpus file
VALUES = {"null": None, "true": True, "false": False, "float": 1.0, "minus": -1, "zero": 0, "huge": 10 ** 40,
          "str": "x", "empty-str": "", "list": [], "dict": {}, "deep": DEEP, "nan-like": "NaN"}


def _paths(doc, pre=()):
    yield pre
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, pre + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:2]):
            yield from _paths(v, pre + (i,))


def _set(doc, path, value):
    if not path:
        return value
    d = copy.deepcopy(doc)
    cur = d
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return d


def replay_pair(tmp_path, capsys, text: str | bytes):
    """``replay --json BAD GOOD``: the outcome, the bad file, and the JSON records by file."""
    bad = tmp_path / "bad.json"
    (bad.write_bytes if isinstance(text, bytes) else bad.write_text)(text)
    before = listing(tmp_path)
    o = call(["replay", "--json", bad, GOOD_CORPUS], capsys)
    assert_nothing_half_written(tmp_path, before)
    assert_no_traceback(o)
    records = {r["file"]: r for r in map(json.loads, o.out.splitlines())}
    assert records[str(GOOD_CORPUS)]["status"] == "reproduces", "the good file was not replayed"
    return o, bad, records


def check_any(o, bad, records) -> None:
    """Still a usable file (replays, reproducing or not: exit 0 or 1, nothing on
    standard error), or one line naming it and exit 2."""
    if o.status in (0, 1):
        assert not o.err_lines, o.err
        assert records[str(bad)]["status"] in ("reproduces", "differs")
        return
    assert_one_line(o, str(bad), 2)
    assert records[str(bad)]["status"] == "error"


FIELDS = [(p, name) for p in _paths(DOC) for name in VALUES]


@pytest.mark.parametrize("path,value", FIELDS, ids=[f"{'.'.join(map(str, p)) or 'top'}={v}" for p, v in FIELDS])
def test_every_field_retyped(tmp_path, capsys, path, value):
    o, bad, records = replay_pair(tmp_path, capsys, json.dumps(_set(DOC, path, VALUES[value])))
    check_any(o, bad, records)
    if path in (("scenario", "writers"), ("scenario", "readers"), ("scenario", "cycles")) and value == "null":
        # issue 11, item 4: a null count was a TypeError
        assert o.status == 2 and "scenario: " + path[1] in o.err


VERSIONS = {"true": "true", "float": "1.0", "exp": "1e0", "string": '"1"', "two": "2", "zero": "0", "null": "null",
            "list": "[1]", "object": '{"v": 1}', "false": "false", "huge": "1" + "0" * 5000, "negative": "-1"}


@pytest.mark.parametrize("raw", list(VERSIONS.values()), ids=list(VERSIONS))
def test_version_must_be_the_integer_1(tmp_path, capsys, raw):
    text = json.dumps(DOC).replace('"version": 1', f'"version": {raw}', 1)
    o, bad, _ = replay_pair(tmp_path, capsys, text)
    line = assert_one_line(o, str(bad))
    assert "version" in line or "invalid JSON" in line


def test_version_missing(tmp_path, capsys):
    doc = dict(DOC)
    del doc["version"]
    o, bad, _ = replay_pair(tmp_path, capsys, json.dumps(doc))
    assert "version" in assert_one_line(o, str(bad))


NESTINGS = {
    "top-1000": "[" * 1000 + "]" * 1000,
    "top-100000": "[" * 100000 + "]" * 100000,
    "objects-1000": '{"a":' * 1000 + "1" + "}" * 1000,
    "note-1000": json.dumps(DOC).replace('"note": ', '"note": ' + "[" * 1000 + '"x"' + "]" * 1000 + ", \"n2\": ", 1),
    "scenario-500": json.dumps(_set(DOC, ("scenario", "slab"), 0)).replace(
        '"slab": 0', '"slab": ' + "[" * 500 + "]" * 500),
    "decision-1000": json.dumps(DOC).replace('"decisions": [', '"decisions": [' + "[" * 1000 + "]" * 1000 + ",", 1),
    "unclosed-1000": "[" * 1000,
    "strings-with-brackets": json.dumps(_set(DOC, ("note",), "[" * 5000)),
}


@pytest.mark.parametrize("text", list(NESTINGS.values()), ids=list(NESTINGS))
def test_deep_json_is_one_line(tmp_path, capsys, text):
    o, bad, records = replay_pair(tmp_path, capsys, text)
    if text.startswith('{"format"') and "note" in text and text.count("[") > 1000 and '"n2"' not in text:
        check_any(o, bad, records)          # brackets inside a string are no nesting
        return
    line = assert_one_line(o, str(bad))
    assert "nested more than" in line or "invalid JSON" in line


TEXT = json.dumps(DOC, indent=1)
CUTS = truncations(TEXT, 60)


@pytest.mark.parametrize("cut", CUTS)
def test_truncated(tmp_path, capsys, cut):
    o, bad, records = replay_pair(tmp_path, capsys, TEXT[:cut])
    assert_one_line(o, str(bad))


ODDITIES = {
    "duplicate-key": TEXT.replace('"version": 1,', '"version": 1, "version": 1,', 1),
    "nan": TEXT.replace('"version": 1', '"version": NaN', 1),
    "infinity": TEXT.replace('"version": 1', '"version": Infinity', 1),
    "digit-limit": TEXT.replace('"version": 1', '"version": ' + "9" * 5000, 1),
    "top-list": "[]",
    "top-string": '"vmafuzz-corpus"',
    "top-null": "null",
    "top-number": "1",
    "empty": "",
    "whitespace": " \n\t ",
    "latin-1": TEXT.replace('"note"', '"n\u00f6te"').encode("latin-1"),
    "utf-16": TEXT.encode("utf-16"),
    "nul": b"\x00" * 100,
    "extra-field": TEXT.replace('"version": 1,', '"version": 1, "exec": "import os",', 1),
    "unknown-kind": json.dumps(_set(DOC, ("decisions", 0, 0), "eval")),
    "tid-huge": json.dumps(_set(DOC, ("decisions", 0, 1), 2 ** 70)),
    "index-out-of-range": json.dumps(_set(DOC, ("decisions", 0, 3), 99)),
    "variant-file-named": json.dumps(_set(DOC, ("variant",), {"name": "x", "file": "/etc/passwd.py"})),
}


@pytest.mark.parametrize("text", list(ODDITIES.values()), ids=list(ODDITIES))
def test_odd_files_are_one_line(tmp_path, capsys, text):
    o, bad, _ = replay_pair(tmp_path, capsys, text)
    assert_one_line(o, str(bad))


def test_byte_order_mark_is_read(tmp_path, capsys):
    o, bad, records = replay_pair(tmp_path, capsys, b"\xef\xbb\xbf" + TEXT.encode())
    assert o.status == 0 and records[str(bad)]["status"] == "reproduces"


def test_oversize_file_is_refused_unread(tmp_path, capsys):
    """Issue 11, item 6: a 100 MB corpus file replayed in 50 s and 1.7 GB."""
    from models.limits import MAX_INPUT_BYTES
    big = TEXT.replace('"note": "', '"note": "' + "x" * (MAX_INPUT_BYTES + 10), 1)
    o, bad, _ = replay_pair(tmp_path, capsys, big)
    assert "larger than" in assert_one_line(o, str(bad))
    assert o.seconds < 2


def test_one_bad_file_in_a_folder(tmp_path, capsys):
    """Issue 11, item 7: every file replays and is reported, then exit 2."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(4):
        (folder / f"good{i}.json").write_text(TEXT)
    (folder / "bad1.json").write_text(json.dumps(_set(DOC, ("scenario", "writers"), None)))
    (folder / "bad2.json").write_text("[" * 3000)
    before = listing(tmp_path)
    o = call(["replay", "--json", folder], capsys)
    assert_nothing_half_written(tmp_path, before)
    assert_no_traceback(o)
    assert o.status == 2
    records = [json.loads(ln) for ln in o.out.splitlines()]
    assert sorted(r["status"] for r in records) == ["error", "error"] + ["reproduces"] * 4
    assert len(o.err_lines) == 2 and "bad1.json: scenario: writers" in o.err_lines[0]


def test_stale_temporaries_are_cleaned_on_the_next_save(tmp_path):
    """Issue 11, item 11: a save killed mid-write left a .tmp-*.json for ever."""
    from fuzz.corpus import parse, save
    entry = parse(TEXT, "good")
    folder = tmp_path / "seqlock" / entry.variant_name
    folder.mkdir(parents=True)
    stale = folder / ".tmp-killed.json"
    young = folder / ".tmp-running.json"
    stale.write_text(TEXT)
    young.write_text(TEXT[:50])
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    path, new = save(entry, tmp_path, "seqlock")
    assert new and path.exists()
    assert not stale.exists(), "a stale temporary was left"
    assert young.exists(), "a young temporary (a save running now) was removed"
    assert sorted(p.name for p in folder.iterdir()) == sorted([path.name, young.name])
