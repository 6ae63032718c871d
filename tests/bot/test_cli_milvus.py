"""The CLI with QABOT_STORE=milvus (milvus-lite): build, info, ask, eval, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MILVUS = {"QABOT_STORE": "milvus"}


def _build(runner: CliRunner, index: Path, env: dict[str, str]) -> str:
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(index)], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_build_info_and_ask_on_milvus(runner: CliRunner, tmp_path: Path,
                                      fake_model: None) -> None:
    index = tmp_path / "idx"
    assert "built index at" in _build(runner, index, MILVUS)
    assert (tmp_path / "idx-milvus.db").is_dir(), "the default store is beside the index folder"
    assert "up to date" in _build(runner, index, MILVUS)
    info = runner.invoke(cli, ["index", "info", "--index-dir", str(index)], env=MILVUS)
    assert info.exit_code == 0, info.output
    assert "store milvus: collection qabot_idx_" in info.output
    assert f"at {tmp_path / 'idx-milvus.db'}, flat index" in info.output
    _build(runner, tmp_path / "f", {})
    faiss_info = runner.invoke(cli, ["index", "info", "--index-dir", str(tmp_path / "f")])
    assert "store faiss: flat index in the index folder" in faiss_info.output
    asked = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index),
                                "How many hours did the meeting last in Hamburg?"], env=MILVUS)
    assert asked.exit_code == 0, asked.output
    assert "two hours and 15 minutes" in json.loads(asked.output)["passages"][0]["text"]


def test_eval_is_identical_on_faiss_and_milvus(runner: CliRunner, tmp_path: Path,
                                               fake_model: None) -> None:
    """The article question set gives the same metrics, question by question, on both."""
    questions = ROOT / "index" / "data" / "article_qa.jsonl"
    asked = [json.loads(line)["question"] for line in questions.read_text().splitlines() if line]
    (tmp_path / "q.txt").write_text("\n".join(asked), encoding="utf-8")
    out = {}
    for store in ("faiss", "milvus"):
        env, index = {"QABOT_STORE": store}, tmp_path / store
        _build(runner, index, env)
        metrics = runner.invoke(cli, ["eval", "--json", "--index-dir", str(index),
                                      str(questions)], env=env)
        assert metrics.exit_code == 0, metrics.output
        batch = runner.invoke(cli, ["ask", "--json", "-k", "5", "--index-dir", str(index),
                                    "--batch", str(tmp_path / "q.txt")], env=env)
        assert batch.exit_code == 0, batch.output
        out[store] = (json.loads(metrics.output)["metrics"], batch.output)
    assert len(asked) == 81 and out["faiss"][1].count("\n") == 81
    assert out["faiss"][0] == out["milvus"][0]
    assert out["faiss"][1] == out["milvus"][1], "the same passages, scores and confidences"


def test_an_unreachable_milvus_is_one_line_and_exit_1(runner: CliRunner, tmp_path: Path,
                                                      fake_model: None) -> None:
    env = {**MILVUS, "QABOT_MILVUS_URI": "http://127.0.0.1:9",
           "QABOT_MILVUS_TOKEN": "root:s3cret-pass", "QABOT_MILVUS_TIMEOUT": "2"}
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(tmp_path / "i")], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("qabot: error: cannot open Milvus at http://127.0.0.1:9: ")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "s3cret" not in result.output
    assert not (tmp_path / "i").exists(), "nothing was switched in"


@pytest.mark.parametrize("uri", ["ftp://host/x", "milvus-store", "   x.txt"])
def test_a_bad_milvus_uri_is_a_settings_error(runner: CliRunner, uri: str) -> None:
    result = runner.invoke(cli, ["index", "build"], env={**MILVUS, "QABOT_MILVUS_URI": uri})
    assert result.exit_code == 2
    assert result.output.startswith("qabot: error: invalid setting QABOT_MILVUS_URI: ")
    assert result.output.count("\n") == 1


def test_an_index_on_the_other_store_is_refused_before_the_model_loads(
        runner: CliRunner, index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    def no_model(*args: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(index.answering.configured, "default_embedder", no_model)
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "hi"], env=MILVUS)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "keeps its vectors in a FAISS file, but QABOT_STORE is milvus; set " \
           "QABOT_STORE=faiss, or move it with `qabot index build --index-dir" in result.output


def test_the_faiss_path_never_imports_pymilvus(tmp_path: Path) -> None:
    code = ("import sys\nimport index.answering.configured\nfrom tests.fakes import FakeEmbedder\n"
            "index.answering.configured.default_embedder = lambda *a: FakeEmbedder()\n"
            "index.answering.configured.default_reranker = lambda *a: None\n"
            "from bot.cli import cli\n"
            "for argv in (['index', 'build'], ['index', 'info'], ['ask', 'hi']):\n"
            "    try:\n        cli.main(argv, prog_name='qabot')\n"
            "    except SystemExit as e:\n        assert not e.code, (argv, e.code)\n"
            "print('MILVUS', [m for m in ('pymilvus', 'milvus_lite', 'grpc', "
            "'index.storage.stores.milvus') "
            "if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={"PATH": "/usr/bin:/bin",
                                                     "QABOT_INDEX_DIR": str(tmp_path / "i")})
    assert "MILVUS []" in out.stdout, out.stdout + out.stderr


def test_a_dropped_collection_is_reported_and_repaired_by_a_build(
        runner: CliRunner, tmp_path: Path, fake_model: None) -> None:
    from index.storage.stores.milvus import MilvusConfig, connect

    index = tmp_path / "idx"
    _build(runner, index, MILVUS)
    info = json.loads((index / "manifest.json").read_text())["milvus"]
    client = connect(MilvusConfig(uri=str(tmp_path / "idx-milvus.db")))
    client.drop_alias(info["alias"])
    client.drop_collection(info["collection"])
    asked = runner.invoke(cli, ["ask", "--index-dir", str(index), "hi"], env=MILVUS)
    assert asked.exit_code == 1 and asked.output.count("\n") == 1
    assert f"the Milvus collection {info['collection']} is missing; rebuild it with " \
           f"`qabot index build --index-dir" in asked.output
    assert "built index at" in _build(runner, index, MILVUS), "not skipped: repaired"
    asked = runner.invoke(cli, ["ask", "--index-dir", str(index), "hi"], env=MILVUS)
    assert asked.exit_code == 0, asked.output
