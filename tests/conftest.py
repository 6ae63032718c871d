"""Shared fixtures: settings isolated from the user's environment, fake and real engines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeEmbedder, FakeReranker

ARTICLE_DOC = "trump-putin-g20-meeting"
HEADLINE = "How long did the meeting last?"
HEADLINE_ANSWER = "two hours and 15 minutes"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep every test away from the user's env, .env file and default index."""
    for key in list(os.environ):
        if key.startswith("QABOT_") or key == "DISCORD_TOKEN":
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _fake_reranker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests rerank with the fast fake; integration tests load the bundled reranker."""
    if request.node.get_closest_marker("integration") is None:
        import index.answering.configured

        monkeypatch.setattr(index.answering.configured, "default_reranker",
                            lambda settings, *_: None if settings.reranker == "none"
                            else FakeReranker())


@pytest.fixture
def settings(tmp_path: Path):
    from config import Settings

    return Settings(_env_file=None, index_dir=tmp_path / "index")


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_engine(settings, fake_embedder):
    """An engine over the built-in article with the fake embedder, index built and loaded."""
    from index.answering.engine import Engine

    engine = Engine(settings, fake_embedder)
    engine.build()
    engine.load()
    return engine


@pytest.fixture(scope="session")
def real_embedder():
    """The real bundled all-MiniLM-L6-v2 (loaded once per test session)."""
    from index.modelling.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def real_reranker():
    """The bundled reranker (loaded once per test session)."""
    from index.modelling.reranker import BUNDLED, CrossEncoderReranker

    return CrossEncoderReranker(BUNDLED)


@pytest.fixture(scope="session")
def onnx_embedder():
    """The bundled encoder on ONNX Runtime: what qabot answers with by default."""
    from index.modelling.onnx_runtime import OnnxEmbedder

    return OnnxEmbedder(threads=2)


@pytest.fixture(scope="session")
def onnx_reranker():
    """The bundled reranker on ONNX Runtime: what qabot answers with by default."""
    from index.modelling.onnx_runtime import OnnxReranker
    from index.modelling.reranker import bundled_calibration

    return OnnxReranker(calibration=bundled_calibration(), threads=2)


@pytest.fixture
def real_models(monkeypatch: pytest.MonkeyPatch, onnx_embedder, onnx_reranker) -> None:
    """Let the CLI reuse the session's loaded default models instead of loading them per
    call (the torch reference: ``real_embedder``, ``real_reranker``)."""
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: onnx_embedder)
    monkeypatch.setattr(index.answering.configured, "default_reranker",
                        lambda settings, *_: None if settings.reranker == "none" else onnx_reranker)


@pytest.fixture(scope="session")
def real_index_dir(tmp_path_factory: pytest.TempPathFactory, onnx_embedder) -> Iterator[Path]:
    """An index of the built-in article built with the real model (once per session)."""
    from index.sources.documents import load_sources
    from index.storage.build import build_index

    path = tmp_path_factory.mktemp("real") / "index"
    build_index(load_sources(), onnx_embedder, path)
    yield path


@pytest.fixture
def real_engine(onnx_embedder, onnx_reranker, real_index_dir: Path):
    from config import Settings
    from index.answering.engine import Engine

    engine = Engine(Settings(_env_file=None, index_dir=real_index_dir), onnx_embedder,
                    reranker=onnx_reranker)
    engine.load()
    return engine


# Two places with moons: a follow-up ("How many moons does it have?") is only answered
# right with the question before it (which names the place), under the fake models.
MOONS = ("Zorblat is a city on the red planet. Zorblat has three moons and a canal. "
         "Quibble is a river in the south. Quibble has seven moons and a bridge.")


def engine_over(settings, folder: Path, text: str):
    """An engine (fake embedder and reranker) over ``text``, built in ``folder`` and loaded."""
    from index.answering.engine import Engine

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "source.txt"
    source.write_text(text, encoding="utf-8")
    engine = Engine(settings.model_copy(update={"index_dir": folder / "idx"}), FakeEmbedder())
    engine.build([source], force=True)
    engine.load()
    return engine


@pytest.fixture
def moons_engine(settings, tmp_path: Path):
    """An engine (fake embedder and reranker) over :data:`MOONS`, built and loaded."""
    return engine_over(settings, tmp_path / "moons", MOONS)
