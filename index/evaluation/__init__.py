"""Evaluation, a consumer of the engine: question sets, metrics and votes, never imported by it."""
