"""The SIGINT handler of the command's start-up (see fuzz/__init__.py)."""

import os
import signal
import sys
import threading


def interrupted_while_starting(signum, frame):
    # Nothing was found yet: stop at once, without a traceback.
    try:
        sys.stderr.write("vmafuzz: interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(130)


# True once installed: this process is the program, not a test importing the package
installed = False


def install() -> None:
    global installed
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupted_while_starting)
        installed = True
