"""Task functions for the worker-pool tests (tests/test_campaign_parallel.py): a
module of its own that imports nothing heavy, so spawned workers start quickly."""

import os


def double_or_die(x):
    if x == "die":
        os._exit(7)            # a worker killed mid-task (out of memory, kill -9)
    if x == "raise":
        raise ValueError("a bug in the task function")
    return 2 * x
