"""The question path without torch: the shipped ONNX exports, their checks, and the wiring
that chooses them. These load the real exports (ONNX Runtime is fast to start); the
comparison with the torch models is in tests/integration/test_onnx_equivalence.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.errors import ModelError
from index.modelling.onnx_runtime import (
    ENCODER_EXPORT,
    EXPORT_FILE,
    MODEL_FILE,
    RERANKER_EXPORT,
    OnnxEmbedder,
    OnnxReranker,
)
from index.modelling.reranker import bundled_calibration
from index.sources.documents import load_sources
from index.storage.build import build_index

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_exports_are_pinned_and_describe_their_source() -> None:
    from index.modelling.pins import pinned

    ENCODER_SHA256, RERANKER_SHA256 = pinned("encoder-onnx"), pinned("reranker-onnx")
    BUNDLED_SHA256, RERANKER_WEIGHTS = pinned("encoder"), pinned("reranker")

    encoder = json.loads((ENCODER_EXPORT / EXPORT_FILE).read_text())
    reranker = json.loads((RERANKER_EXPORT / EXPORT_FILE).read_text())
    assert encoder["onnx_sha256"] == ENCODER_SHA256 and len(ENCODER_SHA256) == 64
    assert reranker["onnx_sha256"] == RERANKER_SHA256 and len(RERANKER_SHA256) == 64
    # Made from exactly the weights the torch path loads, and checked against them.
    assert encoder["source"]["weights_sha256"] == BUNDLED_SHA256
    assert reranker["source"]["weights_sha256"] == RERANKER_WEIGHTS
    assert encoder["check"]["min_cosine"] >= 0.999
    assert reranker["check"]["max_logit_diff"] <= 0.01


def test_encoder_identity_is_known_before_the_graph_loads() -> None:
    embedder = OnnxEmbedder()
    assert (embedder.name, embedder.dimension) == ("all-MiniLM-L6-v2", 384)
    assert embedder._export._loaded is None


def test_encoder_vectors_are_normalised_and_order_independent() -> None:
    embedder = OnnxEmbedder()
    texts = ["How long did the meeting last?", "x", "Trump met Putin in Hamburg " * 80]
    vectors = embedder.encode(texts, batch_size=2)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.vstack([embedder.encode([t]) for t in texts])
    assert np.allclose(vectors, one_by_one, atol=1e-5)  # padding and sorting change nothing
    assert embedder.encode([]).shape == (0, 384)


def test_reranker_scores_the_answer_above_an_unrelated_sentence() -> None:
    reranker = OnnxReranker(calibration=bundled_calibration())
    scores = reranker.score("How long did the meeting last?", [
        "The weather in Hamburg was warm.",
        "The meeting lasted some two hours and 15 minutes."])
    assert scores.shape == (2,) and scores[1] > scores[0] + 2
    assert reranker.score("q", []).shape == (0,)


def _copy_export(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_a_changed_graph_fails_the_sha256_check_on_load(tmp_path: Path) -> None:
    folder = _copy_export(ENCODER_EXPORT, tmp_path / "enc")
    with (folder / MODEL_FILE).open("r+b") as fh:
        fh.seek(-100, 2)
        fh.write(b"\x00" * 8)
    embedder = OnnxEmbedder(folder)  # export.json is intact: the pin passes
    with pytest.raises(ModelError, match="fails the sha256 check"):
        embedder.encode(["a question"])


def test_an_export_other_than_the_shipped_one_is_refused(tmp_path: Path) -> None:
    folder = _copy_export(ENCODER_EXPORT, tmp_path / "enc")
    info = json.loads((folder / EXPORT_FILE).read_text())
    info["onnx_sha256"] = "0" * 64
    (folder / EXPORT_FILE).write_text(json.dumps(info))
    with pytest.raises(ModelError, match="not the one this qabot ships"):
        OnnxEmbedder(folder)


@pytest.mark.parametrize("damage", ["{", "[]", '{"kind": "encoder"}', None])
def test_a_malformed_export_json_is_one_line(tmp_path: Path, damage: str | None) -> None:
    folder = _copy_export(RERANKER_EXPORT, tmp_path / "rr")
    if damage is None:
        (folder / EXPORT_FILE).unlink()
    else:
        (folder / EXPORT_FILE).write_text(damage)
    with pytest.raises(ModelError) as err:
        OnnxReranker(folder, calibration=bundled_calibration())
    assert "\n" not in str(err.value) and "QABOT_RUNTIME=torch" in str(err.value)


def test_a_reranker_export_is_not_taken_for_an_encoder() -> None:
    with pytest.raises(ModelError, match="is a reranker, not a encoder"):
        OnnxEmbedder(RERANKER_EXPORT, pinned="")


def test_a_failed_background_load_is_raised_on_first_use(tmp_path: Path) -> None:
    folder = _copy_export(ENCODER_EXPORT, tmp_path / "enc")
    (folder / MODEL_FILE).write_bytes(b"not a graph")
    info = json.loads((folder / EXPORT_FILE).read_text())
    embedder = OnnxEmbedder(folder, pinned=info["onnx_sha256"])
    embedder.start_loading()
    with pytest.raises(ModelError, match="fails the sha256 check"):
        embedder.encode(["a question"])


# --- choosing the runtime -----------------------------------------------------------------
def _settings(tmp_path: Path, **kw: object):
    from config import Settings

    return Settings(_env_file=None, index_dir=tmp_path / "idx", **kw)


def test_the_bundled_models_run_on_onnx_by_default(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    monkeypatch.undo()  # the suite's fake reranker: this test is about the real choice
    settings = _settings(tmp_path)
    assert isinstance(index.answering.configured.default_embedder(settings), OnnxEmbedder)
    assert isinstance(index.answering.configured.default_reranker(settings), OnnxReranker)
    assert index.answering.configured.default_reranker(_settings(tmp_path, reranker="none")) is None


def test_runtime_torch_and_other_models_go_to_sentence_transformers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured
    import index.modelling.embedder
    import index.modelling.reranker

    made: list[tuple[str, str, int | None]] = []

    class Recorder:
        def __init__(self, name: str, *, threads: int | None = None) -> None:
            made.append((type(self).__name__, name, threads))

    monkeypatch.undo()
    monkeypatch.setattr(index.modelling.embedder, "SentenceTransformerEmbedder",
                        type("Embedder", (Recorder,), {}))
    monkeypatch.setattr(index.modelling.reranker, "CrossEncoderReranker",
                        type("CrossEncoder", (Recorder,), {}))
    torch_settings = _settings(tmp_path, runtime="torch", threads=3)
    index.answering.configured.default_embedder(torch_settings)
    index.answering.configured.default_reranker(torch_settings)
    other = _settings(tmp_path, model="/some/model", reranker="/some/cross-encoder")
    index.answering.configured.default_embedder(other, "build")
    index.answering.configured.default_reranker(other)
    import os

    assert made == [("Embedder", "all-MiniLM-L6-v2", 3), ("CrossEncoder", "bundled", 3),
                    ("Embedder", "/some/model", os.cpu_count()),
                    ("CrossEncoder", "/some/cross-encoder", 1)]


def test_threads_default_to_one_for_answers_and_every_core_for_builds(tmp_path: Path) -> None:
    import os

    from index.modelling.threads import thread_count

    assert thread_count(_settings(tmp_path)) == 1
    assert thread_count(_settings(tmp_path), "build") == (os.cpu_count() or 1)
    assert thread_count(_settings(tmp_path, threads=3), "build") == 3
    assert OnnxEmbedder(threads=2)._export.threads == 2


@pytest.mark.parametrize(("value", "code", "text"), [
    ("0", 2, "QABOT_THREADS"), ("many", 2, "QABOT_THREADS"), ("gpu", 2, "QABOT_RUNTIME")])
def test_bad_thread_and_runtime_settings_are_one_line(value: str, code: int, text: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(text, value)
    result = CliRunner().invoke(cli, ["ask", "How long did the meeting last?"])
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1 and text in result.stderr


def test_a_blank_threads_setting_means_the_default(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_THREADS", " ")
    monkeypatch.setenv("QABOT_ANSWER_THRESHOLD", "")
    settings = _settings(tmp_path)
    assert settings.threads is None and settings.answer_threshold is None


# --- the real processes: what they import and load ----------------------------------------
def _run(code: str, tmp_path: Path, **extra: str) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "QABOT_INDEX_DIR": str(tmp_path / "idx"), "HF_HUB_OFFLINE": "1", **extra}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


PROBE = """
import json, sys
from click.testing import CliRunner
from bot.cli import cli
result = CliRunner().invoke(cli, {args!r})
print(json.dumps({{"code": result.exit_code, "out": result.stdout,
                  "loaded": sorted(m for m in ("torch", "sentence_transformers",
                                               "onnxruntime", "transformers")
                                   if m in sys.modules)}}))
"""


def test_asking_and_an_unchanged_build_never_import_torch(tmp_path: Path) -> None:
    build_index(load_sources(), OnnxEmbedder(), tmp_path / "idx")
    ask = _run(PROBE.format(args=["ask", "--json", "How long did the meeting last?"]),
               tmp_path)
    assert ask["code"] == 0 and "two hours and 15 minutes" in str(ask["out"])
    assert ask["loaded"] == ["onnxruntime"]
    build = _run(PROBE.format(args=["index", "build"]), tmp_path)
    assert build["code"] == 0 and "up to date" in str(build["out"])
    assert build["loaded"] == [], "an unchanged corpus is recognised before any model loads"
    reference = _run(PROBE.format(args=["index", "build"]), tmp_path, QABOT_RUNTIME="torch")
    assert reference["code"] == 0 and "up to date" in str(reference["out"])
    assert reference["loaded"] == [], "the torch runtime too knows the bundled model unloaded"
    info = _run(PROBE.format(args=["index", "info"]), tmp_path)
    assert info["code"] == 0 and info["loaded"] == []


def test_a_one_shot_ask_exits_with_its_output_flushed(tmp_path: Path) -> None:
    build_index(load_sources(), OnnxEmbedder(), tmp_path / "idx")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "QABOT_INDEX_DIR": str(tmp_path / "idx")}
    done = subprocess.run([sys.executable, "-m", "bot", "ask", "--json",
                           "How long did the meeting last?"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)  # the whole line arrived before the fast exit
    assert answer["verdict"] in ("answer", "likely")
    assert "two hours" in answer["passages"][0]["text"]
    bad = subprocess.run([sys.executable, "-m", "bot", "ask", "--doc", "nope", "q?"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown document" in bad.stderr


# --- the record of graphs that hashed right --------------------------------------------------
def _count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    import index.files

    hashed: list[Path] = []
    real = index.files.sha256_file

    def counting(path: Path, chunk: int = 1 << 20) -> str:
        hashed.append(path)
        return real(path, chunk)

    monkeypatch.setattr(index.files, "sha256_file", counting)
    return hashed


def test_a_graph_that_hashed_right_is_not_hashed_again_while_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.modelling.verified import cache_file

    folder = _copy_export(ENCODER_EXPORT, tmp_path / "enc")
    hashed = _count_hashes(monkeypatch)
    first = OnnxEmbedder(folder).encode(["a question"])
    assert hashed == [folder / MODEL_FILE] and cache_file().is_file()
    second = OnnxEmbedder(folder).encode(["a question"])  # a new process would do the same
    assert hashed == [folder / MODEL_FILE] and np.allclose(first, second)


def test_a_graph_changed_after_its_check_is_hashed_again_and_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    folder = _copy_export(ENCODER_EXPORT, tmp_path / "enc")
    OnnxEmbedder(folder).load()
    model = folder / MODEL_FILE
    before = model.stat()
    time.sleep(0.01)
    with model.open("r+b") as fh:  # same size, and the modification time put back
        fh.seek(-100, 2)
        fh.write(b"\x00" * 8)
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
    hashed = _count_hashes(monkeypatch)
    with pytest.raises(ModelError, match="fails the sha256 check"):
        OnnxEmbedder(folder).load()
    assert hashed == [model]


@pytest.mark.parametrize("record", ["not json", "[]", '{"x": 1}'])
def test_a_damaged_record_only_means_hashing_again(tmp_path: Path, record: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from index.modelling.verified import cache_file

    folder = _copy_export(RERANKER_EXPORT, tmp_path / "rr")
    cache_file().parent.mkdir(parents=True)
    cache_file().write_text(record)
    hashed = _count_hashes(monkeypatch)
    OnnxReranker(folder, calibration=bundled_calibration()).load()
    assert hashed == [folder / MODEL_FILE]
    assert json.loads(cache_file().read_text())[str((folder / MODEL_FILE).resolve())]
