"""The exit codes of every qabot command, defined once (the front ends and the error classes
read them from here: importing this pulls in nothing)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_DATA = 1  # a data or environment error: a bad file, a damaged index, a refused token
EXIT_USAGE = 2  # a usage error: a bad argument or setting, a foreign module shadowing qabot's
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, what shells report)
