"""Every protocol by name: the shipped families' variants, and ``FILE.py:NAME`` for a user's own.

A class joins the registry by subclassing ``models.protocol.Protocol`` with a
``name`` of its own. ``resolve`` is how every command (``explore``, ``run``,
``campaign``, ``replay``, the corpus, the pytest plugin) turns a variant name into
a class; a user's file is loaded here (it is code the user wrote, like a test file).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .protocol import Protocol, shipped
from .scenario import MAX_WIDTH
from .vma.kernel import SLABS
from .vma.protocols import SpeculativeLookup

SHIPPED: tuple[type[Protocol], ...] = shipped()
BY_NAME: dict[str, type[Protocol]] = {cls.name: cls for cls in SHIPPED}


class VariantError(Exception):
    """A variant name or file that cannot be used (reported as one line, exit 2)."""


def resolve(spec: str) -> type[Protocol]:
    """A shipped variant name, or ``FILE.py:NAME`` for a user's own."""
    if spec in BY_NAME:
        return BY_NAME[spec]
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        path, name = spec.rsplit(":", 1)
        return load_user_variant(Path(path), name)
    if spec.endswith(".py"):
        raise VariantError(f"{spec}: name the variant too, as {spec}:NAME")
    close = [n for n in BY_NAME if n.lower().startswith(spec.lower()[:3])]
    hint = f" (did you mean {', '.join(close[:4])}?)" if close else ""
    raise VariantError(f"unknown variant {spec!r}{hint}; `vmafuzz list` shows them")


def _is_protocol(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, Protocol) and "name" in obj.__dict__ \
        and obj is not Protocol


def load_user_variant(path: Path, name: str) -> type[Protocol]:
    if not path.is_file():
        raise VariantError(f"{path}: no such file")
    modname = f"vmafuzz_user_{abs(hash(str(path.resolve())))}"
    try:
        source = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise VariantError(f"{path}: cannot read: {exc}") from None
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise VariantError(f"{path}:{exc.lineno}:{exc.offset}: syntax error: {exc.msg}") from None
    spec = importlib.util.spec_from_loader(modname, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    sys.modules[modname] = module
    try:
        exec(code, module.__dict__)  # the user's own protocol file: code by design, like a test file
    except (Exception, SystemExit) as exc:
        # SystemExit too: sys.exit() in a protocol file must not become the tool's exit status
        line = line_of(exc, str(path))
        raise VariantError(f"{path}:{line}: {type(exc).__name__} while loading: {exc}") from None
    found = [obj for obj in vars(module).values() if _is_protocol(obj) and obj.name == name]
    obj = found[0] if found else getattr(module, name, None)
    if obj is None:
        names = sorted(o.name for o in vars(module).values()
                       if _is_protocol(o) and o not in SHIPPED)
        have = f"; it defines {', '.join(names)}" if names else ""
        raise VariantError(f"{path}: no variant named {name!r}{have}")
    if not (isinstance(obj, type) and issubclass(obj, Protocol)) or obj is Protocol:
        raise VariantError(f"{path}: {name} is not a protocol (subclass a protocol such as "
                           f"ProtocolB from models.protocols, or models.protocol.Protocol)")
    if issubclass(obj, SpeculativeLookup) and obj.file_slab not in SLABS:
        raise VariantError(f"{path}: {name}.file_slab must be one of {', '.join(SLABS)}")
    width = getattr(obj, "counter_width", None)
    if width is not None and not (type(width) is int and 1 <= width <= MAX_WIDTH):
        shown = repr(width) if len(repr(width)) <= 40 else repr(width)[:37] + "..."
        raise VariantError(f"{path}:{_line_of_class(obj)}: {name}.counter_width must be None or an "
                           f"integer from 1 to {MAX_WIDTH} (bits of the sequence counters), not {shown}")
    return obj


def _line_of_class(cls: type) -> str:
    import inspect
    try:
        return str(inspect.getsourcelines(cls)[1])
    except (OSError, TypeError):
        return "?"


def line_of(exc: BaseException, filename: str) -> str:
    """The last line of ``filename`` in the exception's traceback ("?": none)."""
    tb = exc.__traceback__
    line = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line


def user_frame(exc: BaseException) -> tuple[str, int] | None:
    """(file, line) of the innermost frame of a user's protocol file (one loaded by
    ``load_user_variant``) in the traceback of ``exc`` or of what caused it."""
    user_files = {getattr(m, "__file__", None) for n, m in list(sys.modules.items())
                  if n.startswith("vmafuzz_user_")}
    best = None
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            fname = tb.tb_frame.f_code.co_filename
            if fname in user_files:
                best = (fname, tb.tb_lineno)
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return best
