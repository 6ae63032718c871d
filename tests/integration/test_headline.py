"""The real bundled model on the real article, through the real CLI."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.conftest import HEADLINE, HEADLINE_ANSWER

pytestmark = pytest.mark.integration


def test_headline_through_the_cli(real_models, real_index_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", "--json", "--index-dir", str(real_index_dir),
                                      HEADLINE])
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    # Right first and given as the answer: sure, or likely (said to be unsure).
    assert obj["verdict"] in ("answer", "likely") and 0.0 < obj["confidence"] <= 1.0
    assert obj["confidence"] >= obj["likely_threshold"]
    assert HEADLINE_ANSWER in obj["passages"][0]["text"]


def test_first_ask_builds_default_index_with_real_model(real_models) -> None:
    result = CliRunner().invoke(cli, ["ask", HEADLINE])
    assert result.exit_code == 0, result.output
    assert "building it from the built-in article" in result.stderr
    first = result.stdout.split("Also relevant:")[0]
    assert "nswer [trump-putin-g20-meeting, sentence 2]" in first  # Answer or Likely answer
    assert "I don't know" not in first
    assert "**Secretary of State" in " ".join(first.split())
    assert HEADLINE_ANSWER + ".**" in " ".join(first.split())


def test_off_topic_question_is_declined_with_a_hint(real_engine) -> None:
    answer = real_engine.ask("What is the capital of Australia?")
    assert answer.verdict == "unknown" and answer.passages


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access is forbidden in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_bundled_model_loads_and_answers_without_network(no_network, tmp_path: Path) -> None:
    from config import Settings
    from index.answering.engine import Engine
    from index.modelling.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2")  # loaded anew, sockets closed
    engine = Engine(Settings(_env_file=None, index_dir=tmp_path / "idx"), embedder)
    engine.load_or_build()
    answer = engine.ask(HEADLINE)
    assert HEADLINE_ANSWER in answer.passages[0].unit.text
    assert "rerank" in answer.passages[0].signals, "the bundled reranker loaded offline too"
    assert answer.verdict in ("answer", "likely")
    assert no_network == [], "no socket was even attempted"
