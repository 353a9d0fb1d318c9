"""``python -m fuzz``: the ``vmafuzz`` command."""

import os
import signal
import sys


def _interrupted_while_starting(signum, frame):
    # Ctrl-C during the imports (a few tenths of a second): nothing was found yet.
    sys.stderr.write("vmafuzz: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted_while_starting)

from .cli import main  # noqa: E402  (after the handler: Ctrl-C during the imports is handled)

sys.exit(main())
