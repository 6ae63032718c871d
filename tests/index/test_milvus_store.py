"""The Milvus store (QABOT_STORE=milvus) on milvus-lite: search, builds, the alias, readers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from index.errors import IndexLoadError, StoreError
from index.sources.documents import load_sources
from index.storage.build import build_index
from index.storage.folder import MANIFEST, VECTORS
from index.storage.loading import load_index
from index.storage.stores.faiss import FaissStore
from index.storage.stores.milvus import (
    MilvusConfig,
    MilvusStore,
    StoreSwitched,
    connect,
    shown_uri,
    versions_of,
)
from tests.fakes import FakeEmbedder


@pytest.fixture
def milvus(tmp_path: Path) -> MilvusConfig:
    """A milvus-lite store of its own for each test."""
    return MilvusConfig(uri=str(tmp_path / "store-milvus.db"))


def _vectors(count: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((count, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _doc(tmp_path: Path, name: str, text: str):
    path = tmp_path / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return load_sources([path])


def _load(index: Path, emb: FakeEmbedder, milvus: MilvusConfig | None):
    return load_index(index, model=emb.name, fingerprint=emb.fingerprint,
                      dimension=emb.dimension, milvus=milvus)


def _alias_target(milvus: MilvusConfig, alias: str) -> str:
    return str(connect(milvus).describe_alias(alias)["collection_name"])


def test_the_store_searches_and_reads_back_as_faiss_does(milvus: MilvusConfig) -> None:
    vectors = _vectors(500)
    store = MilvusStore.create(milvus, "t_v20260101T000000000000_1", 500, 16)
    store.write(vectors)
    store.finish(500)
    faiss = FaissStore.build(vectors)
    queries = _vectors(5, seed=1)
    for id_range in (None, (100, 140), (0, 3)):
        m_scores, m_ids = store.search(queries, 10, id_range)
        f_scores, f_ids = faiss.search(queries, 10, id_range)
        assert m_ids.tolist() == f_ids.tolist(), id_range
        assert np.allclose(m_scores, f_scores, atol=1e-5)
    ids = np.array([7, 3, 499, 3])
    assert store.vectors(ids).tobytes() == vectors[ids].tobytes(), "vectors come back exact"
    assert store.vectors(np.array([], dtype=np.int64)).shape == (0, 16)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_ivf_and_hnsw_collections_find_what_exact_search_finds(milvus: MilvusConfig,
                                                               kind: str) -> None:
    vectors = _vectors(3000)
    store = MilvusStore.create(milvus, f"{kind}_v20260101T000000000000_1", 3000, 16, kind)
    store.write(vectors)
    store.finish(3000)
    assert store.kind == kind and store.params
    exact = FaissStore.build(vectors, "flat")
    queries = vectors[[5, 1500, 2999]]
    assert store.search(queries, 1)[1][:, 0].tolist() == [5, 1500, 2999]
    random = _vectors(20, seed=2)
    for id_range in ((1000, 1040), (0, 3000)):  # a narrow document is searched in full
        found = store.search(random, 5, id_range)[1]
        assert found.min() >= id_range[0] and found.max() < id_range[1]
    narrow = store.search(random, 5, (1000, 1040))[1]
    assert narrow.tolist() == exact.search(random, 5, (1000, 1040))[1].tolist()


def test_document_filters_probe_as_faiss_does(milvus: MilvusConfig) -> None:
    """A narrow document (FaissStore searches it exactly) probes every list; a wide one
    scales the probes with its share of the corpus, as FaissStore does."""
    ivf = MilvusStore(milvus, "x", "ivf", {"nlist": 512, "nprobe": 16}, 100_000, 16)
    assert ivf._search_params(None) == {"nprobe": 16}
    assert ivf._search_params((0, 10_000)) == {"nprobe": 512}
    assert ivf._search_params((0, 50_000)) == {"nprobe": 64}  # 16 * 2 * 100k / 50k
    hnsw = MilvusStore(milvus, "x", "hnsw", {"efSearch": 96}, 100_000, 16)
    assert hnsw._search_params(None) == {"ef": 96}
    assert hnsw._search_params((5, 25)) == {"ef": 4096}
    assert MilvusStore(milvus, "x", "flat", {}, 10, 16)._search_params((0, 5)) == {}


def test_writes_are_upserts_and_a_wrong_count_is_refused(milvus: MilvusConfig) -> None:
    vectors = _vectors(30)
    store = MilvusStore.create(milvus, "t_v20260101T000000000000_2", 30, 16)
    store.write(vectors[:20])
    store.write(vectors[10:20], start=10)  # a batch written again (a retry)
    with pytest.raises(StoreError, match="holds 20 vectors after the build, not 30"):
        store.finish(30)
    store.write(vectors[20:], start=20)
    store.finish(30)
    assert len(store) == 30


def test_a_build_on_milvus_writes_a_collection_behind_an_alias(tmp_path: Path,
                                                               milvus: MilvusConfig) -> None:
    emb = FakeEmbedder()
    index = tmp_path / "idx"
    result = build_index(load_sources(), emb, index, milvus=milvus)
    assert not result.skipped and result.units == 35
    manifest = json.loads((index / MANIFEST).read_text())
    assert manifest["store"] == "milvus" and "faiss" not in manifest
    info = manifest["milvus"]
    assert info["kind"] == "flat" and info["uri"] == milvus.uri
    assert not (index / VECTORS).exists() and VECTORS not in manifest["files"]
    assert _alias_target(milvus, info["alias"]) == info["collection"]
    assert versions_of(milvus, info["alias"]) == [info["collection"]]
    data = _load(index, emb, milvus)
    assert isinstance(data.store, MilvusStore) and len(data.store) == 35
    with pytest.raises(IndexLoadError, match="keeps its vectors in Milvus, but QABOT_STORE is "
                                             "faiss"):
        _load(index, emb, None)


def test_unchanged_is_skipped_and_a_rebuild_replaces_the_collection(
        tmp_path: Path, milvus: MilvusConfig) -> None:
    emb = FakeEmbedder()
    index = tmp_path / "idx"
    build_index(_doc(tmp_path, "a", "One fish. Two fish."), emb, index, milvus=milvus)
    first = json.loads((index / MANIFEST).read_text())["milvus"]
    calls = len(emb.calls)
    again = build_index(_doc(tmp_path, "a", "One fish. Two fish."), emb, index, milvus=milvus)
    assert again.skipped and len(emb.calls) == calls
    assert versions_of(milvus, first["alias"]) == [first["collection"]], "nothing new written"
    changed = build_index(_doc(tmp_path, "a", "One fish. Two fish. Red fish."), emb, index,
                          milvus=milvus)
    assert not changed.skipped and (changed.reused, changed.encoded) == (2, 1)
    second = json.loads((index / MANIFEST).read_text())["milvus"]
    assert second["alias"] == first["alias"] and second["collection"] > first["collection"]
    assert versions_of(milvus, first["alias"]) == [second["collection"]], "the old one dropped"
    assert _alias_target(milvus, first["alias"]) == second["collection"]
    data = _load(index, emb, milvus)
    assert len(data.store) == 3, "no unit twice"
    assert data.store.vectors(np.arange(3)).tobytes() == emb.encode(
        ["a: One fish.", "a: Two fish.", "a: Red fish."]).tobytes()


@pytest.mark.parametrize("where", ["after encoding", "while writing"])
def test_a_failed_build_leaves_the_previous_collection_answering(
        tmp_path: Path, milvus: MilvusConfig, monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    emb = FakeEmbedder()
    index = tmp_path / "idx"
    build_index(_doc(tmp_path, "old", "Old text here."), emb, index, milvus=milvus)
    before = json.loads((index / MANIFEST).read_text())["milvus"]

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    if where == "while writing":
        real = MilvusStore.write

        def half(self: MilvusStore, vectors: np.ndarray, **kwargs: object) -> None:
            real(self, vectors[:1])
            boom()

        monkeypatch.setattr(MilvusStore, "write", half)
    with pytest.raises(KeyboardInterrupt):
        build_index(_doc(tmp_path, "new", "New text. More."), emb, index, milvus=milvus,
                    on_encoded=boom if where == "after encoding" else None)
    assert versions_of(milvus, before["alias"]) == [before["collection"]], "nothing half-written"
    assert _alias_target(milvus, before["alias"]) == before["collection"]
    data = _load(index, emb, milvus)
    assert [u.doc for u in data.units] == ["old"]
    assert not list(tmp_path.glob(".idx.build-*"))


def test_a_faiss_index_moves_to_milvus_reusing_its_vectors(tmp_path: Path,
                                                           milvus: MilvusConfig) -> None:
    emb = FakeEmbedder()
    index = tmp_path / "idx"
    build_index(load_sources(), emb, index)
    calls = len(emb.calls)
    moved = build_index(load_sources(), emb, index, milvus=milvus)
    assert not moved.skipped and moved.reused == 35 and len(emb.calls) == calls
    assert json.loads((index / MANIFEST).read_text())["store"] == "milvus"
    with pytest.raises(IndexLoadError, match="set QABOT_STORE=milvus"):
        _load(index, emb, None)


def test_an_engine_follows_a_rebuild_that_dropped_its_collection(
        tmp_path: Path, settings, milvus: MilvusConfig) -> None:
    """A reader loaded before another process rebuilt: its collection is gone; it loads the
    new index and answers from it."""
    from index.answering.engine import Engine

    configured = settings.model_copy(update={"store": "milvus", "milvus_uri": milvus.uri})
    engine = Engine(configured, FakeEmbedder(), reranker=None)
    engine.build([_write(tmp_path, "first", "The cat sat on the mat.")])
    engine.load()
    assert engine.ask("Where did the cat sit?").best.unit.doc == "first"
    build_index(_doc(tmp_path, "second", "The cat sat on the sofa."), FakeEmbedder(),
                configured.index_dir, milvus=milvus)
    with pytest.raises(StoreSwitched):
        engine.data.store.search(FakeEmbedder().encode(["cat"]), 1)
    assert engine.ask("Where did the cat sit?").best.unit.doc == "second"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_uri_is_shown_without_credentials() -> None:
    assert shown_uri("https://root:Milvus@db.example:19530/x") == "https://db.example:19530/x"
    assert shown_uri("./local.db") == "./local.db"
    config = MilvusConfig(uri="http://u:pw@h:1", token=SecretStr("s3cret-token"))
    assert "s3cret" not in repr(config) and config.shown == "http://h:1"


def test_an_unreachable_server_is_one_line_without_the_token() -> None:
    for uri in ("http://127.0.0.1:9", "http://root:pa55word@127.0.0.1:9"):
        config = MilvusConfig(uri=uri, token=SecretStr("s3cret-token"), timeout=2)
        with pytest.raises(StoreError) as err:
            connect(config)
        text = str(err.value)
        assert text.startswith("cannot open Milvus at http://127.0.0.1:9: ")
        assert "\n" not in text and err.value.exit_code == 1
        assert "s3cret" not in text and "pa55word" not in text


def test_a_milvus_lite_file_in_use_by_another_process_says_how_to_share_it(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "busy.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pymilvus import MilvusClient\n"
         f"MilvusClient({str(path)!r}); print('open', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="one process at a time.*milvus-lite server"):
            connect(MilvusConfig(uri=str(path)))
    finally:
        holder.communicate("", timeout=30)


def test_a_build_on_a_terminal_shows_its_writes(tmp_path: Path, milvus: MilvusConfig,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    build_index(load_sources(), FakeEmbedder(), tmp_path / "idx", milvus=milvus, progress=True)
    err = capsys.readouterr().err
    assert "Writing to Milvus" in err and "35/35" in err


def test_without_pymilvus_the_store_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pymilvus", None)  # what an absent package looks like
    with pytest.raises(StoreError, match=r"^QABOT_STORE=milvus needs pymilvus: pip install "
                                         r"'qabot\[milvus\]'$"):
        connect(MilvusConfig(uri=str(tmp_path / "none.db")))
