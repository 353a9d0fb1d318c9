"""``python -m fuzz``: the ``vmafuzz`` command (fuzz/__init__.py handles Ctrl-C during start-up)."""

import sys

from .cli import main

sys.exit(main())
