"""Fault injection for the index on disk: one atomic switch (issue 10, storage half).

A build publishes a new version and switches the index path to it in one rename; killed
between any two steps, or with its version deleted under a reader, a reader still finds a
complete index, and the next build cleans up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.sources.documents import load_sources
from index.storage.build import build_index
from tests.conftest import ARTICLE_DOC
from tests.fakes import FakeEmbedder
from tests.reliability import storage_faults
from tests.reliability.storage_faults import (  # emb, runner: the fixtures  # noqa: F401
    ROOT,
    beside,
    build,
    doc_names,
    write_docs,
)

# The shared fixtures (storage_faults.py): the fake embedder wired into the CLI, a runner.
emb = storage_faults.emb
runner = storage_faults.runner


# --- 5. one atomic switch -----------------------------------------------------------------
def make_old_layout(index: Path) -> None:
    """Turn ``index`` into a real folder, as qabot wrote it before versions existed."""
    version = index.parent / os.readlink(index)
    index.unlink()
    os.rename(version, index)


@pytest.mark.parametrize("layout", ["versions", "old-folder"])
def test_the_index_path_names_a_complete_index_at_every_step(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    emb = FakeEmbedder()
    index = tmp_path / "idx"
    a = write_docs(tmp_path / "a", a="Apples grow. Pears fall.")
    b = write_docs(tmp_path / "b", b="Boats float. Birds fly.")
    build_index(load_sources([a]), emb, index)
    if layout == "old-folder":
        make_old_layout(index)
    seen: list[list[str]] = []
    reading: list[bool] = []

    def checked(real: Callable[..., Any]) -> Callable[..., Any]:
        def step(src: Any, dst: Any) -> None:
            if reading:  # a step the reader itself takes is not checked again
                return real(src, dst)
            reading.append(True)
            seen.append(doc_names(index))
            real(src, dst)
            seen.append(doc_names(index))
            reading.pop()
        return step

    monkeypatch.setattr(os, "replace", checked(os.replace))
    monkeypatch.setattr(os, "rename", checked(os.rename))
    build_index(load_sources([b]), emb, index)
    monkeypatch.undo()
    assert seen and all(names in (["a"], ["b"]) for names in seen), seen
    assert seen[-1] == ["b"] and index.is_symlink()
    assert len(beside(index, "v-")) == 1


KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import index.storage.build as build
    import index.storage.versions as versions
    from index.sources.documents import load_sources
    from tests.fakes import FakeEmbedder

    source, index, step = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)

    real_as_version = versions.as_version
    if step == "old-folder-moved":
        def as_version(folder, target):
            out = real_as_version(folder, target)
            if folder == target:
                die()
            return out
        versions.as_version = as_version
    elif step == "published":
        versions.point = die
    elif step == "switched":
        versions.cleanup = die
    build.build_index(load_sources([source]), FakeEmbedder(), index, sources=[source])
""")


@pytest.mark.parametrize(("layout", "step", "reads"), [
    ("old-folder", "old-folder-moved", ["a"]),
    ("old-folder", "published", ["b"]),
    ("versions", "published", ["a"]),
    ("versions", "switched", ["b"]),
    ("old-folder", "switched", ["b"]),
])
def test_a_build_killed_between_steps(tmp_path: Path, layout: str, step: str,
                                      reads: list[str]) -> None:
    index = tmp_path / "idx"
    a = write_docs(tmp_path / "a", a="Apples grow. Pears fall.")
    b = write_docs(tmp_path / "b", b="Boats float. Birds fly.")
    build_index(load_sources([a]), FakeEmbedder(), index, sources=[a])
    if layout == "old-folder":
        make_old_layout(index)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(b), str(index), step],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -9, proc.stderr
    assert doc_names(index) == reads, "a reader finds a complete index after the kill"
    result = build_index(load_sources([b]), FakeEmbedder(), index, sources=[b])
    assert result.skipped == (reads == ["b"])
    assert index.is_symlink() and doc_names(index) == ["b"]
    assert len(beside(index, "v-")) == 1
    assert beside(index, "build-") == [] and beside(index, "link-") == []


def test_a_dangling_link_reads_the_newest_complete_version(tmp_path: Path) -> None:
    import shutil

    emb = FakeEmbedder()
    index = tmp_path / "idx"
    build_index(load_sources(), emb, index)
    live = index.parent / os.readlink(index)
    shutil.copytree(live, tmp_path / ".idx.v-20000101T000000000000-1")
    shutil.rmtree(live)
    assert doc_names(index) == [ARTICLE_DOC]
    assert build_index(load_sources(), emb, index).skipped
    assert os.readlink(index) == ".idx.v-20000101T000000000000-1"


def test_an_old_layout_index_answers_and_is_migrated_by_the_next_build(
        runner: CliRunner, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    build(runner, index)
    make_old_layout(index)
    assert runner.invoke(cli, ["ask", "--json", "--index-dir", str(index), "hi"]).exit_code == 0
    build(runner, index, "--force")
    assert index.is_symlink() and doc_names(index) == [ARTICLE_DOC]
    assert len(beside(index, "v-")) == 1


def test_a_user_symlink_to_an_old_layout_folder_is_kept(tmp_path: Path) -> None:
    emb = FakeEmbedder()
    real = tmp_path / "disk" / "qabot"
    build_index(load_sources(), emb, real)
    make_old_layout(real)
    link = tmp_path / "idx"
    link.symlink_to(real, target_is_directory=True)
    build_index(load_sources(), emb, link, force=True)
    assert os.readlink(link) == str(real) and real.is_symlink()
    assert doc_names(link) == [ARTICLE_DOC]


def test_a_reader_whose_version_is_deleted_under_it_reads_the_new_one(
        tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.answering.engine import Engine
    from index.storage import loading

    emb = FakeEmbedder()
    folder = Path(settings.index_dir)
    a = write_docs(tmp_path / "a", a="Apples grow. Pears fall.")
    b = write_docs(tmp_path / "b", b="Boats float. Birds fly.")
    build_index(load_sources([a]), emb, folder)
    real_load = loading.load_folder

    def switched_meanwhile(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(loading, "load_folder", real_load)
        build_index(load_sources([b]), emb, folder)  # deletes the version being read
        return real_load(*args, **kwargs)

    monkeypatch.setattr(loading, "load_folder", switched_meanwhile)
    engine = Engine(settings, emb)
    engine.load()
    assert sorted(engine.data.docs) == ["b"]


def test_an_index_folder_that_is_a_mount_point_gets_its_link_inside(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    volume = tmp_path / "volume"
    (volume / "lost+found").mkdir(parents=True)
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount",
                        lambda p: os.path.abspath(p) == str(volume) or real_ismount(p))
    monkeypatch.setenv("QABOT_INDEX_DIR", str(volume))
    first = runner.invoke(cli, ["ask", "--json", "Who is Lavrov?"])
    assert first.exit_code == 0, first.output
    assert (volume / "current").is_symlink() and not volume.is_symlink()
    src = write_docs(tmp_path / "src", other="Other text here. And more.")
    build(runner, volume, "--source", str(src))
    assert doc_names(volume) == ["other"] and (volume / "lost+found").is_dir()
    assert sorted(p.name for p in volume.iterdir() if not p.name.startswith(".current.v-")) \
        == [".current.lock", "current", "lost+found"]
    assert len(list(volume.glob(".current.v-*"))) == 1
