"""What several cogs say alike (kept apart so that no cog imports another for a constant)."""

from __future__ import annotations

EXAMPLE = "How long did the meeting last?"  # the question the help and the hints show
