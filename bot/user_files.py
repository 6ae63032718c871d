"""Files the user names, looked at before qabot uses them: read (``ask --batch FILE``,
``eval FILE``) or appended to (the vote file). A path the OS refuses is one line, said
before anything runs, and a FIFO nobody writes to is never waited on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from index import DataError, UsageError

# Pipes the shell already opened for qabot (``--batch <(cmd)``, ``/dev/stdin``): read, since
# their writer is there. A FIFO named in the file system may have none: opening it would
# wait for one forever.
_INHERITED = ("/dev/fd/", "/proc/self/fd/", "/dev/stdin")


def check_input_file(path: Path, *, pipes: bool = False) -> None:
    """Refuse ``path`` unless it names something qabot can open for reading.

    A missing file is a usage error (exit 2); a path the OS refuses (too long, a link loop,
    a folder above it that cannot be searched or is a file), a folder or a named pipe, a
    data error (exit 1). With ``pipes``, a pipe the shell opened for qabot is read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{path}: a folder, not a file; give a file")
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        if pipes and str(path).startswith(_INHERITED):
            return
        # Never opened: a FIFO with no writer would wait forever.
        hint = f" (or pipe it: --batch - < {path})" if pipes else ""
        raise DataError(f"{path}: not a regular file (a FIFO, socket or device); give a "
                        f"file{hint}")


def vote_file_problem(path: Path) -> str | None:
    """Why votes could not be appended to ``path`` (None when they can), checked without
    writing anything: a path the OS refuses, a folder, a FIFO (which would take votes
    until its buffer filled, then hang), or a folder that cannot be written."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        return exc.strerror or str(exc)
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            return "it is not a regular file (a folder, FIFO, socket or device)"
        return None if os.access(path, os.R_OK | os.W_OK) else "qabot cannot write it"
    folder = path.parent  # created on the first vote: the nearest folder that exists
    while True:
        try:
            info = os.stat(folder)
        except FileNotFoundError:
            folder = folder.parent
            continue
        except OSError as exc:
            return f"{folder}: {exc.strerror or exc}"
        if not stat.S_ISDIR(info.st_mode):
            return f"{folder} is not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"qabot cannot write in {folder}"
        return None
