"""The FAISS-against-Milvus benchmark's smoke mode runs end to end (no timing checks)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import milvus


def test_the_milvus_benchmark_compares_both_stores(tmp_path: Path) -> None:
    out = tmp_path / "milvus.json"
    assert milvus.main(["--smoke", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["smoke"] is True and results["eval"] == []
    assert [(r["store"], r["size"]) for r in results["store"]] == [("faiss", 2000),
                                                                   ("milvus", 2000)]
    for row in results["store"]:
        assert row["kind"] == "flat" and row["recall_at_10"] == 1.0, row
        assert row["vectors_per_s"] > 0 and row["per_question"]["p50_ms"] > 0
        assert row["per_question"]["p99_ms"] >= row["per_question"]["p50_ms"]
    assert [(r["store"], r["size"]) for r in results["engine"]] == [("faiss", 500),
                                                                    ("milvus", 500)]
    assert all(r["units_per_s"] > 0 and r["ask"]["p50_ms"] > 0 for r in results["engine"])
    assert "| 2,000 | milvus | flat |" in milvus.format_tables(results)
