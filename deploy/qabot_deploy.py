"""The ``qabot`` command of the slim deployment: runs the checkout's ``bot.cli``.

The slim deployment installs qabot's dependencies without torch (requirements.txt) and not
qabot itself, whose package requires sentence-transformers: the code and the ONNX models
are the app's checkout, which the Python buildpack puts on ``PYTHONPATH`` (``$HOME``).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run qabot from the checkout on PYTHONPATH, or say in one line that it is not there."""
    try:
        from bot.cli import main as qabot_main
    except ModuleNotFoundError as exc:
        if exc.name not in {"bot", "bot.cli"}:
            raise
        print("qabot: error: qabot's code is not on PYTHONPATH: run from the app's checkout "
              "with PYTHONPATH set to it (the Python buildpack sets it to $HOME)",
              file=sys.stderr)
        raise SystemExit(1) from None
    qabot_main()
