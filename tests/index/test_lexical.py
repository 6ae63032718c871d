from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.lexical import LEXICAL_FILES, Lexical

TEXTS = [
    "The meeting lasted two hours and 15 minutes.",
    "Putin and Trump met in Hamburg.",
    "Melania Trump interrupted the meeting.",
    "Tillerson told reporters about the talks.",
]


def test_scores_and_coverage() -> None:
    lex = Lexical(TEXTS)
    query = lex.query_ids("How long did the meeting last?")
    scores = lex.bm25(query)
    assert scores.shape == (4,) and scores[0] == scores.max() and scores[1] == 0
    cov = lex.coverage(lex.query_ids("meeting in Hamburg"), np.array([0, 1, 3]))
    assert 0 < cov[0] < 1 and 0 < cov[1] < 1 and cov[2] == 0
    assert lex.coverage(lex.query_ids("meeting Hamburg"), np.array([1]))[0] > cov[0]


@pytest.mark.parametrize("mmap", [False, True])
def test_saved_model_scores_like_the_built_one(tmp_path: Path, mmap: bool) -> None:
    built = Lexical(TEXTS)
    assert sorted(built.save(tmp_path)) == sorted(LEXICAL_FILES)
    loaded = Lexical.load(tmp_path, mmap=mmap)
    assert loaded.size == 4 and loaded.vocab == built.vocab
    for question in ("How long did the meeting last?", "Who interrupted Trump?", "zzz"):
        q1, q2 = built.query_ids(question), loaded.query_ids(question)
        assert np.array_equal(q1, q2)
        assert np.array_equal(built.bm25(q1), loaded.bm25(q2))
        ids = np.arange(4)
        assert np.array_equal(built.coverage(q1, ids), loaded.coverage(q2, ids))


def test_nothing_is_pickled(tmp_path: Path) -> None:
    Lexical(TEXTS).save(tmp_path)
    for name in LEXICAL_FILES:
        if name.endswith(".npy"):
            np.load(tmp_path / name, allow_pickle=False)  # raises on object arrays


def test_mismatched_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    Lexical(TEXTS).save(tmp_path)
    Lexical(TEXTS[:2]).save(other)
    (tmp_path / "lexical.tokptr.npy").write_bytes((other / "lexical.tokptr.npy").read_bytes())
    with pytest.raises(ValueError):
        Lexical.load(tmp_path)
