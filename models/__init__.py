"""vmafuzz models: the LKMM engine (memory.py), the execution engine (engine.py),
kernel primitives (ops.py), kernel objects and the speculative-lookup protocols."""
