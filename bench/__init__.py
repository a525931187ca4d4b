"""Benchmarks (`hotline bench ...`), each against a baseline in the same run.

Not installed with the runtime: `hotline bench` imports this package from a checkout."""
