"""Every shipped variant by name: a documented alias.

``from models.variants import B_no_rmb`` (a VMA variant, ``models/vma/variants.py``),
``SHIPPED`` and ``BY_NAME`` (every family's shipped variants), ``resolve`` and
``VariantError`` (``models/registry.py``) keep working.
"""

from .seqlock import *  # noqa: F401,F403
from .vma.variants import *  # noqa: F401,F403
from .vma.variants import SHIPPED as VMA_SHIPPED  # noqa: F401
from .registry import BY_NAME, SHIPPED, VariantError, load_user_variant, resolve  # noqa: F401,E402
