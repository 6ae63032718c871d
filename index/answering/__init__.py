"""Answering: the engine, the ranking and its verdict, conversations, the answer's passages."""
