"""Where an index lives and whose it is: the names in its folder, the link to the live
version, recovery on read, and the proof that a folder is qabot's.

An index folder holds ``manifest.json`` (index/storage/manifest.py), ``vectors.faiss`` (the FAISS
index, written by faiss.write_index; no pickle anywhere; none when the vectors are in
Milvus), ``units.json`` (the units, in id order) and ``lexical.*`` (index/modelling/lexical.py).

Versions. For an index folder ``PARENT/NAME``::

    PARENT/NAME                    a symlink to the live version (a bare name: relocatable)
    PARENT/.NAME.v-<time>-<pid>/   a version: the files above, never changed once published
    PARENT/.NAME.build-<pid>-<r>/  a build in progress, holding the marker .qabot-build
                                   (which folder, which process); removed when it fails,
                                   and after a kill by the next build, ``ask`` or ``index
                                   info`` (the lock free, the process gone)
    PARENT/.NAME.lock              builds of NAME hold it (``fcntl.flock``): one at a time

Publishing a version and switching the link is index/storage/versions.py. A symlink rather than a
pointer file inside the folder, because ``NAME/manifest.json`` and the other paths keep
working for every reader (scripts, tests, ``index info``), and resolving a path is one
system call where a pointer file would be a second read that can disagree with the first.

Recovery on read: when ``NAME`` is missing or its link dangles (a build killed between
moving a folder aside and the switch, a version deleted by hand), the newest complete
version beside it is read; the next build points the link at it again. Only builds write:
a reader never moves anything, so it cannot undo another process's build.

A real folder at ``NAME`` (a copy of an index, links dereferenced) is renamed to a version
by the next build, which then makes ``NAME`` the link. A link the user made (``NAME``
pointing somewhere else) is followed and kept: the build manages the folder it points to.
A mount point (a volume mounted at the configured path) cannot be renamed or replaced:
there the link is ``NAME/current``, its versions beside it inside the mount, and anything
else on the volume is left alone.

Ownership. qabot replaces or deletes only folders it can prove it wrote, never because the
file names match: a version its own link names (proof even when the manifest is gone), or
a folder whose manifest carries ``"producer": "qabot"``; and only when the folder holds
nothing but qabot's names (regular files, or links, FIFOs and empty folders in their
place, which hold no data). Anything else is refused with one line and left as it is
(:func:`foreign_entry`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
from pathlib import Path

from index.errors import IndexLoadError, IndexWriteError
from index.files import is_utf8, read_regular
from index.modelling.lexical import LEXICAL_FILES

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
UNITS = "units.json"
# The link qabot keeps inside an index folder that is a mount point.
MOUNTED = "current"
# What qabot writes into every manifest ("producer"): a folder is its own when it can prove
# it wrote it (this mark, or the link it keeps), never because the file names match.
PRODUCER = "qabot"
# The file a build writes into its folder as it creates it: which process made it. Only a
# folder holding it, whose process is gone, is ever removed as a stale build.
BUILD_MARKER = ".qabot-build"
# The files of an index, and every name qabot writes into an index folder. A folder holding
# anything else is not (only) an index, and is never replaced or deleted.
DATA_FILES = frozenset((VECTORS, UNITS, *LEXICAL_FILES))
OWN_FILES = frozenset((MANIFEST, *DATA_FILES, BUILD_MARKER))
NOT_QABOTS = "its manifest.json is not qabot's"


def is_version_name(name: str, target: str) -> bool:
    """True when ``name`` is exactly how qabot names a version of ``target``
    (``.NAME.v-<UTC time to the microsecond>-<pid>``, see
    :func:`index.storage.versions.new_version`)."""
    return re.fullmatch(rf"\.{re.escape(target)}\.v-\d{{8}}T\d{{12}}-\d+", name) is not None


def build_pid(name: str, target: str) -> int | None:
    """The pid in ``name`` when it is exactly how qabot names a build folder of ``target``
    (``.NAME.build-<pid>-<8 characters of tempfile.mkdtemp>``), else None."""
    found = re.fullmatch(rf"\.{re.escape(target)}\.build-(\d+)-[a-z0-9_]{{8}}", name)
    return int(found[1]) if found else None


def is_version_link(path: Path) -> bool:
    """True when ``path`` is qabot's link to one of its versions beside it."""
    try:
        dest = os.readlink(path)
    except OSError:
        return False
    return is_version_name(dest, path.name)


def index_target(index_dir: Path) -> Path:
    """The path qabot manages for ``index_dir``: the user's symlinks followed, its own kept;
    inside a mount point (which cannot be replaced), its ``current`` link."""
    path = Path(os.path.abspath(index_dir))
    for _ in range(40):
        if not path.is_symlink() or is_version_link(path):
            break
        path = Path(os.path.abspath(Path(os.path.realpath(path.parent)) / os.readlink(path)))
    path = Path(os.path.realpath(path.parent)) / path.name
    if not path.is_symlink() and path.is_dir() and (
            os.path.ismount(path) or is_version_link(path / MOUNTED)):
        return path / MOUNTED
    return path


def siblings(target: Path, tag: str) -> list[Path]:
    """Entries beside ``target`` named ``.NAME<tag>…``, newest version first."""
    prefix = f".{target.name}{tag}"
    try:
        names = [e.name for e in os.scandir(target.parent) if e.name.startswith(prefix)]
    except OSError:
        return []
    return [target.parent / n for n in sorted(names, reverse=True)]


def versions_beside(target: Path) -> list[Path]:
    """The versions of ``target`` beside it (named exactly as qabot names them), newest first."""
    return [p for p in siblings(target, ".v-") if is_version_name(p.name, target.name)]


def _newest_complete(target: Path) -> Path | None:
    """The newest version beside ``target`` that holds a manifest (recovery on read)."""
    for folder in versions_beside(target):
        if not folder.is_symlink() and (folder / MANIFEST).is_file():
            return folder
    return None


def live_folder(index_dir: Path) -> Path:
    """The folder to read the index named ``index_dir`` from, resolved once.

    Where its link points (or the folder itself); when the path is missing or its link
    dangles, the newest complete version beside it.
    """
    target = index_target(index_dir)
    real = Path(os.path.realpath(target))
    if real.is_dir():
        return real
    found = _newest_complete(target)
    if found is not None:
        log.info("index %s is missing or dangles: reading %s", index_dir, found)
        return found
    return real


def has_index(index_dir: Path) -> bool:
    """True when ``index_dir`` names an index (complete or damaged), not a missing one: its
    folder holds a manifest (of any kind), or it is a version qabot's link names that holds
    anything (an index whose manifest was deleted: ``ask`` refuses it, a build repairs it)."""
    live = live_folder(index_dir)
    if os.path.lexists(live / MANIFEST):
        return True
    if not names_version(index_dir, live):
        return False
    try:
        with os.scandir(live) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def names_version(index_dir: Path, folder: Path) -> bool:
    """True when ``folder`` is the version qabot's own link ``index_dir`` names."""
    target = index_target(index_dir)
    return is_version_link(target) and Path(os.path.realpath(target)) == folder


def _is_empty_dir(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return not any(True for _ in entries)
    except OSError:
        return False


def foreign_entry(folder: Path, *, linked: bool = False) -> str | None:
    """Why ``folder`` may not be replaced or deleted by a build, or None when it may.

    Only a folder qabot can prove it wrote: the version its own link names (``linked``:
    proof even when the manifest is gone), or one whose manifest says qabot wrote it (see
    :func:`_manifest_proof`); and only when it holds nothing of anyone else's: entries with
    the names qabot writes, each a regular file or something that holds no data (a link, a
    FIFO or an empty folder in a file's place, as damage leaves them). Names alone prove
    nothing: another tool's ``manifest.json`` and ``vectors.faiss`` are not qabot's.
    """
    try:
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
    except OSError as exc:
        return f"cannot list it ({exc.strerror or exc})"
    if not entries:
        return None
    for entry in entries:
        if _is_lock_file(entry):
            continue  # qabot's own (an index built inside this one by an older qabot)
        if entry.name not in OWN_FILES:
            return f"it holds {entry.name!r}, which qabot did not write"
        if entry.is_dir(follow_symlinks=False) and not _is_empty_dir(entry.path):
            return f"{entry.name!r} in it is a folder holding files"
    if linked:
        return None
    regular = {e.name for e in entries if e.is_file(follow_symlinks=False)}
    return _manifest_proof(folder, {e.name for e in entries}, regular)


def _is_lock_file(entry: os.DirEntry[str]) -> bool:
    """True for a build lock as qabot writes one (``.NAME.lock``, an empty regular file):
    it holds no data, so it never makes a folder someone else's."""
    if re.fullmatch(r"\..+\.lock", entry.name) is None:
        return False
    try:
        return entry.is_file(follow_symlinks=False) and entry.stat(
            follow_symlinks=False).st_size == 0
    except OSError:
        return False


def _manifest_proof(folder: Path, names: set[str], regular: set[str]) -> str | None:
    """None when ``folder``'s manifest proves qabot wrote the folder (qabot's mark,
    ``"producer": "qabot"``, in every manifest it writes), else why not."""
    if MANIFEST not in regular:
        return "it holds no manifest.json" if MANIFEST not in names \
            else "its manifest.json is not a regular file"
    try:
        manifest = json.loads(read_regular(folder / MANIFEST))
    except (OSError, ValueError, RecursionError):
        return NOT_QABOTS
    if isinstance(manifest, dict) and manifest.get("producer") == PRODUCER:
        return None
    return NOT_QABOTS


def check_target(target: Path, index_dir: Path) -> None:
    """Refuse to build where a folder that is not a qabot index would be replaced."""
    if target.is_symlink() and not is_version_link(target):
        raise IndexWriteError(f"{index_dir} is a symbolic link qabot cannot follow (a loop?)")
    folder = Path(os.path.realpath(target))
    if folder.exists() and not folder.is_dir():
        if target.name == MOUNTED and os.path.ismount(target.parent):
            raise IndexLoadError(f"{index_dir} is a mount point holding a file named "
                                 f"{MOUNTED!r}, which qabot did not write, where it keeps its "
                                 f"link to the index; nothing was changed: move that file, "
                                 f"or choose another index folder")
        what = "a file" if folder.is_file() else "a FIFO, socket or device"
        raise IndexLoadError(f"{index_dir} is {what}, not an index folder")
    if folder.is_dir():
        why = foreign_entry(folder, linked=is_version_link(target))
        if why is not None:
            raise IndexLoadError(f"{index_dir} is not a qabot index folder ({why}); "
                                 f"nothing was changed: choose another index folder")


def _is_index_folder(folder: Path) -> bool:
    """True when ``folder`` is (a version or a build of) a qabot index: its manifest says
    qabot wrote it, or it is named and marked as qabot names and marks its own."""
    if re.fullmatch(r"\..+\.(v-\d{8}T\d{12}-\d+|build-\d+-[a-z0-9_]{8})", folder.name):
        return True
    if os.path.lexists(folder / BUILD_MARKER):
        return True
    try:
        if not (folder / MANIFEST).is_file():
            return False
        manifest = json.loads(read_regular(folder / MANIFEST))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(manifest, dict) and manifest.get("producer") == PRODUCER


def check_index_path(index_dir: Path) -> None:
    """Refuse, before anything reads or writes it, an index path the OS refuses (a name or
    path too long, a parent that cannot be searched) or that is not UTF-8 text."""
    if not is_utf8(os.path.abspath(index_dir)):
        raise IndexWriteError(f"{index_dir}: the path is not UTF-8 text, which an index "
                              f"cannot record; choose another index folder")
    try:
        os.stat(index_dir)
    except (FileNotFoundError, NotADirectoryError):
        return  # built on first use; a file in the way is said where it is met
    except OSError as exc:
        if exc.errno != errno.ELOOP:  # a link loop is said where it is met
            raise IndexWriteError(f"cannot use the index folder {index_dir}: "
                                  f"{exc.strerror or exc}; choose another index folder"
                                  ) from None


def check_not_nested(index_dir: Path) -> None:
    """Refuse to put an index inside another index's folder: it would write into that
    index's live version, which the next build of that index replaces."""
    given = Path(index_dir)
    logical = Path(os.path.abspath(given))
    # Each folder above as the user wrote it, where the path says ("IDX" for "IDX/sub").
    shown = [p for p in given.parents if p != Path(".")] if ".." not in given.parts else []
    try:
        real = Path(os.path.realpath(logical.parent))
    except (OSError, ValueError):
        real = logical.parent
    above = [*zip(logical.parents, [*shown, *logical.parents[len(shown):]], strict=True),
             *((p, p) for p in (real, *real.parents))]
    for folder, name in above:
        if _is_index_folder(folder):
            raise IndexWriteError(f"{index_dir} is inside the index at {name}: qabot does "
                                  f"not put an index inside another one; choose a folder "
                                  f"outside it")


def check_build_target(index_dir: Path) -> None:
    """Refuse, before any source is read or model loaded, a folder a build of ``index_dir``
    would not replace (see :func:`foreign_entry`), or one inside another index; the build
    checks again."""
    check_not_nested(index_dir)
    check_target(index_target(index_dir), index_dir)

