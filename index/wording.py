"""``plural``: the one way qabot words a count (the engine's messages and the front ends')."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 unit``, ``2 units``; ``many`` for irregular plurals."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
