"""Fault injection, round 4 (issue 32), paths: names that are not UTF-8, names and paths
too long for the OS, and folders above a path that cannot be searched, as ``--index-dir``,
``QABOT_INDEX_DIR`` and ``--source``.

Each case gave a traceback on d6d6c1b. The commands run in real processes (fake models),
with a time limit; the cases of a folder that cannot be searched drop the capabilities
that let root search any folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.reliability.round4 import one_line, qabot

NOT_UTF8 = os.fsdecode(b"idx\xff")  # as Python reads the name from the OS: "idx\udcff"
LONG_NAME = "n" * 256
LONG_PATH = "/".join(["p" * 200] * 25)  # 5,024 characters
NO_ROOT_READS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def _commands(index: str | None) -> dict[str, list[str]]:
    where = ["--index-dir", index] if index is not None else []
    return {"ask": ["ask", *where, "Who met Putin?"], "info": ["index", "info", *where],
            "build": ["index", "build", *where], "repl": ["repl", *where]}


def _nothing_made(tmp_path: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "notes") == [], \
        "nothing was written"


# --- item 3: names that are not UTF-8 -------------------------------------------------------
@pytest.mark.parametrize("how", ["option", "setting"])
@pytest.mark.parametrize("command", ["ask", "info", "build", "repl"])
def test_an_index_dir_that_is_not_utf8_is_one_line(tmp_path: Path, command: str,
                                                   how: str) -> None:
    args = _commands(NOT_UTF8 if how == "option" else None)[command]
    env = {"QABOT_INDEX_DIR": NOT_UTF8} if how == "setting" else {}
    proc = qabot(tmp_path, *args, env=env, input="Who met Putin?\n")
    assert one_line(proc, 1) == ("qabot: error: idx\\udcff: the path is not UTF-8 text, which "
                                 "an index cannot record; choose another index folder")
    _nothing_made(tmp_path)


def test_a_source_named_in_bytes_that_are_not_utf8_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / os.fsdecode(b"direct\xff.txt")
    source.write_text("Boats float on water.")
    proc = qabot(tmp_path, "index", "build", "--source", str(source), "--index-dir", "idx")
    assert one_line(proc, 1) == (f"qabot: error: {tmp_path}/direct\\udcff.txt: the name is "
                                 "not UTF-8 text, which an index cannot record; rename it")
    assert not (tmp_path / "idx").exists()


def test_names_that_are_not_utf8_in_a_source_folder_are_skipped_and_counted(
        tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    (notes / os.fsdecode(b"sub\xfe")).mkdir(parents=True)
    (notes / os.fsdecode(b"sub\xfe") / "inside.txt").write_text("Cats purr.")
    (notes / os.fsdecode(b"in\xff.txt")).write_text("Birds sing at dawn.")
    (notes / "boats.txt").write_text("Boats float on water.")
    proc = qabot(tmp_path, "index", "build", "--source", "notes", "--index-dir", "idx")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == ["qabot: skipped 2 files in notes: 2 named in bytes "
                                        "that are not UTF-8 (sub\\udcfe, in\\udcff.txt)"]
    info = qabot(tmp_path, "index", "info", "--json", "--index-dir", "idx")
    assert [d["name"] for d in json.loads(info.stdout)["documents"]] == ["boats"]


# --- item 4: paths the OS refuses -----------------------------------------------------------
@pytest.mark.parametrize("how", ["option", "setting"])
@pytest.mark.parametrize("command", ["ask", "info", "build", "repl"])
@pytest.mark.parametrize("path", [LONG_NAME, LONG_PATH], ids=["256-name", "5000-path"])
def test_an_index_dir_too_long_for_the_os_is_one_line(tmp_path: Path, command: str, how: str,
                                                      path: str) -> None:
    args = _commands(path if how == "option" else None)[command]
    env = {"QABOT_INDEX_DIR": path} if how == "setting" else {}
    proc = qabot(tmp_path, *args, env=env, input="Who met Putin?\n")
    assert one_line(proc, 1) == (f"qabot: error: cannot use the index folder {path}: File "
                                 "name too long; choose another index folder")
    _nothing_made(tmp_path)


@pytest.mark.parametrize("path", [LONG_NAME, LONG_PATH], ids=["256-name", "5000-path"])
def test_a_source_too_long_for_the_os_is_one_line(tmp_path: Path, path: str) -> None:
    proc = qabot(tmp_path, "index", "build", "--source", path, "--index-dir", "idx")
    assert one_line(proc, 1) == f"qabot: error: {path}: cannot read: File name too long"
    assert not (tmp_path / "idx").exists()


def _can_drop_root_reads() -> bool:
    if os.geteuid() != 0:
        return True
    if shutil.which("setpriv") is None:
        return False
    probe = subprocess.run([*NO_ROOT_READS, "true"], capture_output=True, timeout=30,
                           check=False)
    return probe.returncode == 0


@pytest.fixture
def locked(tmp_path: Path):
    """A folder holding an index and a source, which cannot be searched (mode 000)."""
    if not _can_drop_root_reads():
        pytest.skip("running as root without setpriv: every folder can be searched")
    assert qabot(tmp_path, "index", "build", "--index-dir", "locked/idx").returncode == 0
    (tmp_path / "locked" / "notes.txt").write_text("Cats purr.")
    (tmp_path / "locked").chmod(0)
    yield tmp_path / "locked"
    (tmp_path / "locked").chmod(0o755)


@pytest.mark.parametrize("command", ["ask", "info", "build", "repl"])
@pytest.mark.parametrize("index", ["locked/idx", "locked/new"])
def test_an_index_dir_whose_parent_cannot_be_searched_is_one_line(
        tmp_path: Path, locked: Path, command: str, index: str) -> None:
    proc = qabot(tmp_path, *_commands(index)[command], input="Who met Putin?\n",
                 prefix=NO_ROOT_READS if os.geteuid() == 0 else [])
    assert one_line(proc, 1) == (f"qabot: error: cannot use the index folder {index}: "
                                 "Permission denied; choose another index folder")


def test_sources_behind_a_folder_that_cannot_be_searched(tmp_path: Path,
                                                         locked: Path) -> None:
    prefix = NO_ROOT_READS if os.geteuid() == 0 else []
    proc = qabot(tmp_path, "index", "build", "--source", "locked/notes.txt", "--index-dir",
                 "idx", prefix=prefix)
    assert one_line(proc, 1) == ("qabot: error: locked/notes.txt: cannot read: Permission "
                                 "denied")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "boats.txt").write_text("Boats float on water.")
    os.symlink("../locked", notes / "locked")  # never followed: a link to a folder
    (notes / "sealed").mkdir()
    (notes / "sealed" / "a.txt").write_text("Dogs bark.")
    (notes / "sealed").chmod(0)
    try:
        proc = qabot(tmp_path, "index", "build", "--source", "notes", "--index-dir", "idx",
                     prefix=prefix)
    finally:
        (notes / "sealed").chmod(0o755)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == ["qabot: skipped 2 files in notes: 1 a link to a "
                                        "folder (locked); 1 a folder qabot cannot read "
                                        "(sealed)"]
