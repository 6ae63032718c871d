"""The lexical model: BM25 (bm25s) for candidates and IDF-weighted term coverage.

Tokenising and indexing every unit costs seconds per 100k units, so a build saves the model
in the index folder (numpy arrays and JSON, never pickle) and a load reads it back,
memory-mapped when asked.

bm25s builds the model (:mod:`index.modelling.lexical_build`); answering does not import
it. The saved model records how its words were made (bm25s's pattern, stop words and
stemmer), and a question is split, scored and summed here with numpy alone, exactly as bm25s
would: importing bm25s imports scipy.sparse, about 0.1 s of a one-shot ask's 0.6 s.
``tests/index/test_lexical.py`` checks the two give the same ids and the same scores.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# Files of a saved lexical model, inside the index folder.
LEXICAL_VOCAB = "lexical.vocab.json"
LEXICAL_ARRAYS = ("lexical.bm25-data.npy", "lexical.bm25-indices.npy", "lexical.bm25-indptr.npy",
                  "lexical.tokens.npy", "lexical.tokptr.npy", "lexical.idf.npy")
LEXICAL_FILES = (LEXICAL_VOCAB, *LEXICAL_ARRAYS)


# How bm25s.tokenize(..., stopwords="en", stemmer=...) makes words, recorded in the saved model.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
STEMMER = "english"


def words_settings() -> dict[str, Any]:
    """The settings the build tokenises with (bm25s's English stop words)."""
    from bm25s.stopwords import STOPWORDS_EN  # what stopwords="en" means to bm25s.tokenize

    return {"lower": True, "pattern": TOKEN_PATTERN, "stemmer": STEMMER,
            "stopwords": sorted(STOPWORDS_EN)}


class Lexical:
    """Lexical signals over all units: BM25 (bm25s) for candidates, IDF-weighted coverage.

    Made by :func:`index.modelling.lexical_build.build_lexical` (a build), else read by
    :meth:`load`; empty as constructed.

    Tokens are lower-cased, English stop words dropped and Snowball-stemmed; statistics are
    over the whole index, whatever document filter a question has. Each unit's distinct
    token ids are kept as one flat array (``tokens``) cut by ``tokptr``.
    """

    def __init__(self) -> None:
        import numpy as np
        import Stemmer

        self.stemmer = Stemmer.Stemmer(STEMMER)
        self.vocab: dict[str, int] = {}
        self.size = 0
        self.tokens = np.zeros(0, dtype=np.int64)
        self.tokptr = np.zeros(1, dtype=np.int64)
        self.idf = np.zeros(1, dtype=np.float64)
        # BM25 scores as a sparse matrix by column (token id): the units holding token t are
        # indices[indptr[t]:indptr[t + 1]], with their scores in data (bm25s's layout).
        self.data = np.zeros(0, dtype=np.float32)
        self.indices = np.zeros(0, dtype=np.int32)
        self.indptr = np.zeros(1, dtype=np.int64)
        self.words: dict[str, Any] = {}
        self._stopwords: frozenset[str] = frozenset()
        self._split = re.compile(TOKEN_PATTERN).findall

    # --- persistence -----------------------------------------------------------------------
    def save(self, folder: Path) -> list[str]:
        """Write the model into ``folder``; return the names of the files written."""
        import numpy as np

        arrays = (self.data, self.indices, self.indptr, self.tokens, self.tokptr, self.idf)
        for name, array in zip(LEXICAL_ARRAYS, arrays, strict=True):
            with (folder / name).open("wb") as fh:
                np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        with (folder / LEXICAL_VOCAB).open("w", encoding="utf-8") as fh:
            json.dump({"size": self.size, "vocab": self.vocab, "words": self.words},
                      fh, ensure_ascii=False)
        return list(LEXICAL_FILES)

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = False) -> Lexical:
        """Read a model written by :meth:`save` (arrays memory-mapped when ``mmap``).

        Raises ValueError or OSError when a file is missing or malformed.
        """
        import numpy as np

        from index.json_input import parse as parse_json  # too deep: a ValueError

        meta = parse_json((folder / LEXICAL_VOCAB).read_text(encoding="utf-8"))
        data, indices, indptr, tokens, tokptr, idf = (
            np.load(folder / name, allow_pickle=False, mmap_mode="r" if mmap else None)
            for name in LEXICAL_ARRAYS
        )
        size, vocab = int(meta["size"]), meta["vocab"]
        if (not isinstance(vocab, dict) or len(tokptr) != size + 1 or len(idf) < len(vocab)
                # one column per token id up to the highest a unit holds (bm25s's vocabulary
                # also has "", which no unit holds)
                or not len(vocab) <= len(indptr) <= len(vocab) + 1 or len(indices) != len(data)
                or indptr[-1] != len(data)):
            raise ValueError("lexical model files do not match each other")
        lexical = cls()
        # A model saved before the settings were recorded was made with today's bm25s ones.
        lexical.set_words(meta.get("words") or words_settings())
        lexical.vocab, lexical.size = vocab, size
        lexical.tokens, lexical.tokptr, lexical.idf = tokens, tokptr, idf
        lexical.data, lexical.indices, lexical.indptr = data, indices, indptr
        return lexical

    def set_words(self, words: dict[str, Any]) -> None:
        """Split words as ``words`` (recorded settings) says; ValueError for other ones."""
        if (words.get("pattern") != TOKEN_PATTERN or words.get("stemmer") != STEMMER
                or words.get("lower") is not True
                or not isinstance(words.get("stopwords"), list)):
            raise ValueError("lexical model was made with other word settings")
        self.words = words
        self._stopwords = frozenset(words["stopwords"])

    # --- signals ---------------------------------------------------------------------------
    def query_ids(self, question: str) -> np.ndarray:
        """The distinct known token ids of a question."""
        import numpy as np

        words = [w for w in self._split(question.lower()) if w not in self._stopwords]
        stems = self.stemmer.stemWords(words) if words else []
        return np.unique(np.asarray([self.vocab[w] for w in stems if w in self.vocab],
                                    dtype=np.int64))

    def unit_tokens(self, uid: int) -> np.ndarray:
        """The distinct token ids of unit ``uid`` (sorted)."""
        return self.tokens[self.tokptr[uid] : self.tokptr[uid + 1]]

    def units_with(self, word: str, limit: int | None = None) -> np.ndarray:
        """The ids of the units holding ``word`` (as the model splits and stems it; none for a
        stop word or an unknown word), the first ``limit`` of them when given."""
        import numpy as np

        ids = self.query_ids(word).tolist()
        if len(ids) != 1 or ids[0] >= len(self.indptr) - 1:
            return np.zeros(0, dtype=np.int64)
        start, end = int(self.indptr[ids[0]]), int(self.indptr[ids[0] + 1])
        if limit is not None:
            end = min(end, start + limit)
        return np.asarray(self.indices[start:end], dtype=np.int64)

    def bm25(self, query: np.ndarray) -> np.ndarray:
        """BM25 score of every unit (zeros when no query word is known)."""
        import numpy as np

        scores = np.zeros(self.size, dtype=np.float32)
        # bm25s's own sum (BM25.get_scores_from_ids, "lucene" scoring), column by column.
        columns = len(self.indptr) - 1
        for token in query.tolist():
            if token >= columns:  # bm25s's "" token: held by no unit
                continue
            start, end = int(self.indptr[token]), int(self.indptr[token + 1])
            np.add.at(scores, self.indices[start:end], self.data[start:end])
        return scores

    def coverage(self, query: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Share of the query's IDF mass that each unit contains (0 to 1)."""
        import numpy as np

        total = float(self.idf[query].sum()) if len(query) else 0.0
        out = np.zeros(len(units), dtype=np.float32)
        if total <= 0:
            return out
        for row, uid in enumerate(units):
            common = np.intersect1d(query, self.unit_tokens(int(uid)), assume_unique=True)
            out[row] = self.idf[common].sum() / total
        return out
