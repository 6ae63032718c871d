"""The lexical model: BM25 (bm25s) for candidates and IDF-weighted term coverage.

Tokenising and indexing every unit costs seconds per 100k units, so a build saves the model
in the index folder (numpy arrays and JSON, never pickle) and a load reads it back,
memory-mapped when asked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
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


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its own logger to DEBUG at import; let the root configuration decide.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


class Lexical:
    """Lexical signals over all units: BM25 (bm25s) for candidates, IDF-weighted coverage.

    Tokens are lower-cased, English stop words dropped and Snowball-stemmed; statistics are
    over the whole index, whatever document filter a question has. Each unit's distinct
    token ids are kept as one flat array (``tokens``) cut by ``tokptr``.
    """

    def __init__(self, texts: Sequence[str] | None = None) -> None:
        import numpy as np
        import Stemmer

        self._bm25s = _bm25s()
        self._stemmer = Stemmer.Stemmer("english")
        self.retriever = self._bm25s.BM25()
        self.vocab: dict[str, int] = {}
        self.size = 0
        self.tokens = np.zeros(0, dtype=np.int64)
        self.tokptr = np.zeros(1, dtype=np.int64)
        self.idf = np.zeros(1, dtype=np.float64)
        if texts is not None:
            self._index(texts)

    def _index(self, texts: Sequence[str]) -> None:
        import numpy as np

        tokens = self._bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer,
                                      show_progress=False)
        self.vocab = tokens.vocab
        if self.vocab:
            self.retriever.index(tokens, show_progress=False)
        else:  # no unit has a word (only emoji, digits, stop words): the lexical part is empty
            self.retriever.scores = {"data": np.zeros(0, dtype=np.float32),
                                     "indices": np.zeros(0, dtype=np.int32),
                                     "indptr": np.zeros(1, dtype=np.int64),
                                     "num_docs": len(texts)}
        self.size = len(texts)
        per_unit = [np.unique(np.asarray(ids, dtype=np.int64)) for ids in tokens.ids]
        lengths = np.fromiter((len(ids) for ids in per_unit), dtype=np.int64,
                              count=len(per_unit))
        self.tokptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.tokens = (np.concatenate(per_unit) if per_unit else np.zeros(0)).astype(np.int64)
        df = np.bincount(self.tokens, minlength=len(self.vocab) + 1).astype(np.float64)
        n = max(1, self.size)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5))

    # --- persistence -----------------------------------------------------------------------
    def save(self, folder: Path) -> list[str]:
        """Write the model into ``folder``; return the names of the files written."""
        import numpy as np

        scores = self.retriever.scores
        arrays = (scores["data"], scores["indices"], scores["indptr"], self.tokens,
                  self.tokptr, self.idf)
        for name, array in zip(LEXICAL_ARRAYS, arrays, strict=True):
            with (folder / name).open("wb") as fh:
                np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        with (folder / LEXICAL_VOCAB).open("w", encoding="utf-8") as fh:
            json.dump({"size": self.size, "vocab": self.vocab}, fh, ensure_ascii=False)
        return list(LEXICAL_FILES)

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = False) -> Lexical:
        """Read a model written by :meth:`save` (arrays memory-mapped when ``mmap``).

        Raises ValueError or OSError when a file is missing or malformed.
        """
        import numpy as np

        meta = json.loads((folder / LEXICAL_VOCAB).read_text(encoding="utf-8"))
        data, indices, indptr, tokens, tokptr, idf = (
            np.load(folder / name, allow_pickle=False, mmap_mode="r" if mmap else None)
            for name in LEXICAL_ARRAYS
        )
        size, vocab = int(meta["size"]), meta["vocab"]
        if not isinstance(vocab, dict) or len(tokptr) != size + 1 or len(idf) < len(vocab):
            raise ValueError("lexical model files do not match each other")
        lexical = cls()
        lexical.vocab, lexical.size = vocab, size
        lexical.tokens, lexical.tokptr, lexical.idf = tokens, tokptr, idf
        lexical.retriever.scores = {"data": data, "indices": indices, "indptr": indptr,
                                    "num_docs": size}
        lexical.retriever.vocab_dict = vocab
        lexical.retriever.unique_token_ids_set = set(vocab.values())
        lexical.retriever.nonoccurrence_array = None  # the default "lucene" BM25 has none
        return lexical

    # --- signals ---------------------------------------------------------------------------
    def query_ids(self, question: str) -> np.ndarray:
        """The distinct known token ids of a question."""
        import numpy as np

        words = self._bm25s.tokenize([question], stopwords="en", stemmer=self._stemmer,
                                     return_ids=False, show_progress=False)[0]
        return np.unique(np.asarray([self.vocab[w] for w in words if w in self.vocab],
                                    dtype=np.int64))

    def unit_tokens(self, uid: int) -> np.ndarray:
        """The distinct token ids of unit ``uid`` (sorted)."""
        return self.tokens[self.tokptr[uid] : self.tokptr[uid + 1]]

    def bm25(self, query: np.ndarray) -> np.ndarray:
        """BM25 score of every unit (zeros when no query word is known)."""
        import numpy as np

        if not len(query) or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(query.tolist()), dtype=np.float32)

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
