"""The speculative VMA lookup family: protocols A and B (``../shared/docs/protocols.md``
sections 3 and 4), their kernel objects (``kernel``), steps (``protocols``),
variants (``variants``) and the intact-VMA invariant (``invariant``)."""

from .protocols import ProtocolA, ProtocolB, SpeculativeLookup  # noqa: F401
from . import variants  # noqa: F401  (the shipped variants register themselves)
