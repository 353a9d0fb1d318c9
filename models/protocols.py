"""Protocols A and B: a documented alias of ``models.vma.protocols``.

Variant files written against it (``from models.protocols import ProtocolB``)
keep working; the VMA family now lives in ``models/vma/`` and the API every
protocol family is written against in ``models/protocol.py``.
"""

from .vma.kernel import Cycle, Kernel  # noqa: F401
from .vma.protocols import *  # noqa: F401,F403
from .vma.protocols import ProtocolA, ProtocolB, SpeculativeLookup  # noqa: F401

# The old name of the VMA family's base class (models.protocol.Protocol is the
# base of every family).
Protocol = SpeculativeLookup
