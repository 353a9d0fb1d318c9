"""vmafuzz drivers: the command line, the Hypothesis state machines, the oracle, the corpus."""

import sys as _sys

# Ctrl-C in the first tenths of a second, while the command imports its modules, must
# not print a traceback (issue 11): when this package is being started as the program
# (the `vmafuzz` console entry, or `python -m fuzz`, where argv[0] is "-m" while the
# package is found), a handler that exits 130 quietly is installed before anything
# else is imported; fuzz/cli.py's main() replaces it with the real one.
if _sys.argv and (_sys.argv[0] == "-m" or _sys.argv[0].rsplit("/", 1)[-1] == "vmafuzz"):
    from fuzz._start import install as _install
    _install()
