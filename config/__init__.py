"""Configuration: one pydantic-settings ``Settings`` built on demand, never at import time.

The names are loaded lazily, so ``config.errors`` and the exit codes (which the CLI's fast
paths import) do not pull in pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.errors import SettingsError
    from config.exits import EXIT_DATA, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
    from config.settings import Settings, default_index_dir, env_name, load_settings

__all__ = ["EXIT_DATA", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "Settings", "SettingsError",
           "default_index_dir", "env_name", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "SettingsError":
        return importlib.import_module("config.errors").SettingsError
    if name.startswith("EXIT_") and name in __all__:
        return getattr(importlib.import_module("config.exits"), name)
    if name in __all__:
        return getattr(importlib.import_module("config.settings"), name)
    raise AttributeError(name)
