"""Reading and writing the files qabot trusts: regular files only, JSON written durably.

A path in an index folder may be anything by the time it is read (a FIFO, a device, a
link put in a file's place): :func:`open_regular` opens only a regular file, checked on the
open file, so a read can neither hang nor follow a link out of the folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def is_utf8(name: str) -> bool:
    """True when ``name`` (a path, as Python decodes it) is UTF-8 text: the index records
    paths and names in JSON, which holds no undecodable bytes (``\udcff``)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class NotRegular(OSError):
    """A path that is not a regular file (a FIFO, device, folder or link): never read."""


@contextlib.contextmanager
def open_regular(path: Path, *, follow_links: bool = False) -> Iterator[Any]:
    """Open ``path`` for reading only if it is a regular file, links not followed unless
    ``follow_links``.

    Checked on the open file (no race with a swap), and opened without blocking: a FIFO
    in an index's place must be an error, not a read that never ends.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:  # O_NOFOLLOW met a link
            raise NotRegular(errno.ELOOP, "a link, not a regular file", str(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def read_regular(path: Path) -> bytes:
    """The bytes of ``path``, a regular file (see :func:`open_regular`)."""
    with open_regular(path) as fh:
        return bytes(fh.read())


def sha256_file(path: Path, chunk: int = 1 << 20, *, follow_links: bool = False) -> str:
    """The hex sha256 of ``path``, a regular file (see :func:`open_regular`).

    ``follow_links`` for files a user may keep as links (a model folder in the Hugging
    Face cache links its weights); never for the files of an index.
    """
    digest = hashlib.sha256()
    with open_regular(path, follow_links=follow_links) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` and flush it to disk (a new file in a build)."""
    with path.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
