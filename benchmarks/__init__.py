"""Benchmarks: qabot's figures measured beside their floors (``python -m benchmarks.run``)."""
