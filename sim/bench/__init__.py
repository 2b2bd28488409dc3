"""Benchmarks behind `mesaverse bench ...`."""
