"""When qabot's own output cannot be written: a full disk under ``> file``, a closed stdout.

Every line qabot prints goes through ``click.echo``; a write that fails there is the
output's fault, said in one line on stderr (``bot.cli``), not a traceback.
"""

from __future__ import annotations

import contextlib
import os

import click


def written_by_echo(exc: BaseException) -> bool:
    """True when ``exc`` was raised writing qabot's output (``click.echo``, which every line
    qabot prints goes through): a full disk under ``> file``, ``> /dev/full``."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is click.utils.echo.__code__:
            return True
        tb = tb.tb_next
    return False


def drop_output() -> None:
    """Send what is left of standard output to /dev/null: exiting must not fail on it again."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)


def stdout_closed() -> bool:
    """True when qabot was started with its standard output closed (``>&-``): the first
    file it opened would take its place, and anything printed would land in that file.
    Standard output then goes to /dev/null (nothing is shown, nothing overwritten)."""
    try:
        os.fstat(1)
        return False
    except OSError:
        pass
    drop_output()
    return True
