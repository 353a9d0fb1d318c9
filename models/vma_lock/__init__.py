"""Protocol C: the per-VMA read lock on type-safe VMAs (mainline since v6.15), and
the use-after-free it had until 2025 (``../shared/docs/protocols.md`` section 7,
``docs/protocols-c.md``): kernel objects (``kernel``), the reader and the writers
(``protocols``), the invariant (``invariant``) and the variants of the section 7
table (``variants``)."""

from .protocols import VmaLock  # noqa: F401
from . import variants  # noqa: F401  (the shipped variants register themselves)
