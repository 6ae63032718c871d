"""Fault injection, the inputs and surfaces half of issue 10: hostile text, odd files, a
mistyped model name and a bot told to stop. Each case failed (or hung) before its fix."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from tests.fakes import FakeEmbedder

HANG_SECONDS = 20


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line_error(result: Result, code: int) -> str:
    """Assert a failure with exit ``code`` and one line on stderr, no traceback; return it."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def words_text(size: int, full_stop_every: int = 0) -> str:
    """``size`` characters of words and spaces; a full stop every so many characters."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa"]
    text = " ".join(words[i * 7 % len(words)] for i in range(size // 4))[:size]
    if full_stop_every:
        text = ". Next ".join(text[i : i + full_stop_every]
                              for i in range(0, len(text), full_stop_every))[:size]
    return text


# --- 1. long paragraphs without sentence punctuation -------------------------------------
@pytest.mark.parametrize("full_stop_every", [0, 10_000], ids=["no-punctuation", "rare-stops"])
def test_splitting_time_grows_linearly(full_stop_every: int) -> None:
    from index.sources.splitter import MAX_UNIT, split_sentences

    def seconds(size: int) -> float:
        text = words_text(size, full_stop_every)
        started = time.perf_counter()
        spans = split_sentences(text)
        elapsed = time.perf_counter() - started
        assert spans and max(s.end - s.start for s in spans) <= MAX_UNIT
        return elapsed

    n = 40_000
    small = min(seconds(n) for _ in range(3))
    # Best of three each: the machine is shared. Quadratic is 16 times: before, 1.5 s vs 25 s.
    large = min(seconds(4 * n) for _ in range(3))
    assert large < 10 * max(small, 0.01), (small, large)


def test_a_big_unpunctuated_file_builds_with_progress_and_answers(tmp_path: Path) -> None:
    source = tmp_path / "wall.txt"
    source.write_text(words_text(1_200_000), encoding="utf-8")  # before: hours
    index = str(tmp_path / "idx")
    built = invoke("index", "build", "--source", str(source), "--index-dir", index)
    assert built.exit_code == 0, built.output
    assert "reading and splitting 1.2 MB of sources (1 file)..." in built.stderr
    assert "read 1 document, " in built.stderr
    asked = invoke("ask", "--json", "--index-dir", index, "gamma delta")
    assert asked.exit_code == 0 and '"answered"' in asked.stdout


# --- 3. sources stay inside their folder; regular files only -----------------------------
def test_a_link_out_of_a_source_folder_is_not_followed(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    from index.sources.documents import load_sources

    secret = tmp_path / "outside" / "hostname.txt"
    secret.parent.mkdir()
    secret.write_text("SECRET host name.", encoding="utf-8")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha text.", encoding="utf-8")
    (folder / "leak.txt").symlink_to(secret)
    (folder / "same.txt").symlink_to(folder / "a.txt")  # inside the folder: followed
    with caplog.at_level(logging.WARNING):
        docs = load_sources([folder])
    assert [d.name for d in docs] == ["a", "same"]
    assert not any("SECRET" in u.text for d in docs for u in d.units)
    assert "leak.txt" in caplog.text and "outside the folder" in caplog.text


def run_unblocking(fifo: Path, action: Callable[[], Any]) -> Any:
    """Run ``action``; if it is still blocked on ``fifo`` after a while, unblock it and fail."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = action()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    if thread.is_alive():  # a reader waits for a writer: open and close it to free the reader
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"reading sources hung on the FIFO {fifo}")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    return path


def test_a_fifo_given_as_a_source_is_refused_in_one_line(fifo: Path, tmp_path: Path) -> None:
    result = run_unblocking(fifo, lambda: invoke("index", "build", "--source", str(fifo),
                                                 "--index-dir", str(tmp_path / "idx")))
    line = one_line_error(result, 1)
    assert "pipe.txt: not a regular file" in line


def test_a_fifo_in_a_source_folder_is_skipped_with_a_warning(
        fifo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from index.sources.documents import load_sources

    (tmp_path / "real.txt").write_text("Real text.", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        docs = run_unblocking(fifo, lambda: load_sources([tmp_path]))
    assert [d.name for d in docs] == ["real"]
    assert "pipe.txt" in caplog.text and "not a regular file" in caplog.text


# --- 2. control sequences from documents never reach a terminal or Discord raw -----------
HOSTILE = ("The meeting lasted \x1b[2J\x1b[Htwo hours\x1b]0;pwned title\x07 and 15 minutes"
           "\x9b31m,\r\x1bc said \u202eofficials\u202c.")
CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


def assert_no_controls(text: str) -> None:
    assert text and not [c for c in CONTROLS if c in text], repr(text)


@pytest.fixture
def hostile_index(tmp_path: Path) -> tuple[str, Path]:
    """An index of one document whose name and text hold control sequences."""
    source = tmp_path / "evil\x1b]0;title\x07.txt"
    source.write_text(f"{HOSTILE}\n\nThe weather was fine.", encoding="utf-8")
    index = tmp_path / "idx"
    built = invoke("index", "build", "--source", str(source), "--index-dir", str(index))
    assert built.exit_code == 0, built.output
    return "evil\x1b]0;title\x07", index


def test_plain_answers_and_index_info_carry_no_control_sequences(
        hostile_index: tuple[str, Path]) -> None:
    doc, index = hostile_index
    asked = invoke("ask", "--index-dir", str(index), "How long did the meeting last?")
    assert asked.exit_code == 0, asked.output
    assert_no_controls(asked.stdout)
    assert "two hours and 15 minutes" in " ".join(asked.stdout.split())
    info = invoke("index", "info", "--index-dir", str(index))
    assert info.exit_code == 0 and "evil" in info.stdout
    assert_no_controls(info.stdout)


def test_json_answers_keep_the_text_exact(hostile_index: tuple[str, Path]) -> None:
    import json

    doc, index = hostile_index
    asked = invoke("ask", "--json", "--index-dir", str(index), "How long did the meeting last?")
    best = json.loads(asked.stdout)["passages"][0]
    assert best["text"] == HOSTILE and best["doc"] == doc


def test_the_repl_shows_no_control_sequences(hostile_index: tuple[str, Path],
                                             settings: Any) -> None:
    import io

    from bot.repl import Repl
    from index.answering.engine import Engine

    doc, index = hostile_index
    engine = Engine(settings.model_copy(update={"index_dir": index}), FakeEmbedder())
    engine.load()
    out = io.StringIO()
    Repl(engine, out=out).run(["How long did the meeting last?", ":sources", f":doc x{doc}"])
    assert "two hours" in out.getvalue() and "unknown document" in out.getvalue()
    assert_no_controls(out.getvalue())


def test_an_error_naming_a_hostile_file_is_one_clean_line(tmp_path: Path) -> None:
    source = tmp_path / "notes\x1b[2J\x1b]0;x\x07.pdf"
    source.write_text("text", encoding="utf-8")
    result = invoke("index", "build", "--source", str(source), "--index-dir", str(tmp_path))
    line = one_line_error(result, 1)
    assert "unsupported file type" in line
    assert_no_controls(line)


async def test_discord_replies_carry_no_control_sequences(hostile_index: tuple[str, Path],
                                                          settings: Any) -> None:
    from bot.discord_bot import QABot
    from index.answering.engine import Engine
    from tests.bot.conftest import FakeInteraction, call, embed_text

    _, index = hostile_index
    engine = Engine(settings.model_copy(update={"index_dir": index}), FakeEmbedder())
    engine.load()
    bot = QABot(engine, settings)
    await bot.setup_hook()
    asked, listed = FakeInteraction(), FakeInteraction()
    await bot.get_cog("Asking").ask_slash.callback(  # type: ignore[union-attr]
        bot.get_cog("Asking"), asked, "How long did the meeting last? \x1b[2J")
    await call(bot, "sources", listed)
    for interaction in (asked, listed):
        (sent,) = interaction.replies
        assert sent.embed is not None
        assert_no_controls(embed_text(sent.embed))
    assert "two hours" in embed_text(asked.replies[0].embed)  # type: ignore[arg-type]


# --- 4. a corpus without a single word token ---------------------------------------------
@pytest.mark.parametrize("text", ["😀 🎉 🚀\n\n👍 👍", "1 2 3\n\n4 5", "\x00\x00\n\n\x00",
                                  "The and of.\n\nIs it?"],
                         ids=["emoji", "single-digits", "nul", "stop-words"])
def test_a_corpus_without_word_tokens_builds_and_answers(tmp_path: Path, text: str) -> None:
    source = tmp_path / "odd.txt"
    source.write_text(text, encoding="utf-8")
    index = str(tmp_path / "idx")
    built = invoke("index", "build", "--source", str(source), "--index-dir", index)
    assert built.exit_code == 0, built.output
    for extra in ([], ["--json"]):
        asked = invoke("ask", *extra, "--index-dir", index, "What is the meaning of 😀?")
        assert asked.exit_code == 0, asked.output
        assert "Traceback" not in asked.output and asked.stdout.strip()


# --- 5. a mistyped hub model name -------------------------------------------------------
TYPO = "sentence-transformers/all-MiniLM-L6-v3"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The real model path, with the hub probe and the sentence-transformers loader faked.

    ``hub["probe"]`` is what the hub "answers" (an exception raised, or None for "found");
    ``hub["probes"]`` and ``hub["loads"]`` record the calls.
    """
    import types

    import huggingface_hub

    import index.answering.configured
    from index.modelling.embedder import SentenceTransformerEmbedder

    state: dict[str, Any] = {"probe": OSError("Name or service not known"), "probes": [],
                             "loads": []}

    def model_info(self: Any, name: str, **kwargs: Any) -> Any:
        state["probes"].append((name, kwargs.get("timeout")))
        if state["probe"] is not None:
            raise state["probe"]
        return object()

    def loader(name: str, **kwargs: Any) -> Any:
        state["loads"].append((name, kwargs))
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load {name}")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = loader  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "sentence_transformers", fake)
    # On line, whatever earlier tests did (a local model sets HF_HUB_OFFLINE for the process).
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("QABOT_MODEL", TYPO)
    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: SentenceTransformerEmbedder(settings.model))
    return state


def test_a_mistyped_model_name_off_line_fails_at_once_with_exit_2(
        hub: dict[str, Any], tmp_path: Path) -> None:
    result = invoke("index", "build", "--index-dir", str(tmp_path / "idx"))
    line = one_line_error(result, 2)
    assert TYPO in line and "hub cannot be reached" in line and "QABOT_MODEL" in line
    assert [name for name, _ in hub["probes"]] == [TYPO]  # one request, no retries
    assert 0 < hub["probes"][0][1] <= 10  # with a short timeout
    assert hub["loads"] == []  # no download tried


def test_hf_hub_offline_means_no_request_at_all(hub: dict[str, Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = invoke("ask", "How long did the meeting last?")
    line = one_line_error(result, 2)
    assert "HF_HUB_OFFLINE" in line
    assert hub["probes"] == [] and hub["loads"] == []


def test_a_model_the_hub_does_not_have_is_a_bad_setting(hub: dict[str, Any]) -> None:
    httpx = pytest.importorskip("httpx2")  # what this huggingface_hub answers with
    from huggingface_hub.errors import RepositoryNotFoundError

    response = httpx.Response(404, request=httpx.Request("GET", "https://huggingface.co"))
    hub["probe"] = RepositoryNotFoundError("404 Repository Not Found", response=response)
    line = one_line_error(invoke("ask", "How long did the meeting last?"), 2)
    assert "the hub has no model of that name" in line and hub["loads"] == []


def test_a_model_the_hub_has_is_downloaded(hub: dict[str, Any]) -> None:
    hub["probe"] = None
    line = one_line_error(invoke("ask", "How long did the meeting last?"), 1)
    assert "couldn't connect" in line  # the (fake) download ran and failed on its own
    assert [name for name, _ in hub["loads"]] == [TYPO]
