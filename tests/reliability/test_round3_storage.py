"""Fault injection, round 3 (issue 19), the index folder and the build.

Each test injects one fault found on b5f4939: another tool's folder taken for an index, a
user's folder named like a stale build, a FIFO or a link to a device in an index file's
place, repairs the suggested build refused, a plain build that forgot its sources, ``~``
in a setting, a build folder a kill left, an empty file in a folder, Ctrl-C during a build.
Faults of a process (a hang, a kill, an interrupt) run in a real process with a time limit,
so that a hang fails instead of blocking.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.modelling.lexical import LEXICAL_FILES
from index.sources.documents import load_sources
from index.storage.build import build_index
from index.storage.folder import MANIFEST, UNITS, VECTORS
from tests.conftest import ARTICLE_DOC
from tests.fakes import FakeEmbedder
from tests.reliability.test_faults_storage import (
    beside,
    build,
    doc_names,
    edit_manifest,
    one_line_failure,
    write_docs,
)

ROOT = Path(__file__).resolve().parents[2]
# The CLI with the fake models (no model loads, so a hang is the fault's, not a load's).
CLI = textwrap.dedent("""
    import index.answering.configured
    from tests.fakes import FakeEmbedder, FakeReranker
    index.answering.configured.default_embedder = lambda settings, *_: FakeEmbedder()
    index.answering.configured.default_reranker = lambda settings, *_: FakeReranker()
    from bot.cli import main
    main()
""")
TIMEOUT = 60


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())
    return CliRunner()


def qabot(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI (fake models) in its own process; a hang fails the test."""
    try:
        return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True,
                              text=True, timeout=TIMEOUT, cwd=cwd,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"qabot {' '.join(args)} hung for {TIMEOUT} s")


def one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qabot: error: "), proc.stderr
    return lines[0]


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait(timeout=TIMEOUT)
    return proc.pid


# --- item 1: a folder is qabot's only when qabot can prove it wrote it ---------------------
def _older_qabot_manifest(tmp_path: Path) -> bytes:
    """A real manifest of qabot without its producer mark, for files it does not describe."""
    source = tmp_path / "elsewhere"
    build_index(load_sources(), FakeEmbedder(), source)
    edit_manifest(source, lambda m: m.pop("producer", None))
    return (source / MANIFEST).read_bytes()


FOREIGN = {
    "manifest-and-vectors": {MANIFEST: b'{"format_version": 1, "files": {}}',
                             VECTORS: b"another tool's vectors"},
    "manifest-and-units": {MANIFEST: b'{"format_version": 1, "files": {}, "units": 3}',
                           UNITS: b'[{"id": "u1", "text": "mine"}]'},
    "lone-manifest": {MANIFEST: b'{"format_version": 1, "files": {}}'},
    "older-qabot-manifest-other-files": {VECTORS: b"not these vectors", UNITS: b"[]"},
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_another_tools_folder_is_never_taken_for_an_index(runner: CliRunner, tmp_path: Path,
                                                          kind: str) -> None:
    mv = tmp_path / "mv"
    mv.mkdir()
    files = dict(FOREIGN[kind])
    files.setdefault(MANIFEST, _older_qabot_manifest(tmp_path))
    for name, data in files.items():
        (mv / name).write_bytes(data)
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(mv)])
    assert "not a qabot index folder" in one_line_failure(result, 1)
    asked = runner.invoke(cli, ["ask", "--index-dir", str(mv), "Who is Lavrov?"])
    assert asked.exit_code == 1 and "Traceback" not in asked.output
    assert contents(mv) == files and not mv.is_symlink()
    assert beside(mv, "v-") == [] and beside(mv, "build-") == []


# --- item 2: only build folders qabot can prove it made are cleaned up ---------------------
def test_a_folder_named_like_a_stale_build_is_kept(runner: CliRunner, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    build(runner, index)
    pid = dead_pid()
    mine = {f".idx.build-{pid}-anything": {"thesis.tex": b"do not delete"},
            f".idx.build-{pid}-abcdefgh": {UNITS: b"my units", "notes.md": b"mine"},
            f".idx.build-{pid}-zyxwvuts": {UNITS: b"named like qabot's, not made by it"}}
    for name, files in mine.items():
        (tmp_path / name).mkdir()
        for file, data in files.items():
            (tmp_path / name / file).write_bytes(data)
    build(runner, index, "--force")
    assert runner.invoke(cli, ["index", "info", "--index-dir", str(index)]).exit_code == 0
    for name, files in mine.items():
        assert contents(tmp_path / name) == files, name


# --- item 6: a FIFO or a link to a device in an index file's place ----------------------
def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


@pytest.mark.parametrize("fault", [_fifo, _dev_zero], ids=["fifo", "link-to-dev-zero"])
def test_ask_never_hangs_on_a_special_file_in_the_index(tmp_path: Path, fault) -> None:
    index = tmp_path / "idx"
    build_index(load_sources(), FakeEmbedder(), index)
    fault(index / VECTORS)
    line = one_line(qabot(tmp_path, "ask", "--index-dir", str(index), "Who is Lavrov?"), 1)
    assert f"{VECTORS} is not a regular file" in line
    assert f"qabot index build --index-dir {index}" in line


# --- item 7: the build the message suggests repairs every state ask refuses -----------------
def _manifest_deleted(index: Path) -> None:
    (index / MANIFEST).unlink()


def _units_fifo(index: Path) -> None:
    _fifo(index / UNITS)


def _vectors_folder(index: Path) -> None:
    (index / VECTORS).unlink()
    (index / VECTORS).mkdir()


def _lexical_dev_zero(index: Path) -> None:
    _dev_zero(index / LEXICAL_FILES[0])


def _manifest_fifo(index: Path) -> None:
    _fifo(index / MANIFEST)


REFUSED = [_manifest_deleted, _units_fifo, _vectors_folder, _lexical_dev_zero, _manifest_fifo]


@pytest.mark.parametrize("damage", REFUSED, ids=lambda f: f.__name__.strip("_"))
def test_a_plain_build_repairs_what_ask_refuses(tmp_path: Path, damage) -> None:
    index = tmp_path / "idx"
    src = write_docs(tmp_path / "src", a="Apples grow on trees. Pears fall.",
                     b="Boats float on water. Birds fly.")
    build_index(load_sources([src]), FakeEmbedder(), index, sources=[src])
    damage(index)
    refused = one_line(qabot(tmp_path, "ask", "--index-dir", str(index), "Do boats float?"), 1)
    assert f"qabot index build --index-dir {index}`" in refused
    repaired = qabot(tmp_path, "index", "build", "--index-dir", str(index))
    assert repaired.returncode == 0, repaired.stderr
    assert "built index" in repaired.stdout
    fixed = qabot(tmp_path, "ask", "--json", "--index-dir", str(index), "Do boats float?")
    assert fixed.returncode == 0, fixed.stderr
    assert beside(index, "v-") == [os.readlink(index)], "the damaged version is cleaned up"
    assert beside(index, "build-") == []


def test_a_folder_with_files_in_an_index_files_place_is_kept(runner: CliRunner,
                                                            tmp_path: Path) -> None:
    """What the build will not repair, because it would delete something: it says so."""
    index = tmp_path / "idx"
    build(runner, index)
    (index / VECTORS).unlink()
    (index / VECTORS).mkdir()
    (index / VECTORS / "mine.txt").write_text("keep")
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(index)])
    assert f"'{VECTORS}' in it is a folder holding files" in one_line_failure(result, 1)
    assert (index / VECTORS / "mine.txt").read_text() == "keep"


# --- item 8: a plain build rebuilds from the sources the index records ----------------------
def test_a_plain_build_rebuilds_from_the_recorded_sources(runner: CliRunner,
                                                          tmp_path: Path) -> None:
    index = tmp_path / "idx"
    src = write_docs(tmp_path / "src", a="Apples grow. Pears fall.", b="Boats float.")
    build(runner, index, "--source", str(src))
    write_docs(src, c="Cats purr. Cows moo.")
    result = build(runner, index)
    assert doc_names(index) == ["a", "b", "c"]
    assert f"building from the sources the index records: {src}" in result.stderr


def test_a_plain_build_whose_recorded_sources_are_gone_keeps_the_index(
        runner: CliRunner, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    src = write_docs(tmp_path / "src", a="Apples grow. Pears fall.", b="Boats float.")
    build(runner, index, "--source", str(src))
    shutil.rmtree(src)
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(index)])
    line = one_line_failure(result, 1)
    assert "cannot rebuild from the sources the index records" in line and str(src) in line
    assert doc_names(index) == ["a", "b"]


def test_qabot_sources_still_wins_over_the_recorded_sources(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "idx"
    build(runner, index, "--source", str(write_docs(tmp_path / "a", a="Apples grow.")))
    monkeypatch.setenv("QABOT_SOURCES", str(write_docs(tmp_path / "b", b="Boats float.")))
    build(runner, index)
    assert doc_names(index) == ["b"]


# --- item 11: ~ in a setting, a killed build's folder, an empty file, Ctrl-C ---------------
@pytest.mark.parametrize("setting", ["~", "~/x"])
def test_a_tilde_in_the_index_dir_setting_is_the_home_folder(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        setting: str) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("QABOT_INDEX_DIR", setting)
    monkeypatch.chdir(work)
    result = runner.invoke(cli, ["index", "build"])
    assert result.exit_code == 0, result.output
    assert list(work.iterdir()) == [], "nothing written in the working folder"
    assert doc_names(home / setting.removeprefix("~").lstrip("/")) == [ARTICLE_DOC]


KILLED_BUILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from index.sources.documents import load_sources
    from index.storage.build import build_index
    from tests.fakes import FakeEmbedder

    build_index(load_sources(), FakeEmbedder(), Path(sys.argv[1]), force=True,
                on_encoded=lambda: os.kill(os.getpid(), signal.SIGKILL))
""")


@pytest.mark.parametrize("command", [["index", "info"], ["ask", "Who is Lavrov?"]])
def test_the_next_command_removes_the_folder_of_a_killed_build(
        runner: CliRunner, tmp_path: Path, command: list[str]) -> None:
    index = tmp_path / "idx"
    build(runner, index)
    proc = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(index)], timeout=TIMEOUT,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(beside(index, "build-")) == 1, "the kill left its build folder"
    result = runner.invoke(cli, [*command, "--index-dir", str(index)])
    assert result.exit_code == 0, result.output
    assert beside(index, "build-") == []


def test_an_empty_file_in_a_folder_is_skipped_and_said(runner: CliRunner,
                                                       tmp_path: Path) -> None:
    src = write_docs(tmp_path / "src", a="Apples grow. Pears fall.", b="Boats float.")
    (src / "empty.txt").touch()
    index = tmp_path / "idx"
    result = build(runner, index, "--source", str(src))
    assert "skipped 1 file" in result.stderr and "empty (empty.txt)" in result.stderr
    assert doc_names(index) == ["a", "b"]


SLOW_BUILD = textwrap.dedent("""
    import time
    import index.answering.configured
    from tests.fakes import FakeEmbedder

    class Slow(FakeEmbedder):
        def encode(self, texts, *, batch_size=64, progress=False):
            from tqdm import tqdm
            bar = tqdm(total=len(texts), desc="Encoding", unit="text") if progress else None
            for _ in texts:
                time.sleep(0.5)
                if bar is not None:
                    bar.update(1)
            return super().encode(texts, batch_size=batch_size)

    index.answering.configured.default_embedder = lambda settings, *_: Slow()
    from bot.cli import main
    main()
""")


def _terminal_lines(raw: bytes) -> list[str]:
    """What a terminal shows of ``raw``: each line as left by its last carriage return."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n")]


def test_ctrl_c_during_a_build_exits_130_on_a_line_of_its_own(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    build_index(load_sources(), FakeEmbedder(), index)
    before = contents(index)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, "index", "build", "--force",
                             "--index-dir", str(index)], stdin=slave, stdout=slave,
                            stderr=slave, cwd=tmp_path, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.close(slave)
    out = b""
    deadline = time.monotonic() + TIMEOUT
    sent = False
    try:
        while time.monotonic() < deadline:
            if not sent and b"Encoding" in out and b"/35" in out.rsplit(b"Encoding", 1)[-1]:
                time.sleep(0.7)  # a bar that has moved
                proc.send_signal(signal.SIGINT)
                sent = True
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the other end closed
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert sent, out
    assert code == 130, out
    shown = [line for line in _terminal_lines(out) if line.strip()]
    assert shown[-1].startswith("qabot: interrupted"), shown
    assert "Encoding" not in shown[-1] and "Traceback" not in out.decode()
    assert contents(index) == before and beside(index, "build-") == []


def test_a_file_of_white_space_in_a_folder_is_skipped_and_said(tmp_path: Path) -> None:
    from index.sources.documents import load_sources

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "blank.md").write_text("  \n\n \t\n", encoding="utf-8")
    (folder / "only-a-heading.md").write_text("# Title\n", encoding="utf-8")
    (folder / "owls.txt").write_text("Owls hunt at night.", encoding="utf-8")
    said: list[str] = []
    docs = load_sources([folder], notify=said.append)
    assert [d.name for d in docs] == ["owls"]
    assert any("skipped 2 files with no text to index" in line and "blank.md" in line
               for line in said)
    with pytest.raises(Exception, match="empty document"):  # named on its own: refused
        load_sources([folder / "blank.md"])
