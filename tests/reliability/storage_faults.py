"""What the storage fault tests share: the fake embedder wired into the CLI, a runner, and
small readers and editors of an index on disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from index.storage.folder import MANIFEST
from index.storage.loading import load_index
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emb(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    """The fake embedder every CLI command in the test uses; ``calls`` shows what it encoded."""
    import index.answering.configured

    embedder = FakeEmbedder()
    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: embedder)
    return embedder


@pytest.fixture
def runner(emb: FakeEmbedder) -> CliRunner:
    return CliRunner()


def one_line_failure(result: Result, code: int) -> str:
    """Assert that ``result`` failed cleanly with ``code`` and one line; return the line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"uncaught {result.exception!r}"
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qabot: error: "), result.stderr
    return lines[0]


def write_docs(folder: Path, **docs: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def build(runner: CliRunner, index: Path, *extra: str) -> Result:
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(index), *extra])
    assert result.exit_code == 0, result.output
    return result


def doc_names(index: Path) -> list[str]:
    emb = FakeEmbedder()
    data = load_index(index, model=emb.name, fingerprint=emb.fingerprint,
                      dimension=emb.dimension)
    return sorted(data.docs)


def beside(index: Path, tag: str) -> list[str]:
    return sorted(p.name for p in index.parent.glob(f".{index.name}.{tag}*"))


def edit_manifest(index: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = index / MANIFEST
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def flip_byte(path: Path, at: int = -2) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
