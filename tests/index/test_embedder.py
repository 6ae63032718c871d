from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.errors import ModelError
from index.modelling import embedder as emb
from index.modelling.pins import pinned


def test_bundled_names_resolve_to_the_package() -> None:
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        spec = emb.resolve_model(name)
        assert spec.bundled and spec.path is not None
        assert (spec.path / "model.safetensors").is_file()


def test_other_names_and_paths(tmp_path: Path) -> None:
    assert emb.resolve_model("BAAI/bge-small-en-v1.5").path is None
    assert emb.resolve_model(str(tmp_path)).path == tmp_path.resolve()
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(ModelError, match="is not a folder"):
        emb.resolve_model(str(file))


def test_bundled_weights_pass_verification() -> None:
    spec = emb.resolve_model("all-MiniLM-L6-v2")
    assert spec.path is not None
    assert emb.verify_bundled(spec.path) == pinned("encoder")


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    spec = emb.resolve_model("all-MiniLM-L6-v2")
    assert spec.path is not None
    copy = tmp_path / "model"
    copy.mkdir()
    shutil.copy(spec.path / "model.safetensors", copy / "model.safetensors")
    with (copy / "model.safetensors").open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x01\x02\x03")
    with pytest.raises(ModelError, match="sha256"):
        emb.verify_bundled(copy)
    (copy / "model.safetensors").write_bytes(b"short")
    with pytest.raises(ModelError, match="have 5 bytes"):
        emb.verify_bundled(copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="missing"):
        emb.verify_bundled(copy)


def test_unknown_model_name_fails_cleanly_offline(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelError, match="cannot load model 'no-such-org/no-such-model'"):
        emb.SentenceTransformerEmbedder("no-such-org/no-such-model")


def test_hub_models_load_from_the_cache_first() -> None:
    calls: list[dict] = []

    def loader(name: str, **kwargs: object) -> str:
        calls.append(dict(kwargs))
        if kwargs.get("local_files_only"):
            raise OSError("not cached")
        return "model"

    assert emb._load_hub_model(loader, "org/model") == "model"
    assert calls == [{"device": "cpu", "local_files_only": True}, {"device": "cpu"}]
    calls.clear()
    assert emb._load_hub_model(lambda name, **kw: calls.append(kw) or "cached", "o/m") == "cached"
    assert calls == [{"device": "cpu", "local_files_only": True}]
