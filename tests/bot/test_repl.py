from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.repl import Repl
from tests.conftest import ARTICLE_DOC
from tests.fakes import FakeEmbedder


def _run(engine, lines: list[str]) -> str:
    out = io.StringIO()
    Repl(engine, out=out).run(lines)
    return out.getvalue()


def test_questions_are_answered_with_citations(fake_engine) -> None:
    text = _run(fake_engine, ["Sergei Lavrov said Trump accepted Putin assertions\n"])
    assert f"[{ARTICLE_DOC}, sentence 5]" in text and "qabot>" not in text


def test_commands(fake_engine) -> None:
    text = _run(fake_engine, [":help", ":k 2", "Who is Lavrov?", ":k 99", ":doc nope",
                              ":doc " + ARTICLE_DOC, ":doc all", ":sources", ":bogus"])
    assert ":reindex" in text and "showing 2 passages" in text
    assert text.count("  - [") == 1, "with :k 2 one further passage is listed"
    assert "usage: :k N" in text and "unknown document 'nope'" in text
    assert f"searching {ARTICLE_DOC}" in text and "searching all documents" in text
    assert f"{ARTICLE_DOC}: 35 units" in text and "unknown command :bogus" in text


def test_quit_stops_reading(fake_engine) -> None:
    text = _run(fake_engine, [":quit", "Who is Lavrov?"])
    assert "Answer" not in text and "I don't know" not in text


def test_reindex_rebuilds_from_the_recorded_sources(fake_engine, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "penguins.txt").write_text("Penguins live in Antarctica.", encoding="utf-8")
    fake_engine.build([folder])
    (folder / "extra.txt").write_text("Owls hunt. Owls sleep.", encoding="utf-8")
    fake_engine.settings.sources = []  # the built-in article: not what the index holds
    text = _run(fake_engine, [":reindex", ":sources"])
    assert f"reindexing from {folder}..." in text
    assert "reindexed: 3 units from 2 documents" in text and "extra: 2 units" in text


def test_empty_question_line_is_ignored_and_bad_input_reported(fake_engine) -> None:
    text = _run(fake_engine, ["", "   ", "\x00\x00"])
    assert "question is empty" in text


def test_repl_reads_stdin_without_prompt_noise(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())
    result = CliRunner().invoke(cli, ["repl"], input="Who is Lavrov?\n\nWho met in Hamburg?\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Answer [") + result.stdout.count("I don't know") == 2
    assert "qabot>" not in result.stdout and ":help" not in result.stdout


def test_repl_loads_the_models_before_reading_and_says_which(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    loads: list[str] = []

    class Loading(FakeEmbedder):
        runtime = "onnx"

        def load(self) -> None:
            loads.append("encoder")

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: Loading())
    result = CliRunner().invoke(cli, ["repl"], input="Who is Lavrov?\n")
    assert result.exit_code == 0, result.output
    assert "qabot: loading fake-embedder and qabot's reranker (ONNX Runtime)..." in \
        result.stderr
    assert loads == ["encoder"], "loaded once, before the first question"


@pytest.mark.parametrize("stderr_is_terminal", [True, False])
def test_reindex_on_a_terminal_shows_progress_and_hides_keys_typed_meanwhile(
        fake_engine, monkeypatch: pytest.MonkeyPatch, stderr_is_terminal: bool) -> None:
    """Typed keys would be echoed into the bar (nobody reads the terminal between prompts);
    the bar goes only to a terminal."""
    import os
    import select
    import sys

    pty = pytest.importorskip("pty")
    termios = pytest.importorskip("termios")
    master, slave = pty.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as tty, \
            os.fdopen(os.dup(slave), encoding="utf-8") as keyboard:
        monkeypatch.setattr(sys, "stdin", keyboard)
        monkeypatch.setattr(sys, "stderr", tty if stderr_is_terminal else io.StringIO())
        seen: dict[str, bool] = {}
        rebuild = fake_engine.rebuild

        def watched(**kwargs):
            seen["progress"] = kwargs["progress"]
            seen["echo"] = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
            return rebuild(**kwargs)

        monkeypatch.setattr(fake_engine, "rebuild", watched)
        assert termios.tcgetattr(slave)[3] & termios.ECHO
        Repl(fake_engine, out=tty).run([":reindex"])
        tty.flush()
        assert seen == {"progress": stderr_is_terminal, "echo": False}
        assert termios.tcgetattr(slave)[3] & termios.ECHO, "echo is back for the next prompt"
        shown = b""
        while b"reindexed" not in shown and select.select([master], [], [], 5)[0]:
            shown += os.read(master, 65536)
        assert b"reindexed: 35 units" in shown
    os.close(master)


def test_reindex_without_a_terminal_shows_no_bar(fake_engine,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    rebuild = fake_engine.rebuild
    monkeypatch.setattr(fake_engine, "rebuild",
                        lambda **kw: seen.append(kw["progress"]) or rebuild(**kw))
    assert "reindexed: 35 units" in _run(fake_engine, [":reindex"])
    assert seen == [False]


@pytest.mark.parametrize(("thresholds", "head"), [
    ({"answer_threshold": 0.0, "likely_threshold": 0.0}, "Answer ["),
    ({"answer_threshold": 1.0, "likely_threshold": 0.0}, "Likely answer ["),
    ({"answer_threshold": 1.0, "likely_threshold": 1.0}, "I don't know: I found no answer"),
])
def test_the_repl_says_each_verdict(fake_engine, thresholds: dict, head: str) -> None:
    fake_engine.settings = fake_engine.settings.model_copy(update=thresholds)
    text = _run(fake_engine, ["How many hours did the meeting last in Hamburg?"])
    assert text.lstrip().startswith(head)
    assert ("Closest passage (a hint, not an answer)" in text) == head.startswith("I don't")
