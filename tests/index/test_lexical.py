from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.modelling.lexical import LEXICAL_FILES, Lexical
from index.modelling.lexical_build import build_lexical

TEXTS = [
    "The meeting lasted two hours and 15 minutes.",
    "Putin and Trump met in Hamburg.",
    "Melania Trump interrupted the meeting.",
    "Tillerson told reporters about the talks.",
]


def test_scores_and_coverage() -> None:
    lex = build_lexical(TEXTS)
    query = lex.query_ids("How long did the meeting last?")
    scores = lex.bm25(query)
    assert scores.shape == (4,) and scores[0] == scores.max() and scores[1] == 0
    cov = lex.coverage(lex.query_ids("meeting in Hamburg"), np.array([0, 1, 3]))
    assert 0 < cov[0] < 1 and 0 < cov[1] < 1 and cov[2] == 0
    assert lex.coverage(lex.query_ids("meeting Hamburg"), np.array([1]))[0] > cov[0]


@pytest.mark.parametrize("mmap", [False, True])
def test_saved_model_scores_like_the_built_one(tmp_path: Path, mmap: bool) -> None:
    built = build_lexical(TEXTS)
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
    build_lexical(TEXTS).save(tmp_path)
    for name in LEXICAL_FILES:
        if name.endswith(".npy"):
            np.load(tmp_path / name, allow_pickle=False)  # raises on object arrays


def test_mismatched_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    build_lexical(TEXTS).save(tmp_path)
    build_lexical(TEXTS[:2]).save(other)
    (tmp_path / "lexical.tokptr.npy").write_bytes((other / "lexical.tokptr.npy").read_bytes())
    with pytest.raises(ValueError):
        Lexical.load(tmp_path)


def _questions() -> list[str]:
    import json

    data = Path(__file__).resolve().parents[2] / "index" / "data"
    questions = [json.loads(line)["question"]
                 for name in ("article_qa.jsonl", "article_qa_holdout.jsonl")
                 for line in (data / name).read_text(encoding="utf-8").splitlines() if line]
    return questions + ["", "   ", "ÉMIGRÉS' Straße façade — naïve 2017 G20 x", "I'm can't won't",
                        "the and of to", "Putin's PUTIN putins", "日本語のテキスト", "a1 b2 c_d"]


def test_questions_are_read_as_bm25s_reads_them() -> None:
    """The question path (no bm25s import) gives bm25s's own ids and scores, to the bit."""
    import bm25s
    import Stemmer

    from index.sources.documents import builtin_article, read_text_document

    texts = [unit.text for unit in read_text_document(builtin_article()).units]
    lex = build_lexical(texts)
    retriever = bm25s.BM25()
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"),
                            show_progress=False)
    retriever.index(tokens, show_progress=False)
    assert tokens.vocab == lex.vocab
    questions = _questions() + texts
    for question in questions:
        words = bm25s.tokenize([question], stopwords="en", stemmer=Stemmer.Stemmer("english"),
                               return_ids=False, show_progress=False)[0]
        expected = np.unique(np.asarray([lex.vocab[w] for w in words if w in lex.vocab],
                                        dtype=np.int64))
        assert np.array_equal(lex.query_ids(question), expected), question
        if len(expected):
            theirs = retriever.get_scores_from_ids(expected.tolist())
            assert np.array_equal(lex.bm25(expected), theirs), question
    assert sum(len(lex.query_ids(q)) > 0 for q in questions) > 100


def test_answering_does_not_import_bm25s(tmp_path: Path) -> None:
    import subprocess
    import sys

    build_lexical(TEXTS).save(tmp_path)
    code = ("import sys; from pathlib import Path; from index.modelling.lexical import Lexical; "
            f"lex = Lexical.load(Path({str(tmp_path)!r})); "
            "print(lex.bm25(lex.query_ids('How long did the meeting last?')).argmax(), "
            "'bm25s' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == ["0", "False", "False"]


def test_a_model_made_with_other_word_settings_is_refused(tmp_path: Path) -> None:
    import json

    build_lexical(TEXTS).save(tmp_path)
    vocab = tmp_path / "lexical.vocab.json"
    meta = json.loads(vocab.read_text(encoding="utf-8"))
    meta["words"]["pattern"] = r"\w+"
    vocab.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match="other word settings"):
        Lexical.load(tmp_path)


def test_a_model_saved_before_the_settings_were_recorded_still_loads(tmp_path: Path) -> None:
    import json

    built = build_lexical(TEXTS)
    built.save(tmp_path)
    vocab = tmp_path / "lexical.vocab.json"
    meta = json.loads(vocab.read_text(encoding="utf-8"))
    del meta["words"]
    vocab.write_text(json.dumps(meta), encoding="utf-8")
    loaded = Lexical.load(tmp_path)
    q = loaded.query_ids("Who interrupted the meeting?")
    assert len(q) == 2 and np.array_equal(loaded.bm25(q), built.bm25(q))


def test_units_with_a_word() -> None:
    lexical = build_lexical(["Trump met Putin.", "The meeting ran long.",
                             "Trump left the meetings."])
    assert lexical.units_with("trump").tolist() == [0, 2]
    assert lexical.units_with("trump", 1).tolist() == [0]
    assert lexical.units_with("Meeting").tolist() == [1, 2], "stemmed, any case"
    assert lexical.units_with("the").tolist() == [], "a stop word"
    assert lexical.units_with("zeppelin").tolist() == []
