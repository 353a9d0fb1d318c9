"""The vmafuzz pytest plugin for the project's own tests.

Installed (tox, ``pip install -e .``), pytest loads it through the ``pytest11``
entry point; run from a bare checkout it is not installed, so register it here.
Only when missing: pytest refuses one module registered under two names."""

import fuzz.pytest_plugin as _vmafuzz_plugin


def pytest_addoption(parser, pluginmanager):
    # Historic hook: a plugin registered here still gets pytest_addoption and
    # pytest_configure called, so its options and fixtures are all there.
    if not pluginmanager.is_registered(_vmafuzz_plugin):
        pluginmanager.register(_vmafuzz_plugin, "vmafuzz")
