"""Fault injection, round 4 (issue 32), the index folder and its sources: a manifest whose
record of its sources has another type, symbolic link loops in a source folder, an index
built inside another one's folder.

Each case failed on d6d6c1b. The commands run in real processes (fake models) with a time
limit, a home folder of their own, and their working folder the test's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from index.sources.documents import load_sources
from index.storage.build import build_index
from index.storage.folder import MANIFEST
from tests.fakes import FakeEmbedder
from tests.reliability.round4 import one_line, qabot


def _notes(tmp_path: Path) -> Path:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "boats.txt").write_text("Boats float on water. Apples grow on trees.",
                                     encoding="utf-8")
    return notes


# --- item 1: a record of the sources of another type is never read as one -----------------
# The string is a relative path: were it iterated as before, its characters would be sources
# named "n", "o", … in the test's own folder, never "/" (the "/home/me/notes" walked
# the whole file system from "/").
WRONG_SOURCES = {"string": "notes", "object": {"notes": "notes"}, "number": 5, "true": True,
                 "list-of-numbers": [5], "list-with-empty": ["notes", ""],
                 "list-of-lists": [["notes"]]}


@pytest.mark.parametrize("value", list(WRONG_SOURCES.values()), ids=list(WRONG_SOURCES))
def test_sources_of_another_type_are_refused_and_never_iterated(tmp_path: Path,
                                                                value: Any) -> None:
    notes = _notes(tmp_path)
    index = tmp_path / "idx"
    build_index(load_sources([notes]), FakeEmbedder(), index, sources=[notes])
    manifest = Path(os.path.realpath(index)) / MANIFEST
    edited = json.loads(manifest.read_text(encoding="utf-8"))
    edited["sources"] = value
    manifest.write_text(json.dumps(edited), encoding="utf-8")
    before = manifest.read_bytes()

    expected = (f"qabot: error: index at {index} is corrupt: manifest.json field sources: "
                f"should be a JSON list of paths, so what it was built from is unknown; "
                f"rebuild it with `qabot index build --index-dir {index} --source PATH`")
    for args in (["index", "build", "--index-dir", str(index)],
                 ["ask", "--index-dir", str(index), "Do boats float?"],
                 ["index", "info", "--index-dir", str(index)]):
        assert one_line(qabot(tmp_path, *args), 1) == expected, args
    assert Path(os.path.realpath(index)) / MANIFEST == manifest
    assert manifest.read_bytes() == before, "the index is kept as it was"

    repaired = qabot(tmp_path, "index", "build", "--index-dir", str(index), "--source",
                     str(notes))
    assert repaired.returncode == 0, repaired.stderr
    answer = qabot(tmp_path, "ask", "--json", "--index-dir", str(index), "Do boats float?")
    assert json.loads(answer.stdout)["passages"][0]["doc"] == "boats"


# --- item 2: symbolic link loops in a source folder are counted skips ----------------------
def _loops(folder: Path) -> Path:
    """A folder of one good file, links that loop (a pair, one to itself) and links to
    folders that lead back into the folder (never followed)."""
    folder.mkdir()
    (folder / "good.txt").write_text("Boats float on water. Apples grow on trees.",
                                     encoding="utf-8")
    (folder / "loopA.txt").symlink_to("loopB.txt")
    (folder / "loopB.txt").symlink_to("loopA.txt")
    (folder / "self.md").symlink_to("self.md")
    (folder / "here").symlink_to(".")
    (folder / "sub").mkdir()
    (folder / "sub" / "again").symlink_to("../sub")
    (folder / "sub" / "round.html").symlink_to("../sub/round.html")
    return folder


def test_link_loops_in_a_source_folder_are_skipped_and_counted(tmp_path: Path) -> None:
    src = _loops(tmp_path / "src")
    index = tmp_path / "idx"
    proc = qabot(tmp_path, "index", "build", "--source", str(src), "--index-dir", str(index))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [
        f"qabot: skipped 6 files in {src}: 4 a link loop (loopA.txt, loopB.txt, self.md, …); "
        "2 a link to a folder (here, sub/again)"], proc.stderr[-2000:]
    info = json.loads(qabot(tmp_path, "index", "info", "--json", "--index-dir",
                            str(index)).stdout)
    assert [d["name"] for d in info["documents"]] == ["good"]


@pytest.mark.parametrize("name", ["loopA.txt", "self.md", "sub/round.html"])
def test_a_link_loop_given_as_a_source_is_one_line(tmp_path: Path, name: str) -> None:
    src = _loops(tmp_path / "src")
    proc = qabot(tmp_path, "index", "build", "--source", str(src / name), "--index-dir",
                 str(tmp_path / "idx"))
    assert one_line(proc, 1) == (f"qabot: error: {src / name}: a symbolic link loop (it "
                                 "leads back to itself); give a file or a folder")
    assert not (tmp_path / "idx").exists()


# --- item 5: no index inside another one; qabot's own lock file never refused ---------------
def _files(folder: Path) -> dict[str, bytes | str]:
    """What ``folder`` holds, recursively: file bytes, and where links point."""
    return {str(p.relative_to(folder)): os.readlink(p) if p.is_symlink() else p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


@pytest.mark.parametrize("how", ["build", "build-deeper", "ask", "ask-from-setting"])
def test_an_index_inside_another_index_is_refused(tmp_path: Path, how: str) -> None:
    index = tmp_path / "IDX"
    assert qabot(tmp_path, "index", "build", "--index-dir", "IDX").returncode == 0
    version = Path(os.path.realpath(index))
    before = _files(version)
    inner = "IDX/a/b" if how == "build-deeper" else "IDX/sub"
    args = {"build": ["index", "build", "--index-dir", inner],
            "build-deeper": ["index", "build", "--index-dir", inner],
            "ask": ["ask", "--index-dir", inner, "Who met Putin?"],
            "ask-from-setting": ["ask", "Who met Putin?"]}[how]
    proc = qabot(tmp_path, *args, env={"QABOT_INDEX_DIR": inner})
    assert one_line(proc, 1) == (f"qabot: error: {inner} is inside the index at IDX: qabot "
                                 "does not put an index inside another one; choose a folder "
                                 "outside it")
    assert _files(version) == before, "nothing written into the other index"
    rebuilt = qabot(tmp_path, "index", "build", "--force", "--index-dir", "IDX")
    assert rebuilt.returncode == 0, rebuilt.stderr


def test_a_build_of_an_index_holding_a_lock_file_of_qabots_goes_ahead(tmp_path: Path) -> None:
    """An older qabot built ``IDX/sub`` and it was removed since: its lock file is left in
    the live version. A lock holds no data: the rebuild replaces the version."""
    assert qabot(tmp_path, "index", "build", "--index-dir", "IDX").returncode == 0
    version = Path(os.path.realpath(tmp_path / "IDX"))
    (version / ".sub.lock").touch()
    rebuilt = qabot(tmp_path, "index", "build", "--force", "--index-dir", "IDX")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert Path(os.path.realpath(tmp_path / "IDX")) != version
    assert not version.exists(), "the old version, its lock file with it, is removed"


def test_an_index_an_older_qabot_put_inside_another_is_kept(tmp_path: Path) -> None:
    """Built inside ``IDX`` by an older qabot (here: by hand, with its link and version):
    the rebuild of ``IDX`` keeps it, and says why."""
    assert qabot(tmp_path, "index", "build", "--index-dir", "IDX").returncode == 0
    version = Path(os.path.realpath(tmp_path / "IDX"))
    build_index(load_sources(), FakeEmbedder(), tmp_path / "elsewhere")
    inner = Path(os.path.realpath(tmp_path / "elsewhere"))
    os.rename(inner, version / inner.name.replace(".elsewhere.", ".sub."))
    (version / "sub").symlink_to(inner.name.replace(".elsewhere.", ".sub."))
    (version / ".sub.lock").touch()
    before = _files(version)
    proc = qabot(tmp_path, "index", "build", "--force", "--index-dir", "IDX")
    line = one_line(proc, 1)
    assert "is not a qabot index folder" in line and ".sub.v-" in line, line
    assert _files(version) == before


# --- item 7: a lexical vocabulary nested too deeply ---------------------------------------
def test_a_deeply_nested_lexical_vocabulary_is_one_line_and_a_plain_build_repairs_it(
        tmp_path: Path) -> None:
    """Its size and sha256 made to match in the manifest: only reading it finds the damage."""
    from index.modelling.lexical import LEXICAL_VOCAB
    from index.storage.build import _file_info

    notes = _notes(tmp_path)
    index = tmp_path / "idx"
    build_index(load_sources([notes]), FakeEmbedder(), index, sources=[notes])
    version = Path(os.path.realpath(index))
    deep = "[" * 100_000 + "]" * 100_000  # deeper than any interpreter's stack
    (version / LEXICAL_VOCAB).write_text('{"size": 2, "vocab": ' + deep + "}")
    manifest = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"][LEXICAL_VOCAB] = _file_info(version / LEXICAL_VOCAB)
    (version / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    line = one_line(qabot(tmp_path, "ask", "--index-dir", "idx", "Do boats float?"), 1)
    assert line.startswith("qabot: error: index at idx is corrupt: its lexical model cannot "
                           "be read (nested too deeply"), line
    assert line.endswith("rebuild it with `qabot index build --index-dir idx`"), line
    repaired = qabot(tmp_path, "index", "build", "--index-dir", "idx")
    assert repaired.returncode == 0 and "built index" in repaired.stdout, repaired.stderr
    answer = qabot(tmp_path, "ask", "--json", "--index-dir", "idx", "Do boats float?")
    assert json.loads(answer.stdout)["passages"][0]["doc"] == "boats"


# --- item 11: a folder named by --index-dir that holds no index ----------------------------
@pytest.mark.parametrize("state", ["missing", "empty"])
@pytest.mark.parametrize("command", ["ask", "batch", "repl", "eval"])
def test_an_index_dir_option_naming_no_index_is_one_line(tmp_path: Path, command: str,
                                                         state: str) -> None:
    """A typo (``--index-dir TYPO``) used to build the built-in article there, exit 0. The
    configured folder (QABOT_INDEX_DIR, the default) is still built on first use."""
    if state == "empty":
        (tmp_path / "TYPO").mkdir()
    (tmp_path / "q.jsonl").write_text('{"question": "Who met Putin?", "gold": ["Trump"]}\n')
    args = {"ask": ["ask", "Who met Putin?"], "batch": ["ask", "--batch", "-"],
            "repl": ["repl"], "eval": ["eval", "q.jsonl"]}[command]
    proc = qabot(tmp_path, *args, "--index-dir", "TYPO", input="Who met Putin?\n")
    assert one_line(proc, 1) == ("qabot: error: no index at TYPO (manifest.json missing); "
                                 "build one with `qabot index build --index-dir TYPO`")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["q.jsonl", *(["TYPO"] if state == "empty" else [])]), "nothing was written"
    assert not (tmp_path / "TYPO").exists() or list((tmp_path / "TYPO").iterdir()) == []


# --- item 11: FAISS's disk-full error, cut at a word --------------------------------------
@pytest.mark.parametrize("depth", [1, 12], ids=["short-path", "long-path"])
def test_faiss_disk_full_says_why_in_whole_words(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 depth: int) -> None:
    """FAISS's own message (its file and line, then the failed check and the path): the
    line keeps what follows the check, cut where a folder starts, never "…rite.cpp:499"."""
    import faiss
    from click.testing import CliRunner

    import index.answering.configured
    from bot.cli import cli

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())
    folder = tmp_path.joinpath(*["deep" * 10] * depth) / "idx"

    def full(_: Any, path: str) -> None:
        raise RuntimeError("Error in void faiss::write_index(const faiss::Index*, faiss::"
                           "IOWriter*, int) at /project/faiss/faiss/impl/index_write.cpp:499:"
                           f" Error: 'ret == (1)' failed: write error in {path}: 0 != 1 (No "
                           "space left on device)")

    monkeypatch.setattr(faiss, "write_index", full)
    result = CliRunner().invoke(cli, ["index", "build", "--index-dir", str(folder)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    [line] = result.stderr.splitlines()
    head, tail = (f"qabot: error: cannot write the index at {folder}: ",
                  "; the index there is unchanged")
    assert line.startswith(head) and line.endswith(tail), line
    reason = line[len(head):-len(tail)]
    assert reason.endswith("/vectors.faiss: 0 != 1 (No space left on device)"), reason
    if depth == 1:
        assert reason.startswith(f"write error in {folder.parent}/.idx.build-"), reason
    else:
        assert reason.startswith("…/") and len(reason) <= 301, reason  # at a folder
        assert "deep" * 10 + "/" + "deep" * 10 in reason, reason


# --- item 11: every format read is named where sources are described ----------------------
def test_build_help_and_env_example_name_every_format_read() -> None:
    from click.testing import CliRunner

    from bot.cli import cli
    from index.sources.documents import HTML_SUFFIXES, JSONL_SUFFIX, MARKDOWN_SUFFIXES, RST_SUFFIXES

    kinds = [".txt", MARKDOWN_SUFFIXES[0], RST_SUFFIXES[0], HTML_SUFFIXES[0], JSONL_SUFFIX]
    shown = " ".join(CliRunner().invoke(cli, ["index", "build", "--help"]).output.split())
    example = (Path(__file__).parents[2] / ".env.example").read_text(encoding="utf-8")
    sources = example[example.index("QABOT_SOURCES") - 300 : example.index("QABOT_SOURCES")]
    for kind in kinds:
        assert kind in shown and kind in sources, kind


# --- item 11: a kill while an old version is deleted ----------------------------------------
KILLED_CLEANUP = """
import os, signal, sys
from pathlib import Path
unlink = os.unlink

def dying(path, *args, **kwargs):  # killed as the old version's manifest.json goes
    unlink(path, *args, **kwargs)
    if os.path.basename(path) == "manifest.json":
        os.kill(os.getpid(), signal.SIGKILL)

os.unlink = dying
from index.storage.build import build_index
from index.sources.documents import load_sources
from tests.fakes import FakeEmbedder
build_index(load_sources([Path(sys.argv[2])]), FakeEmbedder(), Path(sys.argv[1]), force=True,
            sources=[Path(sys.argv[2])])
"""


def test_a_version_whose_deletion_a_kill_cut_short_goes_with_the_next_build(
        tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.reliability.round4 import ROOT

    notes = _notes(tmp_path)
    assert qabot(tmp_path, "index", "build", "--index-dir", "idx", "--source", "notes"
                 ).returncode == 0
    old = Path(os.path.realpath(tmp_path / "idx"))
    killed = subprocess.run([sys.executable, "-c", KILLED_CLEANUP, str(tmp_path / "idx"),
                             str(notes)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert old.exists() and not (old / MANIFEST).exists(), "killed mid-deletion"
    again = qabot(tmp_path, "index", "build", "--force", "--index-dir", "idx",
                  env={"QABOT_LOG_LEVEL": "INFO"})
    assert again.returncode == 0, again.stderr
    assert "leaving" not in again.stderr, again.stderr
    assert not old.exists(), "the half-deleted version is gone"


# --- item 11: a user's file named "current" on a volume mounted at the index folder ---------
def test_a_users_file_where_a_mounted_index_keeps_its_link_is_named(tmp_path: Path) -> None:
    """A volume mounted at the index folder (in a mount namespace of the test's own)."""
    import shutil
    import subprocess
    import sys

    from tests.reliability.round4 import FAKE_CLI, environment

    if shutil.which("unshare") is None:
        pytest.skip("no unshare here")
    volume = tmp_path / "volume"
    volume.mkdir()
    script = (f"mount -t tmpfs tmpfs '{volume}' && echo mine > '{volume}/current' && "
              f"'{sys.executable}' -c \"$QABOT_CLI\" index build --index-dir '{volume}'; "
              f"code=$?; cat '{volume}/current' >&2; exit $code")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp_path,
                          env={**environment(tmp_path), "QABOT_CLI": FAKE_CLI},
                          capture_output=True, text=True, timeout=60, check=False)
    if "mount:" in proc.stderr or "unshare:" in proc.stderr:
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        f"qabot: error: {volume} is a mount point holding a file named 'current', which qabot "
        "did not write, where it keeps its link to the index; nothing was changed: move that "
        "file, or choose another index folder", "mine"], proc.stderr
