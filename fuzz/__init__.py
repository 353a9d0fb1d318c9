"""vmafuzz drivers: the command line, the Hypothesis state machines, the oracle, the corpus."""
