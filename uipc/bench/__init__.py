"""Benchmarks: uipc against the kernel, multiprocessing, Redis and the floors.

Everything runs side by side in one run on one machine; see
docs/benchmarks.md for the method and the latest figures.
"""
