"""Settings errors, importable without pydantic (the CLI catches them on its fast path)."""

from __future__ import annotations

from config.exits import EXIT_USAGE


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable and what it accepts."""

    exit_code = EXIT_USAGE
