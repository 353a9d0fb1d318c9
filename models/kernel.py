"""The VMA family's kernel objects: a documented alias of ``models.vma.kernel``."""

from .vma.kernel import *  # noqa: F401,F403
from .vma.kernel import (PAGE_SIZE, SLABS, Commit, Counter, Cycle, Freed, Inode, Kernel,  # noqa: F401
                         LookupEnd, StoreGhost, lock_field)
