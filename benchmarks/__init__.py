"""Benchmarks: `make bench` prints figures; they are not timed tests."""
