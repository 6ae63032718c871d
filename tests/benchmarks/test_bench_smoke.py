"""The benchmark's smoke mode runs end to end and writes complete JSON (no timing checks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import run


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    assert run.main(["--smoke", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_figures_have_values_floors_and_targets(results: dict) -> None:
    assert results["smoke"] is True and results["machine"]["cpus"] >= 1
    figures = {f["name"].split(" (")[0]: f for f in results["figures"]}
    for name in ("warm ask, first stage only", "warm ask with reranking",
                 "warm ask beside a busy process, 1 thread", "index build throughput",
                 "--batch time per question, 80 vs 20 questions", "`qabot index info` wall time",
                 "cold one-shot `qabot ask`, wall time", "`qabot --help` wall time",
                 "peak RSS of `qabot ask`", "rebuild after adding one document to 200 units"):
        assert name in figures, name
        assert figures[name]["value"] > 0
    for name in ("warm ask, first stage only", "index build throughput"):
        f = figures[name]
        assert f["floor_value"] > 0 and f["ratio"] == pytest.approx(
            f["value"] / f["floor_value"], rel=1e-2, abs=1e-3)  # the ratio is rounded to 3 places
        assert f["target"].startswith("ratio") and f["met"] in (True, False)
    # A difference of two medians: with the smoke run's near-free fake it may be below 0.
    assert isinstance(figures["reranking 10 candidates"]["value"], float)
    reranked = figures["warm ask with reranking"]
    assert reranked["target"] == "value <= 150" and reranked["met"] in (True, False)
    by_name = {f["name"]: f for f in results["figures"]}
    tail = by_name["warm ask beside a busy process, 1 thread (default), p99"]
    assert tail["floor"] == "its p50" and tail["target"] == "ratio <= 2"


def test_batch_runs_every_size_through_the_cli(results: dict) -> None:
    table = results["batch"]
    assert [(t["questions"], t["reranker"]) for t in table] == [
        (20, "none"), (80, "none"), (10, "bundled")]
    for t in table:
        assert t["wall_s"] > 0 and t["peak_rss_mb"] > 0
        assert t["ms_per_question"] == pytest.approx(1000 * t["wall_s"] / t["questions"],
                                                     rel=0.01)


def test_embedding_reuse_encodes_only_the_new_document(results: dict) -> None:
    reuse = results["embedding_reuse"]
    assert reuse["units"] == 200 and reuse["reused"] == 200 and reuse["encoded"] == 20
    engine = results["engine_scale"][0]
    assert engine["reused"] == 1000 and engine["encoded"] == 20


def test_stores_report_kind_latency_recall_and_filters(results: dict) -> None:
    stores = {s["size"]: s for s in results["stores"]}
    assert stores[2000]["kind"] == "flat" and stores[60000]["kind"] == "ivf"
    for s in stores.values():
        assert 0 <= s["recall_at_10"] <= 1 and s["p50_ms"] > 0 and s["disk_mb"] > 0
        assert s["doc_filters"] and {"store_near", "store_far", "selector_near",
                                     "selector_far"} <= set(s["doc_filters"][0])
    assert stores[2000]["recall_at_10"] == 1.0, "flat search is exact"
    assert [m["mmap"] for m in results["mmap"]] == [False, True]


def test_cold_only_runs_the_one_shot_figures_alone(tmp_path: Path) -> None:
    out = tmp_path / "cold.json"
    assert run.main(["--smoke", "--cold-only", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    names = [f["name"] for f in results["figures"]]
    assert "cold one-shot `qabot ask`, first stage only (QABOT_RERANKER=none)" in names
    assert "`qabot --help` wall time" in names
    assert not any(n.startswith("warm ask") for n in names) and results["batch"] == []
    assert results["command"] == "python -m benchmarks.run --smoke --cold-only"
