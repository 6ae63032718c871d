"""qabot's top-level names (``bot``, ``index``, ``config``) must be its own.

The repository's layout makes them top-level import names; another installed package with a
top-level ``config`` (a common name) or ``index`` would be imported in their place, and every
command would end in a traceback. :func:`exit_if_shadowed` runs first in the entry point and
says so in one line instead. It imports nothing of ``config`` or ``index``: they are what it
checks.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

OWN = ("config", "index", "bot")
# config.exits.EXIT_USAGE, which cannot be imported here: ``config`` may be the foreign one
# (tests/bot/test_installed.py checks the two agree).
EXIT_USAGE = 2


def foreign_module(home: Path | None = None) -> tuple[str, str] | None:
    """Return the first of qabot's top-level names that resolves outside ``home`` (the
    folder holding this ``bot`` package: the install's or the checkout's) and where it
    resolves; None when all three are qabot's."""
    home = (home or Path(__file__).resolve().parent.parent)
    for name in OWN:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # a broken module in its place
            spec = None
        if spec is None:
            return name, "nowhere (it is not installed)"
        locations = list(spec.submodule_search_locations or [])
        where = spec.origin if spec.origin not in (None, "namespace") else (
            locations[0] if locations else "?")
        if where is None or Path(where).resolve() != home / name / "__init__.py":
            return name, str(where)
    return None


def exit_if_shadowed() -> None:
    """Exit with one line (code 2) when a foreign module is imported in place of qabot's."""
    found = foreign_module()
    if found is None:
        return
    name, where = found
    shown = where.encode("unicode_escape").decode("ascii")  # a path is shown, not obeyed
    print(f"qabot: error: the module {name!r} found first on the import path is not qabot's "
          f"(it is {shown}): another package uses the name {name!r}; uninstall it, or run "
          f"qabot in a virtual environment of its own", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)
