"""Benchmarks: speed and memory of touchline on synthetic stores."""
