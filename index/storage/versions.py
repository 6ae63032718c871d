"""Writing an index folder's versions: a build's own folder, the build lock, publishing a
version with one link switch, and removing what is no longer named.

A build writes a new folder beside the target (see index/storage/folder.py for the names),
renames it to a version and switches the link with one ``os.replace`` of a link made
aside: the path always names a complete index, the old one or the new one, and an
interrupted build leaves the old one answering. The versions the link no longer names are
deleted after the switch (only folders qabot can prove its own:
:func:`index.storage.folder.foreign_entry`). Readers take no lock: they resolve the link once and
read that version; one that finds its version deleted under it (a build switched
meanwhile) reads again from the new one (index/storage/loading.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.errors import IndexWriteError
from index.files import read_regular, write_json
from index.storage.folder import (
    BUILD_MARKER,
    MANIFEST,
    PRODUCER,
    build_pid,
    foreign_entry,
    index_target,
    is_version_name,
    siblings,
    versions_beside,
)

log = logging.getLogger(__name__)


def faiss_reason(exc: RuntimeError, limit: int = 300) -> str:
    """Why FAISS failed, from its error ("Error in … at faiss/impl/index_write.cpp:499:
    Error: 'ret == (1)' failed: write error in PATH: 0 != 1 (No space left on device)"):
    what follows the failed check, at most ``limit`` characters, cut where a word or a
    folder of the path starts (a cut mid-word, "rite.cpp:499", says nothing)."""
    text = str(exc).strip()
    reason = text.splitlines()[-1].strip() if text else "write failed"
    for mark in (": Error: ", "' failed: "):
        reason = reason.split(mark, 1)[-1]
    if len(reason) > limit:
        cut = reason[-limit:]
        starts = [i for i, c in enumerate(cut) if c in " /" and i > 0]
        reason = "…" + (cut[starts[0]:].lstrip() if starts else cut)
    return reason


@contextlib.contextmanager
def writing(index_dir: Path) -> Iterator[None]:
    """Turn a failed write (read-only or full file system, a path in the way) into one line."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        reason = f"{exc.strerror}{where}" if exc.strerror else str(exc)
        raise IndexWriteError(f"cannot write the index at {index_dir}: {reason}; "
                              f"the index there is unchanged") from None
    except RuntimeError as exc:  # faiss.write_index reports a failed write this way
        raise IndexWriteError(f"cannot write the index at {index_dir}: {faiss_reason(exc)}; "
                              f"the index there is unchanged") from None


@contextlib.contextmanager
def build_lock(target: Path, index_dir: Path) -> Iterator[None]:
    """Hold the build lock of ``target`` (a file beside it); wait, saying so, if it is taken."""
    import fcntl

    with writing(index_dir):  # the first write: a read-only place fails here, at once
        fd = os.open(target.with_name(f".{target.name}.lock"),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another build of %s is running: waiting for it to finish", index_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _process_identity(pid: int) -> str | None:
    """Which process ``pid`` is, beyond its number (numbers are reused): the boot and its
    start time, from /proc. None where that cannot be read (the process is gone, no /proc)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return f"{boot}/{fields[19]}"  # field 22 of stat: the start time
    except (OSError, IndexError):
        return None


def _running(pid: int, identity: str | None) -> bool:
    """True when process ``pid`` may still be the one recorded as ``identity`` (None: any)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    except (OverflowError, ValueError):  # no such process number
        return False
    now = _process_identity(pid) if identity is not None else None
    return now is None or now == identity


def _build_marker(folder: Path, pid: int) -> dict[str, Any] | None:
    """The marker a build wrote into ``folder`` as it made it, if it names this folder and
    ``pid``; None when there is none such (then qabot cannot prove the folder is its own)."""
    try:
        marker = json.loads(read_regular(folder / BUILD_MARKER))
    except (OSError, ValueError, RecursionError):
        return None
    if isinstance(marker, dict) and marker.get("made_by") == PRODUCER \
            and marker.get("folder") == folder.name and marker.get("pid") == pid:
        return marker
    return None


def new_build_folder(target: Path) -> Path:
    """Make the folder a build of ``target`` writes into, beside it, marked with the process
    making it (see :func:`remove_stale_builds`); removed again if the mark cannot be written."""
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-{os.getpid()}-",
                                   dir=target.parent))
    try:
        write_json(folder / BUILD_MARKER, {"made_by": PRODUCER, "folder": folder.name,
                                           "pid": os.getpid(),
                                           "process": _process_identity(os.getpid())})
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def remove_stale_builds(target: Path) -> None:
    """Delete the build folders that killed builds of ``target`` left (the build lock held).

    Only folders qabot can prove it made: named exactly as it names them, holding the
    marker it writes as it makes one (naming that folder and a process now gone), and
    nothing but what a build writes. An empty folder so named, of a process now gone (a
    build killed before its marker was written), holds nothing to lose and goes too.
    """
    for folder in siblings(target, ".build-"):
        pid = build_pid(folder.name, target.name)
        if pid is None or folder.is_symlink() or not folder.is_dir():
            continue
        marker = _build_marker(folder, pid)
        if marker is None:
            if not _running(pid, None):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)  # fails unless empty
            continue
        identity = marker.get("process")
        if _running(pid, identity if isinstance(identity, str) else None):
            continue
        why = foreign_entry(folder, linked=True)
        if why is not None:
            log.warning("leaving %s in place: %s", folder, why)
            continue
        log.info("removing %s, left by an interrupted build", folder)
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale_builds(index_dir: Path) -> None:
    """Remove the build folders killed builds left beside ``index_dir`` (see
    :func:`remove_stale_builds`), when no build is running: a reader takes the build lock
    only if it is free, never waiting. Any failure leaves them to the next build."""
    import fcntl

    try:
        target = index_target(index_dir)
        if not any(build_pid(p.name, target.name) is not None
                   for p in siblings(target, ".build-")):
            return
        fd = os.open(target.with_name(f".{target.name}.lock"),
                     os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        remove_stale_builds(target)
    except OSError as exc:
        log.debug("stale build folders of %s left to the next build: %s", index_dir, exc)
    finally:
        os.close(fd)  # releases the lock


def new_version(target: Path) -> Path:
    """A fresh version path beside ``target``; later calls sort after earlier ones."""
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = target.with_name(f".{target.name}.v-{stamp}-{os.getpid()}")
        if not os.path.lexists(path):
            return path
        time.sleep(0.001)


def as_version(folder: Path, target: Path) -> Path:
    """``folder`` as a version of ``target`` (renamed to one if it is not)."""
    if folder.parent == target.parent and is_version_name(folder.name, target.name):
        return folder
    version = new_version(target)
    os.rename(folder, version)
    return version


def publish(build: Path, target: Path) -> None:
    """Publish the finished ``build`` as a version and point ``target`` at it.

    The switch itself is one ``os.replace``. A real folder at ``target`` (a copy of an
    index) is first renamed to a version (an empty folder is removed): until the link
    replaces it, a reader finds the newest complete version instead. The build marker goes once the
    folder is a version (a kill just before leaves a version that qabot's manifest mark
    proves its own).
    """
    if target.is_dir() and not target.is_symlink():
        if any(target.iterdir()):
            as_version(target, target)
        else:
            target.rmdir()
    version = as_version(build, target)
    with contextlib.suppress(FileNotFoundError):
        (version / BUILD_MARKER).unlink()
    point(target, version)
    with contextlib.suppress(OSError):
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def point(target: Path, version: Path) -> None:
    """Make ``target`` a link to ``version`` in one step: a link made aside, renamed over."""
    link = target.with_name(f".{target.name}.link-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(version.name, link)
    os.replace(link, target)


def remove_version(folder: Path) -> None:
    """Delete a version of qabot's, its manifest last: a kill half-way leaves a folder the
    manifest still proves qabot's (the next build finishes the job), never one that nothing
    proves, kept and warned about by every build after."""
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name == MANIFEST:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
    shutil.rmtree(folder, ignore_errors=True)


def cleanup(target: Path, linked: Path | None = None) -> None:
    """Delete the versions ``target`` no longer names, and what killed builds left: only
    folders qabot can prove it wrote (``linked``: the version its link named before this
    build, proven by that), holding nothing but qabot's files."""
    remove_stale_builds(target)
    live = Path(os.path.realpath(target))
    for folder in versions_beside(target):
        if folder == live or folder.is_symlink() or not folder.is_dir():
            continue
        why = foreign_entry(folder, linked=folder == linked)
        if why is None:
            remove_version(folder)
        else:
            log.warning("leaving %s in place: %s", folder, why)
    for link in siblings(target, ".link-"):
        if link.is_symlink() and re.fullmatch(rf"\.{re.escape(target.name)}\.link-\d+",
                                              link.name):
            with contextlib.suppress(OSError):
                link.unlink()

