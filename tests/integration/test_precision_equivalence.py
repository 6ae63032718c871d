"""The lighter-precision reranker (issue 29; ``python -m training.export --what reranker
--precision dynamic-int8-excl``) against the shipped float32 export, on the candidate lists
the engine hands the reranker for the shipped article sets: the same best pair for at least
98% of the questions, and the engine's answers right first and its verdicts within one
question per set. The export is made here, from the bundled weights, as the command makes
it (the model itself is not shipped)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

MIN_TOP1 = 0.98


@pytest.fixture(scope="module")
def lighter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from index.modelling.reranker import BUNDLED_DIR
    from training.export import export_reranker

    out = tmp_path_factory.mktemp("reranker-int8")
    check = export_reranker(BUNDLED_DIR, out, precision="dynamic-int8-excl")
    assert check["top1_agreement"] >= MIN_TOP1  # the export's own check, on 12 lists
    return out


def test_lighter_reranker_keeps_the_answers(lighter: Path) -> None:
    from benchmarks.precision_lists import ARTICLE_SETS, bundled, collect, engine_view
    from index.modelling.onnx_runtime import OnnxReranker

    lists = collect(ARTICLE_SETS, threads=2)
    assert len(lists) > 140
    calibration = bundled()
    reranker = OnnxReranker(lighter, calibration=calibration, threads=2, pinned="")
    same = 0
    counts: dict[str, Counter[tuple[str, str]]] = {"float32": Counter(), "int8": Counter()}
    for listed in lists:
        reference = np.asarray(listed.signals["rerank"])  # float32's, as the engine read them
        got = reranker.score(listed.question, listed.passages)
        assert np.abs(got - reference).max() < 0.5
        same += int(np.argmax(got)) == int(np.argmax(reference))
        for name, logits in (("float32", reference), ("int8", got)):
            view = engine_view(listed, logits, calibration)
            counts[name][(listed.set, "right")] += view["right"]
            counts[name][(listed.set, view["verdict"])] += 1
    assert same / len(lists) >= MIN_TOP1
    for key in counts["float32"].keys() | counts["int8"].keys():
        assert abs(counts["float32"][key] - counts["int8"][key]) <= 1, key
