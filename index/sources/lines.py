"""Reading lines from a stream that may never end one: ``/dev/zero``, a pipe, a huge file.

A line is read up to :data:`LINE_LIMIT` characters (bytes, from a binary stream); a longer
one is an error naming where and which line, so an endless stream without line ends costs
a megabyte of memory, never all of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, AnyStr

from index.errors import DataError
from index.files import NotRegular, open_regular

LINE_LIMIT = 1_000_000


class LineTooLong(DataError):
    """A line longer than the limit: the stream holds no lines of questions."""


def bounded_lines(stream: IO[AnyStr], where: str, limit: int = LINE_LIMIT
                  ) -> Iterator[AnyStr]:
    """Yield the lines of ``stream`` (with their line ends), each of at most ``limit``
    characters; a longer one raises LineTooLong naming ``where`` and the line."""
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and line[-1:] not in ("\n", b"\n"):
            unit = "bytes" if isinstance(line, bytes) else "characters"
            raise LineTooLong(f"{where}:{number}: a line longer than {limit:,} {unit}; give "
                              f"one question a line")
        yield line


def file_lines(path: Path) -> list[bytes]:
    """The lines of the file ``path``, split at ``\\n`` only (JSON text may hold U+2028 and
    the like, which ``splitlines()`` would take for line ends), their ends removed.

    A FIFO or a device is refused without reading it (a FIFO with no writer would block
    the read forever, ``/dev/zero`` never ends), as is a line longer than the limit.
    """
    try:
        with open_regular(path, follow_links=True) as fh:
            return [line.removesuffix(b"\n") for line in bounded_lines(fh, str(path))]
    except NotRegular:
        raise DataError(f"{path}: not a regular file (a FIFO, socket or device); give a "
                        f"file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
