from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.storage.stores.base import FLAT_LIMIT, choose_kind, ivf_params
from index.storage.stores.faiss import FaissStore


def _vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim)).astype(np.float32)
    x = centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _exact(x: np.ndarray, q: np.ndarray, k: int, lo: int = 0, hi: int | None = None
           ) -> np.ndarray:
    hi = len(x) if hi is None else hi
    return np.argsort(-(x[lo:hi] @ q[0]), kind="stable")[:k] + lo


def test_kind_follows_size_and_setting() -> None:
    assert choose_kind(10) == "flat" and choose_kind(FLAT_LIMIT) == "flat"
    assert choose_kind(FLAT_LIMIT + 1) == "ivf" and choose_kind(10**6) == "ivf"
    assert choose_kind(10, "hnsw") == "hnsw" and choose_kind(10**6, "flat") == "flat"
    small, large = ivf_params(100_000), ivf_params(1_000_000)
    assert small["nlist"] < large["nlist"] and 1 <= small["nprobe"] <= small["nlist"]
    assert ivf_params(50)["nlist"] >= 1


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_search_and_range_search(kind: str) -> None:
    x = _vectors(3000)
    store = FaissStore.build(x, kind)
    assert store.kind == kind and len(store) == 3000
    q = x[7:8]
    _, ids = store.search(q, 5)
    assert ids[0][0] == 7
    _, ids = store.search(q, 5, (1000, 1040))
    assert list(ids[0]) == list(_exact(x, q, 5, 1000, 1040)), "a small range is exact"
    assert np.allclose(store.vectors(np.array([3, 2999])), x[[3, 2999]])


def test_large_range_uses_the_selector(monkeypatch: pytest.MonkeyPatch) -> None:
    import index.storage.stores.faiss as store_module

    monkeypatch.setattr(store_module, "EXACT_RANGE_LIMIT", 100)
    x = _vectors(3000, seed=1)
    store = FaissStore.build(x, "ivf")
    q = x[1500:1501]
    _, ids = store.search(q, 10, (1000, 2500))
    found = ids[0][ids[0] >= 0]
    assert ((found >= 1000) & (found < 2500)).all() and found[0] == 1500


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
@pytest.mark.parametrize("mmap", [False, True])
def test_saved_store_searches_the_same(tmp_path: Path, kind: str, mmap: bool) -> None:
    x = _vectors(2000, seed=2)
    store = FaissStore.build(x, kind)
    store.save(tmp_path / "v.faiss")
    loaded = FaissStore.load(tmp_path / "v.faiss", kind, store.params, mmap=mmap)
    q = x[11:13]
    assert np.array_equal(store.search(q, 5)[1], loaded.search(q, 5)[1])
    assert np.array_equal(store.search(q[:1], 5, (100, 300))[1],
                          loaded.search(q[:1], 5, (100, 300))[1])
    assert np.allclose(loaded.vectors(np.array([0, 1999])), x[[0, 1999]])


@pytest.mark.parametrize("mmap", [False, True])
def test_ivf_without_direct_map_gets_one_on_load(tmp_path: Path, mmap: bool) -> None:
    import faiss

    x = _vectors(2000, seed=3)
    store = FaissStore.build(x, "ivf")
    faiss.extract_index_ivf(store.index).set_direct_map_type(faiss.DirectMap.NoMap)
    store.save(tmp_path / "v.faiss")
    loaded = FaissStore.load(tmp_path / "v.faiss", "ivf", store.params, mmap=mmap)
    assert np.allclose(loaded.vectors(np.array([5, 1500])), x[[5, 1500]])
    assert loaded.search(x[5:6], 3, (0, 10))[1][0][0] == 5
