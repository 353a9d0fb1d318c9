"""The corpus of failing traces: save, load (strictly), replay.

One JSON file per trace in ``corpus/<protocol>/<variant>/<hash>.json``, the
format of docs/corpus-format.md. Replay needs neither Hypothesis nor its
database: a ``ReplayChooser`` answers the engine from the recorded decisions,
and the thread decisions drive the schedule exactly as ``Execution.run``
records them. Input is validated field by field; nothing is evaluated or
unpickled. A user's variant file named in a corpus file is loaded as
``vmafuzz run FILE.py:NAME`` would load it (it is code the user wrote).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import attrs

from models import limits
from models.engine import Decision, Execution, ModelError, ReplayChooser, ReplayDivergence
from models.scenario import Scenario, ScenarioError, build
from models.variants import BY_NAME, VariantError, resolve

from .oracle import DATA_RACE, DataRace, Oracle, Violation, lookup_finished, rules_of
from .report import Trace

FORMAT = "vmafuzz-corpus"
VERSION = 1
KINDS = ("thread", "rf", "co")
_SCENARIO_INT = ("vmas", "writers", "cycles", "readers", "lookups", "width", "spare_files")
_SCENARIO_NULLABLE = ("width", "spare_files")     # null: the variant's own


class CorpusError(Exception):
    """A corpus file that cannot be used: one line naming the file and the fault."""


@attrs.frozen(slots=True)
class Expected:
    rule: str
    steps: int
    reader: int | None = None    # thread id of the reader whose lookup broke the invariant
    lookup: int | None = None    # that reader's lookup number
    # A data race instead: both accesses as (thread id, step), the earlier step first.
    accesses: tuple | None = None

    def to_json(self) -> dict:
        if self.rule == DATA_RACE:
            return {"rule": self.rule, "steps": self.steps,
                    "accesses": [list(a) for a in self.accesses]}
        return {"rule": self.rule, "steps": self.steps, "reader": self.reader, "lookup": self.lookup}

    def describe(self) -> str:
        if self.rule == DATA_RACE:
            (t1, s1), (t2, s2) = self.accesses
            return f"{self.rule} between #{s1} (thread {t1}) and #{s2} (thread {t2}) at step {self.steps}"
        return f"{self.rule} at step {self.steps}"


def race_accesses_of(race: DataRace, ex: Execution) -> tuple:
    """A race's two accesses as (thread id, step): how a corpus file names them."""
    tr = Trace(ex)
    return tuple((ex.events[e].tid, tr.step_of(e)) for e in (race.first, race.second))


@attrs.frozen(slots=True)
class Entry:
    """One corpus trace."""

    variant_name: str
    variant_file: str | None          # None: a shipped variant
    scenario: Scenario
    decisions: tuple                  # of Decision
    expected: Expected
    note: str = ""

    @property
    def spec(self) -> str:
        return f"{self.variant_file}:{self.variant_name}" if self.variant_file else self.variant_name

    def body(self) -> dict:
        """The content the file name hashes (everything but the note)."""
        variant: dict[str, Any] = {"name": self.variant_name}
        if self.variant_file:
            variant["file"] = self.variant_file
        return {
            "format": FORMAT,
            "version": VERSION,
            "variant": variant,
            "scenario": self.scenario.to_json(),
            "decisions": [[d.kind, d.tid, d.n, d.index] for d in self.decisions],
            "expected": self.expected.to_json(),
        }

    def digest(self) -> str:
        canon = json.dumps(self.body(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:20]


def entry_for(variant: type, scenario: Scenario, violation: Violation | DataRace, ex: Execution,
              note: str = "") -> Entry:
    """The corpus entry of a failing execution stopped at its violation (or where
    its data race was found)."""
    shipped = BY_NAME.get(variant.name) is variant
    vfile = None if shipped else getattr(variant, "__vmafuzz_file__", None) or _file_of(variant)
    if isinstance(violation, DataRace):
        expected = Expected(DATA_RACE, ex.steps, accesses=race_accesses_of(violation, ex))
    else:
        expected = Expected(violation.rule, ex.steps, violation.reader, violation.lookup)
    return Entry(variant.name, vfile, scenario, tuple(ex.path), expected, note)


def _file_of(variant: type) -> str:
    import sys
    mod = sys.modules.get(variant.__module__)
    path = getattr(mod, "__file__", None)
    if not path:
        raise CorpusError(f"variant {variant.name}: cannot tell which file defines it")
    return path


def save(entry: Entry, root: Path, protocol: str) -> tuple[Path, bool]:
    """Write atomically (a temporary file, then a hard link to the final name);
    never overwrite. Returns the path and whether it was new (an identical trace
    keeps its existing file). Safe with many processes saving at once (campaign
    workers): the link either creates the file or fails because another process
    just saved the same trace, so exactly one of them reports it new."""
    folder = Path(root) / protocol / _safe(entry.variant_name)
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(folder)
    path = folder / f"{entry.digest()}.json"
    if path.exists():
        return path, False
    doc = entry.body()
    if entry.note:
        doc["note"] = entry.note
    text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # Unlike a check for the name followed by os.replace, the link cannot
            # replace a file another process saved in between.
            os.link(tmp, path)
        except FileExistsError:
            return path, False
        except OSError:            # a filesystem without hard links
            if path.exists():
                return path, False
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path, True


# A temporary file older than this was left by a save that was killed (SIGKILL,
# power loss) between writing and renaming: no live save takes an hour.
STALE_TEMPORARY_SECONDS = 3600.0


def clean_stale_temporaries(folder: Path, older_than: float = STALE_TEMPORARY_SECONDS) -> int:
    """Remove ``.tmp-*.json`` files of killed saves from ``folder``; returns how
    many. Young ones may belong to a save running in parallel: they stay."""
    import time
    removed = 0
    now = time.time()
    try:
        found = list(Path(folder).glob(".tmp-*.json"))
    except OSError:
        return 0
    for tmp in found:
        try:
            if now - tmp.lstat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
        except OSError:         # gone already (another process cleaned it), or not ours
            continue
    return removed


def as_short_in_corpus(entry: Entry, root: Path, protocol: str) -> Path | None:
    """A saved trace that makes ``entry`` redundant: same variant, same scenario,
    same broken rule, at most as many steps, and it still reproduces. The campaign
    and ``vmafuzz run`` keep such a trace instead of adding a new file per run, so
    the corpus holds one shortest counterexample per (variant, scenario, rule)
    unless a run finds a shorter one. Unreadable files are skipped here; replay
    reports them."""
    folder = Path(root) / protocol / _safe(entry.variant_name)
    if not folder.is_dir():
        return None
    for path in collect([folder]):
        try:
            old = load(path)
        except CorpusError:
            continue
        if (old.variant_name, old.variant_file, old.scenario, old.expected.rule) != \
                (entry.variant_name, entry.variant_file, entry.scenario, entry.expected.rule):
            continue
        if old.expected.steps > entry.expected.steps:
            continue
        try:
            if replay(old, resolve_variant(old, str(path))).reproduces:
                return path
        except CorpusError:
            continue
    return None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# ---------------------------------------------------------------- loading

def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v) -> str:
    """A JSON value for a one-line message: at most 40 characters of it."""
    text = repr(v) if not isinstance(v, int) or abs(v) < 10 ** 30 else "a huge number"
    return text if len(text) <= 40 else text[:37] + "..."


# The deepest nesting a corpus file may have; a corpus file nests 3 deep.
MAX_JSON_NESTING = 32


class _Depth(int):
    line: int = 1
    col: int = 1


def _nesting(text: str) -> _Depth:
    """How deep the JSON text's brackets nest (strings skipped), and where the
    deepest first opens: checked before ``json.loads``, which recurses per level."""
    depth = best = 0
    where = (1, 1)
    line, bol = 1, 0
    in_str = esc = False
    for i, c in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
            if depth > best:
                best, where = depth, (line, i - bol + 1)
                if best > MAX_JSON_NESTING:
                    break
        elif c in "]}":
            depth -= 1
        elif c == "\n":
            line, bol = line + 1, i + 1
    out = _Depth(best)
    out.line, out.col = where
    return out


def parse(text: str, name: str = "<corpus>") -> Entry:
    """A corpus file's text to an Entry; CorpusError (one line) when anything is off."""
    depth = _nesting(text)
    if depth > MAX_JSON_NESTING:
        # json.loads recurses once per level: 1,000 levels are a RecursionError
        raise CorpusError(f"{name}: line {depth.line} column {depth.col}: JSON nested more than "
                          f"{MAX_JSON_NESTING} deep (a corpus file nests 3)")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{name}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:     # ValueError: also a number over Python's digit limit
        raise CorpusError(f"{name}: invalid JSON: {exc}") from None

    def bad(what: str):
        return CorpusError(f"{name}: {what}")

    if not isinstance(doc, dict):
        raise bad("not a vmafuzz corpus file (the top level is not an object)")
    if doc.get("format") != FORMAT:
        raise bad(f"not a vmafuzz corpus file (format is {_short(doc.get('format'))}, want {FORMAT!r})")
    version = doc.get("version")
    if not _int(version) or version != VERSION:     # true == 1 and 1.0 == 1 in Python: not here
        raise bad(f"format version {_short(version)} is not supported (this vmafuzz reads version {VERSION})")
    allowed = {"format", "version", "variant", "scenario", "decisions", "expected", "note"}
    extra = set(doc) - allowed
    if extra:
        raise bad(f"unknown field {_short(sorted(extra)[0])}")
    for key in ("variant", "scenario", "decisions", "expected"):
        if key not in doc:
            raise bad(f"missing field {key!r}")

    var = doc["variant"]
    if not isinstance(var, dict) or not isinstance(var.get("name"), str) or not var["name"] \
            or set(var) - {"name", "file"} or ("file" in var and not isinstance(var["file"], str)):
        raise bad("variant must be {\"name\": NAME} or {\"name\": NAME, \"file\": PATH}")
    vfile = var.get("file")
    if vfile is None and var["name"] not in BY_NAME:
        raise bad(f"unknown variant {_short(var['name'])} (not shipped, and no file given)")

    sc = doc["scenario"]
    if not isinstance(sc, dict):
        raise bad("scenario must be an object")
    fields = {a.name for a in attrs.fields(Scenario)}
    for k, v in sc.items():
        if k not in fields:
            raise bad(f"scenario: unknown field {_short(k)}")
        if k in _SCENARIO_NULLABLE and not (v is None or _int(v)):
            raise bad(f"scenario: {k} must be an integer or null, not {_short(v)}")
        if k in _SCENARIO_INT and k not in _SCENARIO_NULLABLE and not _int(v):
            raise bad(f"scenario: {k} must be an integer, not {_short(v)}")
        if k == "slab" and not (v is None or isinstance(v, str)):
            raise bad(f"scenario: slab must be a string or null, not {_short(v)}")
    try:
        scenario = Scenario(**sc)
    except (ScenarioError, TypeError, ValueError) as exc:
        raise bad(f"scenario: {exc}") from None

    raw = doc["decisions"]
    if not isinstance(raw, list):
        raise bad("decisions must be a list")
    decisions = []
    for i, d in enumerate(raw):
        where = f"decisions[{i}]"
        if not (isinstance(d, list) and len(d) == 4):
            raise bad(f"{where} must be [kind, tid, n, index]")
        kind, tid, n, index = d
        if kind not in KINDS:
            raise bad(f"{where}: kind {_short(kind)} is not one of {', '.join(KINDS)}")
        if not (_int(tid) and _int(n) and _int(index)):
            raise bad(f"{where}: tid, n and index must be integers")
        if (kind == "thread") != (tid == -1) or tid < -1:
            raise bad(f"{where}: tid {tid} does not fit a {kind} decision")
        if n < 2 or not 0 <= index < n:
            raise bad(f"{where}: index {index} among {n} options is out of range")
        decisions.append(Decision(kind, tid, n, index))

    exp = doc["expected"]
    if not isinstance(exp, dict) or "rule" not in exp:
        raise bad("expected must be an object with a rule")
    # A shipped variant's rules are known here; a user's file is only loaded at replay.
    rules = rules_of(BY_NAME[var["name"]]) if vfile is None else None
    if not isinstance(exp["rule"], str) or not exp["rule"] or (rules is not None and exp["rule"] not in rules):
        raise bad(f"expected.rule {_short(exp['rule'])} is not one of: {', '.join(rules or ())}")
    race = exp["rule"] == DATA_RACE
    keys = ("rule", "steps", "accesses") if race else ("rule", "steps", "reader", "lookup")
    if set(exp) != set(keys):
        raise bad(f"expected must have exactly {', '.join(keys)}" + (" for a data race" if race else ""))
    for k in keys[1:]:
        if k == "accesses":
            continue
        if not _int(exp[k]) or exp[k] < (1 if k == "steps" else 0):
            raise bad(f"expected.{k} must be a {'positive' if k == 'steps' else 'non-negative'} integer")
    note = doc.get("note", "")
    if not isinstance(note, str):
        raise bad("note must be a string")
    if race:
        acc = exp["accesses"]
        if not (isinstance(acc, list) and len(acc) == 2 and all(
                isinstance(a, list) and len(a) == 2 and _int(a[0]) and _int(a[1])
                and a[0] >= 0 and 1 <= a[1] <= exp["steps"] for a in acc)):
            raise bad("expected.accesses must be two [thread, step] pairs of integers "
                      "(thread >= 0, 1 <= step <= steps)")
        expected = Expected(DATA_RACE, exp["steps"], accesses=tuple(tuple(a) for a in acc))
    else:
        expected = Expected(exp["rule"], exp["steps"], exp["reader"], exp["lookup"])
    return Entry(var["name"], vfile, scenario, tuple(decisions), expected, note)


def load(path: Path) -> Entry:
    """Read (a regular file of at most ``limits.MAX_INPUT_BYTES``: docs/limits.md) and parse."""
    try:
        text = limits.read_input(path).decode("utf-8-sig")
    except limits.BadInput as exc:
        raise CorpusError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 (byte {exc.start})") from None
    return parse(text, str(path))


def collect(paths) -> list[Path]:
    """Files named, and every *.json under folders named (recursively), sorted."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.json") if not q.name.startswith(".tmp-")))
        else:
            out.append(p)
    return out


# ---------------------------------------------------------------- replay

@attrs.frozen(slots=True)
class Replayed:
    entry: Entry
    variant: type
    execution: Execution
    violation: Violation | None
    reproduces: bool
    reason: str           # why not, when it does not reproduce
    race: DataRace | None = None    # a data-race entry: the race of the replayed run

    @property
    def width(self) -> int | None:
        return self.entry.scenario.width or self.variant.counter_width


def resolve_variant(entry: Entry, name: str, trusted: Iterable[Path] | None = None) -> type:
    """The variant a corpus file names. A user's variant file given as a relative
    path is looked for from the current folder, then from each folder above the
    corpus file (a corpus saved in a checkout replays from anywhere).

    ``trusted``: the protocol files the user named (``--variant-file``). Data never
    chooses code to run: with ``trusted`` given, a file that names a protocol file
    not among them is refused in one line, before anything is read or imported.
    ``None`` (library callers that just ran that very file) trusts it."""
    spec = entry.spec
    vfile = entry.variant_file
    path = Path(vfile) if vfile else None
    if vfile and not Path(vfile).is_absolute() and not Path(vfile).is_file():
        for folder in Path(name).resolve().parents:
            if (folder / vfile).is_file():
                path = folder / vfile
                spec = f"{path}:{entry.variant_name}"
                break
    if path is not None and trusted is not None and \
            path.resolve() not in {Path(t).resolve() for t in trusted}:
        raise CorpusError(f"{name}: names the protocol file {vfile}, which is code: it runs only "
                          f"when you name it (--variant-file {vfile})")
    try:
        variant = resolve(spec)
    except VariantError as exc:
        raise CorpusError(f"{name}: {exc}") from None
    if variant.name != entry.variant_name:
        raise CorpusError(f"{name}: {entry.spec} resolves to a variant named {variant.name!r}")
    return variant


def replay(entry: Entry, variant: type, data_races=None) -> Replayed:
    """Run the recorded decisions; stop at the first violation or at the
    recorded length. Deterministic: no randomness, no Hypothesis.

    A data-race entry runs to its recorded length (an intact-VMA violation on
    the way does not stop it: the race is what the file records, and the
    violation, if any, is shown with it); it reproduces when the run's race
    (``Oracle.race``, the pair complete first) is the recorded pair of accesses.
    ``data_races``: the race finder (default: the model's; tests pass their own)."""
    world = build(variant, entry.scenario)
    oracle = Oracle(world, data_races)
    ex = Execution(world.threads)
    chooser = ReplayChooser(entry.decisions)
    exp = entry.expected
    if exp.rule == DATA_RACE:
        return _replay_race(entry, variant, oracle, ex, chooser)
    seen = seen_steps = 0
    violation = None
    reason = ""
    try:
        while ex.steps < exp.steps:
            ex.run(chooser, max_steps=1)          # the thread choice, then the step's own
            if ex.steps == seen_steps:
                break                             # nothing can step
            seen_steps = ex.steps
            if lookup_finished(ex, seen):
                violation = oracle.check(ex)
                if violation is not None:
                    break
            seen = len(ex.ghosts)
        # A saved trace stops at its violation: every decision must be used.
        how = f"reached a violation ({violation.rule})" if violation is not None else "ended"
        reason = _unused(entry, chooser, ex, how)
    except (ReplayDivergence, ModelError) as exc:
        reason = _diverged(exc, ex)
    if not reason:
        if violation is None:
            reason = f"no violation in {ex.steps} steps (recorded: {exp.rule} at step {exp.steps})"
        elif (violation.rule, ex.steps, violation.reader, violation.lookup) != \
                (exp.rule, exp.steps, exp.reader, exp.lookup):
            reason = (f"a different violation: {violation.rule} at step {ex.steps} in thread "
                      f"{violation.reader} lookup {violation.lookup} (recorded: {exp.rule} at step "
                      f"{exp.steps} in thread {exp.reader} lookup {exp.lookup})")
    # The run that breaks the invariant may race too: shown with it, never instead.
    race = oracle.race(ex) if violation is not None else None
    return Replayed(entry, variant, ex, violation, not reason, reason, race)


def _unused(entry: Entry, chooser, ex: Execution, how: str) -> str:
    """Why a replay that used fewer decisions than were recorded does not reproduce."""
    if chooser.pos >= len(entry.decisions):
        return ""
    return (f"the run {how} after {ex.steps} steps with "
            f"{len(entry.decisions) - chooser.pos} recorded decisions unused")


def _diverged(exc: Exception, ex: Execution) -> str:
    """A recorded decision that does not fit the run; the protocol's own code
    raising is not a divergence (re-raised: exit 2)."""
    if exc.__cause__ is not None:
        raise exc
    return f"diverged at step {ex.steps + 1}: {exc}"


def _replay_race(entry: Entry, variant: type, oracle: Oracle, ex: Execution, chooser) -> Replayed:
    exp = entry.expected
    reason = ""
    race = violation = None
    try:
        while ex.steps < exp.steps:
            before = ex.steps
            ex.run(chooser, max_steps=1)
            if ex.steps == before:
                break                             # nothing can step
        reason = _unused(entry, chooser, ex, "ended")
    except (ReplayDivergence, ModelError) as exc:
        reason = _diverged(exc, ex)
    if not reason:
        violation = oracle.check(ex)
        race = oracle.race(ex)
        if not oracle.races_modelled:
            reason = "this memory model does not compute data races"
        elif not ex.settled:
            reason = f"the run is not settled at step {ex.steps} (a load holds a promised value)"
        elif race is None:
            reason = f"no data race in {ex.steps} steps (recorded: {exp.describe()})"
        else:
            got = race_accesses_of(race, ex)
            if (got, ex.steps) != (exp.accesses, exp.steps):
                (t1, s1), (t2, s2) = got
                reason = (f"a different data race: #{s1} (thread {t1}) and #{s2} (thread {t2}) at "
                          f"step {ex.steps} (recorded: {exp.describe()})")
    return Replayed(entry, variant, ex, violation, not reason, reason, race)


def entry_from_explorer(variant: type, scenario: Scenario, max_states: int | None = None) -> Entry | None:
    """The explorer's shortest violating trace as a corpus entry (deterministic:
    breadth-first search always finds the same one), or its shortest data race
    when nothing violates the invariant; None when the variant holds."""
    found = entries_from_explorer(variant, scenario, max_states)
    return found[0] if found else None


def entries_from_explorer(variant: type, scenario: Scenario, max_states: int | None = None,
                          data_races=None) -> list[Entry]:
    """The explorer's findings as corpus entries: its shortest intact-VMA
    violation, then its shortest data race, each if found."""
    from .exhaustive import check_variant
    result = check_variant(variant, scenario, max_states=max_states, data_races=data_races)
    note = "shortest trace found by vmafuzz explore (breadth-first)"
    out = []
    if result.violation is not None:
        out.append(entry_for(variant, scenario, result.violation, result.execution, note=note))
    if result.race is not None:
        out.append(entry_for(variant, scenario, result.race, result.race_execution, note=note))
    return out
