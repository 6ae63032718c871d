"""Which model files have passed their sha256 check, remembered by their file-system identity.

Hashing the two ONNX graphs (180 MB) costs 0.16 s of CPU on every start, a sixth of a
one-shot ask. Like git's index, qabot remembers a file that hashed right together with its
``stat`` identity (device, inode, size, modification and change times): as long as that
identity is unchanged, the file is the one that was hashed. Any write to the file changes its
change time (``st_ctime``, which no user call can set back), so a changed file is hashed
again, and fails. The record lives in ``$XDG_CACHE_HOME/qabot/verified.json``; it is
optional (unreadable or unwritable: every load hashes) and written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from index.json_input import parse as parse_json

log = logging.getLogger(__name__)


def cache_file() -> Path:
    """Where the record is kept (``$XDG_CACHE_HOME/qabot/verified.json``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qabot" / "verified.json"


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _read() -> dict[str, Any]:
    try:
        data = parse_json(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def known_good(path: Path, sha256: str) -> bool:
    """True when ``path`` hashed to ``sha256`` before and has not changed since."""
    entry = _read().get(str(path.resolve()))
    try:
        return (isinstance(entry, dict) and entry.get("sha256") == sha256
                and entry.get("identity") == _identity(path))
    except OSError:
        return False


def remember(path: Path, sha256: str) -> None:
    """Record that ``path`` (as it is now) hashed to ``sha256``; failures are only logged."""
    target = cache_file()
    try:
        records = _read()
        records[str(path.resolve())] = {"sha256": sha256, "identity": _identity(path)}
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".verified-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(records, fh)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("cannot record the check of %s in %s: %s", path, target, exc)
