"""Benchmarks: speed and memory on synthetic stores, and accuracy against a known
truth (``benchmarks.truth``, ``benchmarks.accuracy``)."""
