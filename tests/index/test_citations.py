"""Sections and source URLs reach the command line: --json and the text answer.

A Markdown page with front matter (title, url) and headings is indexed with the fake
embedder; each surface must show the section and name the page (Discord embeds:
tests/bot/test_discord_links.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.fakes import FakeEmbedder

URL = "https://example.com/handbook/rota"
PAGE = f"""---
title: Support rota
url: {URL}
---
# Support rota

Everyone takes a turn on support.

## Carry-over

Unfinished tickets carry over to the next person on the rota.

## Hours

Support runs from nine to five on weekdays.
"""
QUESTION = "What happens to unfinished tickets?"


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "rota.md"
    path.write_text(PAGE, encoding="utf-8")
    return path


@pytest.fixture
def index_dir(tmp_path: Path, source: Path) -> Path:
    path = tmp_path / "idx"
    built = CliRunner().invoke(cli, ["index", "build", "--index-dir", str(path),
                                     "--source", str(source)])
    assert built.exit_code == 0, built.output
    return path


def test_json_passages_carry_section_and_url(index_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", "--json", "-k", "3", "--index-dir",
                                      str(index_dir), QUESTION])
    assert result.exit_code == 0, result.output
    passages = json.loads(result.stdout)["passages"]
    best = passages[0]
    assert best["text"].startswith("Unfinished tickets carry over")
    assert (best["section"], best["url"]) == ("Carry-over", URL)
    assert {p["url"] for p in passages} == {URL}
    unsectioned = [p for p in passages if p["text"].startswith("Everyone")]
    assert unsectioned and "section" not in unsectioned[0]  # only where there is one


def test_text_answer_cites_the_section_and_names_the_url(index_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", "--index-dir", str(index_dir), QUESTION])
    assert result.exit_code == 0, result.output
    assert "[rota › Carry-over, sentence 1]" in result.stdout
    assert f"  Source: {URL}" in result.stdout
    assert result.stdout.count(URL) == 1, "one page is linked once"


def test_index_build_names_what_a_folder_skips(tmp_path: Path, source: Path) -> None:
    (tmp_path / "scan.pdf").write_bytes(b"%PDF")
    result = CliRunner().invoke(cli, ["index", "build", "--index-dir", str(tmp_path / "i2"),
                                      "--source", str(tmp_path)])
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert skipped == [f"qabot: skipped 1 file in {tmp_path}: 1 of a type qabot does not "
                       "read (scan.pdf)"]
