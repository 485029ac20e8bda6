"""Benchmarks (`make bench`): each runs our path and a baseline in the same run and reports the ratio."""
