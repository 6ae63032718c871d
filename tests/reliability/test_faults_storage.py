"""Fault injection for the index on disk and its operation (issue 10, storage half).

Each test injects one fault: a damaged index, a read-only or full file system (simulated:
the tests run as root, which ignores permission bits), a parent that is a file,
concurrent builds, a build killed between steps, manifests corrupted field by field,
edited document ranges, a bad ``.env``. Every fault must end in one line on stderr with a
defined exit code, and the index the user had must still answer.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
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
from index.errors import IndexLoadError
from index.modelling.lexical import LEXICAL_FILES
from index.sources.documents import builtin_article, load_sources
from index.storage.build import build_index
from index.storage.folder import MANIFEST, UNITS, VECTORS
from index.storage.manifest import BUILTIN_SOURCE
from tests.conftest import ARTICLE_DOC
from tests.fakes import FakeEmbedder
from tests.reliability import storage_faults
from tests.reliability.storage_faults import (  # emb, runner: the fixtures  # noqa: F401
    ROOT,
    beside,
    build,
    doc_names,
    edit_manifest,
    flip_byte,
    one_line_failure,
    write_docs,
)

# The shared fixtures (storage_faults.py): the fake embedder wired into the CLI, a runner.
emb = storage_faults.emb
runner = storage_faults.runner


# --- 1. the repair the message suggests repairs -----------------------------------------
def _drop_lexical_file(index: Path) -> None:
    (index / LEXICAL_FILES[1]).unlink()


def _units_same_size(index: Path) -> None:
    path = index / UNITS
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Putin", "Pútin", 1).replace("Trump", "Trmp", 1),
                    encoding="utf-8")
    assert path.stat().st_size == len(text.encode())


def _lexical_same_size(index: Path) -> None:
    flip_byte(index / LEXICAL_FILES[1])


def _unit_count(index: Path) -> None:
    edit_manifest(index, lambda m: m.update(units=34))


def _one_unit_less(index: Path) -> None:
    from index.storage.build import _file_info

    units = json.loads((index / UNITS).read_text())[:-1]
    (index / UNITS).write_text(json.dumps(units))
    edit_manifest(index, lambda m: m["files"].update({UNITS: _file_info(index / UNITS)}))


DAMAGE = [_drop_lexical_file, _units_same_size, _lexical_same_size, _unit_count,
          _one_unit_less]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_a_damaged_index_is_rebuilt_by_a_plain_build(runner: CliRunner, tmp_path: Path,
                                                     damage: Callable[[Path], None]) -> None:
    index = tmp_path / "idx"
    build(runner, index)
    damage(index)
    broken = runner.invoke(cli, ["ask", "--index-dir", str(index), "Who is Lavrov?"])
    assert f"qabot index build --index-dir {index}`" in one_line_failure(broken, 1)
    again = build(runner, index)
    assert "up to date" not in again.stdout and "built index" in again.stdout
    fixed = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index), "Who is Lavrov?"])
    assert fixed.exit_code == 0, fixed.output


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_reindex_repairs_a_damaged_index(fake_engine: Any, damage: Callable[[Path], None]
                                         ) -> None:
    from bot.repl import Repl

    damage(fake_engine.index_dir)
    with pytest.raises(IndexLoadError):
        fake_engine.load()
    out = io.StringIO()
    Repl(fake_engine, out=out).run([":reindex"])
    assert "reindexed: 35 units" in out.getvalue() and "skipped" not in out.getvalue()
    fake_engine.load()
    assert len(fake_engine.data.units) == 35


def test_the_hint_names_the_index_dir_only_when_it_is_not_the_default(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "xdg" / "qabot" / "index"
    build(runner, default)
    _unit_count(default)
    line = one_line_failure(runner.invoke(cli, ["ask", "hi"]), 1)
    assert line.endswith("rebuild it with `qabot index build`")
    other = tmp_path / "some where"
    build(runner, other)
    _unit_count(other)
    monkeypatch.setenv("QABOT_INDEX_DIR", str(other))
    line = one_line_failure(runner.invoke(cli, ["ask", "hi"]), 1)
    assert line.endswith(f"rebuild it with `qabot index build --index-dir '{other}'`")


# --- 2. faults that used to end in a traceback --------------------------------------------
def deny_writes(monkeypatch: pytest.MonkeyPatch, root: Path, err: int) -> None:
    """Make every write under ``root`` fail with ``err``, as a read-only file system (or one
    the user may not write) does; reads go on working."""
    import faiss

    prefix = str(root)

    def inside(path: Any) -> bool:
        if isinstance(path, int):
            return False
        full = os.path.abspath(os.fsdecode(path))
        return full == prefix or full.startswith(prefix + os.sep)

    def fail(path: Any) -> None:
        raise OSError(err, os.strerror(err), os.fsdecode(path))

    def guard(real: Callable[..., Any], *, arg: int = 0,
              when: Callable[..., bool] = lambda *a, **k: True) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if inside(args[arg]) and when(*args, **kwargs):
                fail(args[arg])
            return real(*args, **kwargs)
        return guarded

    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def writing_mode(file: Any, mode: str = "r", *a: Any, **k: Any) -> bool:
        return any(c in mode for c in "wax+")

    monkeypatch.setattr(os, "open", guard(os.open, when=lambda p, flags, *a, **k:
                                          bool(flags & writes)))
    for name in ("mkdir", "rename", "replace", "rmdir", "unlink"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    monkeypatch.setattr(os, "symlink", guard(os.symlink, arg=1))
    monkeypatch.setattr(builtins, "open", guard(builtins.open, when=writing_mode))
    monkeypatch.setattr(io, "open", guard(io.open, when=writing_mode))
    monkeypatch.setattr(faiss, "write_index", guard(faiss.write_index, arg=1))


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES])
def test_building_into_a_read_only_place_fails_before_encoding(
        runner: CliRunner, emb: FakeEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        err: int) -> None:
    index = tmp_path / "ro" / "idx"
    build(runner, index)
    emb.calls.clear()
    deny_writes(monkeypatch, tmp_path / "ro", err)
    src = write_docs(tmp_path / "src", other="Other text here. And more.")
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(index), "--source",
                                 str(src)])
    line = one_line_failure(result, 1)
    assert os.strerror(err) in line and "unchanged" in line
    assert emb.calls == [], "nothing is encoded for a build that cannot be written"
    monkeypatch.undo()
    assert doc_names(index) == [ARTICLE_DOC]


@pytest.mark.parametrize("below", ["idx", "deeper/idx"])
def test_building_under_a_file_fails_before_encoding(runner: CliRunner, emb: FakeEmbedder,
                                                     tmp_path: Path, below: str) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(notes / below)])
    line = one_line_failure(result, 1)
    assert "cannot write the index" in line
    assert emb.calls == [] and notes.read_text() == "mine"


def _faiss_disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    def full(index: Any, path: str) -> None:
        Path(path).write_bytes(b"\0" * 64)  # a part was written before the disk filled
        raise RuntimeError("Error in void faiss::write_index(...) at faiss/impl/index_write."
                           "cpp:560:\nError: 'ret == (1)' failed: write error in "
                           f"{path}: 0 != 1 (No space left on device)")

    monkeypatch.setattr(faiss, "write_index", full)


def _json_disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    import index.storage.build

    def full(path: Path, data: Any) -> None:
        path.write_text(json.dumps(data)[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(index.storage.build, "write_json", full)


@pytest.mark.parametrize("fill", [_faiss_disk_full, _json_disk_full],
                         ids=["faiss-write", "json-write"])
def test_a_full_disk_keeps_the_old_index_and_no_temporary_folder(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fill: Callable[[pytest.MonkeyPatch], None]) -> None:
    index = tmp_path / "idx"
    build(runner, index)
    fill(monkeypatch)
    src = write_docs(tmp_path / "src", other="Other text here. And more.")
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(index), "--source",
                                 str(src)])
    assert "No space left on device" in one_line_failure(result, 1)
    monkeypatch.undo()
    assert doc_names(index) == [ARTICLE_DOC]
    assert beside(index, "build-") == [] and len(beside(index, "v-")) == 1


@pytest.mark.parametrize("how", ["env", "dotenv"])
def test_an_empty_index_dir_setting_is_a_settings_error(runner: CliRunner, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        how: str) -> None:
    if how == "env":
        monkeypatch.setenv("QABOT_INDEX_DIR", "")
    else:
        (tmp_path / ".env").write_text("QABOT_INDEX_DIR=\n")
    for args in (["ask", "hi"], ["index", "build"]):
        line = one_line_failure(runner.invoke(cli, args), 2)
        assert "QABOT_INDEX_DIR" in line and "empty" in line
    assert not (tmp_path / MANIFEST).exists()


# --- 3. concurrent builds of one folder ---------------------------------------------------
BUILDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from index.sources.documents import load_sources
    from index.storage.build import build_index
    from tests.fakes import FakeEmbedder

    source, index, log = (Path(a) for a in sys.argv[1:4])

    class Slow(FakeEmbedder):
        def encode(self, texts, **kw):
            if len(texts) > 1:
                start = time.monotonic()
                time.sleep(2.0)  # long enough that the three starts overlap on a busy machine
                with log.open("a") as fh:
                    fh.write(f"{start} {time.monotonic()}\\n")
            return super().encode(texts, **kw)

    build_index(load_sources([source]), Slow(), index)
""")


def test_concurrent_builds_of_one_folder_run_one_at_a_time(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    build_index(load_sources(), FakeEmbedder(), index)
    log = tmp_path / "encodes.log"
    sources = [write_docs(tmp_path / f"src{i}", **{f"doc{i}": f"Text number {i}. More {i}."})
               for i in range(3)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(s), str(index), str(log)],
                              stderr=subprocess.PIPE, text=True, env=env) for s in sources]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert not any("Traceback" in e for e in errors), errors
    spans = sorted(tuple(map(float, line.split())) for line in log.read_text().splitlines())
    assert len(spans) == 3
    assert all(spans[i + 1][0] >= spans[i][1] for i in range(2)), f"builds overlapped: {spans}"
    assert sum("waiting for it to finish" in e for e in errors) >= 1, errors
    assert doc_names(index) in (["doc0"], ["doc1"], ["doc2"])
    assert beside(index, "build-") == [] and len(beside(index, "v-")) == 1


# --- 4. manifests corrupted field by field ------------------------------------------------
CORRUPTIONS: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("model",), "x", "model"),
    (("model",), ["fake-embedder"], "model"),
    (("model", "dimension"), "64", "model.dimension"),
    (("model", "name"), None, "model.name"),
    (("files",), "x", "files"),
    (("files",), [VECTORS], "files"),
    (("files", VECTORS), "x", f"files.{VECTORS}"),
    (("files", VECTORS, "size"), "100", f"files.{VECTORS}.size"),
    (("faiss",), "x", "faiss"),
    (("faiss",), ["flat"], "faiss"),
    (("faiss", "params", "efSearch"), "x", "faiss.params.efSearch"),
    (("faiss", "kind"), 5, "faiss.kind"),
    (("documents",), [1, 2], "documents[0]"),
    (("documents",), "x", "documents"),
    (("documents", 0, "start"), "0", "documents[0].start"),
    (("documents", 0, "count"), True, "documents[0].count"),
    (("documents", 0, "name"), 5, "documents[0].name"),
    (("units",), "35", "units"),
]


def _set(manifest: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = manifest
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@pytest.mark.parametrize(("path", "value", "field"), CORRUPTIONS,
                         ids=[f"{'.'.join(map(str, c[0]))}={c[1]!r}" for c in CORRUPTIONS])
def test_a_manifest_field_of_the_wrong_type_is_one_line(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        path: tuple[str | int, ...], value: Any, field: str) -> None:
    monkeypatch.setenv("QABOT_FAISS_INDEX", "hnsw")  # an index whose efSearch is read
    index = tmp_path / "idx"
    build(runner, index)
    edit_manifest(index, lambda m: _set(m, path, value))
    for command, rest in ((["ask"], ["--doc", ARTICLE_DOC, "Who is Lavrov?"]),
                          (["index", "info"], [])):
        result = runner.invoke(cli, [*command, "--index-dir", str(index), *rest])
        line = one_line_failure(result, 1)
        assert f"manifest.json field {field}:" in line
        assert f"qabot index build --index-dir {index}" in line
    build(runner, index)
    fixed = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index), "Who is Lavrov?"])
    assert fixed.exit_code == 0, fixed.output


RANGE_EDITS: list[tuple[str, Callable[[list[dict[str, Any]]], None], str]] = [
    ("counts-swapped", lambda d: (d[0].update(count=3), d[1].update(start=3, count=2)),
     "unit 2 belongs to 'b'"),
    ("overlap", lambda d: d[1].update(start=1), "starts at unit 1"),
    ("too-many", lambda d: d[1].update(count=4), "the documents hold 6 units"),
    ("one-name-twice", lambda d: d[1].update(name="a"), "listed twice"),
    ("negative-start", lambda d: d[0].update(start=-1), "documents[0].start"),
    ("empty-document", lambda d: d[0].update(count=0), "documents[0].count"),
]


@pytest.mark.parametrize(("edit", "message"), [(e[1], e[2]) for e in RANGE_EDITS],
                         ids=[e[0] for e in RANGE_EDITS])
def test_edited_document_ranges_are_refused(runner: CliRunner, tmp_path: Path,
                                           edit: Callable[[list[dict[str, Any]]], None],
                                           message: str) -> None:
    src = write_docs(tmp_path / "src", a="Apples grow. Pears fall.",
                     b="Boats float. Birds fly. Bees hum.")
    index = tmp_path / "idx"
    build(runner, index, "--source", str(src))
    edit_manifest(index, lambda m: edit(m["documents"]))
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index), "--doc", "b",
                                 "Do boats float?"])
    assert message in one_line_failure(result, 1)
    again = build(runner, index, "--source", str(src))
    assert "built index" in again.stdout
    assert doc_names(index) == ["a", "b"]


# --- 6. one rule for a configured index folder --------------------------------------------
# (A folder named by --index-dir that holds no index is refused instead, as a likely typo:
# issue 32, tests/reliability/test_round4_index.py.)
@pytest.mark.parametrize("state", ["missing", "empty"])
@pytest.mark.parametrize(("command", "how"), [
    ("ask", "env"), ("ask", "dotenv"), ("repl", "env"), ("repl", "dotenv"),
    ("discord", "env"), ("discord", "dotenv"),
])
def test_a_missing_or_empty_configured_folder_is_built_on_first_start(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str,
        how: str, state: str) -> None:
    index = tmp_path / "data" / "index"
    if state == "empty":
        index.mkdir(parents=True)
    args = {"ask": ["ask", "--json"], "repl": ["repl"], "discord": ["discord"]}[command]
    if how == "env":
        monkeypatch.setenv("QABOT_INDEX_DIR", str(index))
    elif how == "dotenv":
        (tmp_path / ".env").write_text(f"QABOT_INDEX_DIR={index}\n")
    else:
        args += ["--index-dir", str(index)]
    if command == "ask":
        args.append("Who is Lavrov?")
    if command == "discord":
        import bot.discord_bot

        async def offline(bot: object, token: str) -> None:  # no Discord here: stop at once
            return None

        monkeypatch.setenv("QABOT_DISCORD_TOKEN", "token")
        monkeypatch.setattr(bot.discord_bot, "_serve", offline)
    result = runner.invoke(cli, args, input="Who is Lavrov?\n")
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "building it" in line]
    assert said == [f"qabot: no index at {index}: building it from the built-in article "
                    f"(once)..."]
    assert doc_names(index) == [ARTICLE_DOC]


# --- 7. :reindex and /reindex rebuild from the recorded sources ---------------------------
def test_reindex_rebuilds_from_the_recorded_sources_and_says_which(
        runner: CliRunner, tmp_path: Path) -> None:
    src = write_docs(tmp_path / "my-docs", notes="Penguins live in Antarctica.")
    index = tmp_path / "idx"
    build(runner, index, "--source", str(src))
    write_docs(src, more="Owls hunt at night. Owls sleep by day.")
    result = runner.invoke(cli, ["repl", "--index-dir", str(index)], input=":reindex\n")
    assert result.exit_code == 0, result.output
    assert f"reindexing from {src}..." in result.stdout
    assert "reindexed: 3 units from 2 documents" in result.stdout
    assert doc_names(index) == ["more", "notes"], "not replaced by the built-in article"


def test_reindex_from_a_vanished_source_keeps_the_index(fake_engine: Any,
                                                       tmp_path: Path) -> None:
    from bot.repl import Repl

    src = write_docs(tmp_path / "gone", notes="Penguins live in Antarctica.")
    fake_engine.build([src])
    (src / "notes.txt").unlink()
    src.rmdir()
    out = io.StringIO()
    Repl(fake_engine, out=out).run([":reindex"])
    lines = [line for line in out.getvalue().splitlines() if line.startswith("error:")]
    assert lines == [f"error: cannot rebuild from the sources the index records: "
                     f"{src}: no such file or folder; the index is unchanged"]
    assert doc_names(fake_engine.index_dir) == ["notes"]


def test_the_built_in_article_is_recorded_as_built_in(fake_engine: Any) -> None:
    manifest = json.loads((fake_engine.index_dir / MANIFEST).read_text())
    assert manifest["sources"] == [BUILTIN_SOURCE]
    assert [d["source"] for d in manifest["documents"]] == [BUILTIN_SOURCE]
    assert fake_engine.recorded_sources() == [builtin_article()]


# --- 8. a .env that is not UTF-8 ------------------------------------------------------------
@pytest.mark.parametrize("args", [["ask", "hi"], ["index", "build"], ["discord"]])
def test_a_dotenv_that_is_not_utf8_is_one_line(runner: CliRunner, tmp_path: Path,
                                               args: list[str]) -> None:
    (tmp_path / ".env").write_bytes("QABOT_TOP_K=3\n# café\n".encode("latin-1"))
    line = one_line_failure(runner.invoke(cli, args), 2)
    assert f"{tmp_path / '.env'}: not UTF-8" in line
