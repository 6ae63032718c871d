"""Making the lexical model at a build: the units' texts tokenised and indexed by bm25s.

Only a build imports bm25s (it imports scipy.sparse, about 0.1 s of a one-shot ask's 0.6 s);
the model it makes is saved, loaded and asked with numpy alone (:mod:`index.modelling.lexical`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from index.modelling.lexical import Lexical, words_settings


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its own logger to DEBUG at import; let the root configuration decide.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


def build_lexical(texts: Sequence[str]) -> Lexical:
    """The lexical model of ``texts`` (one per unit, in id order), as bm25s makes it."""
    import numpy as np

    lexical = Lexical()
    bm25s = _bm25s()
    lexical.set_words(words_settings())
    tokens = bm25s.tokenize(list(texts), stopwords=lexical.words["stopwords"],
                            stemmer=lexical.stemmer, show_progress=False)
    lexical.vocab = tokens.vocab
    if lexical.vocab:  # else no unit has a word (only emoji, digits, stop words): empty
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        lexical.data, lexical.indices, lexical.indptr = (retriever.scores["data"],
                                                         retriever.scores["indices"],
                                                         retriever.scores["indptr"])
    lexical.size = len(texts)
    per_unit = [np.unique(np.asarray(ids, dtype=np.int64)) for ids in tokens.ids]
    lengths = np.fromiter((len(ids) for ids in per_unit), dtype=np.int64,
                          count=len(per_unit))
    lexical.tokptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    lexical.tokens = (np.concatenate(per_unit) if per_unit else np.zeros(0)).astype(np.int64)
    df = np.bincount(lexical.tokens, minlength=len(lexical.vocab) + 1).astype(np.float64)
    n = max(1, lexical.size)
    lexical.idf = np.log1p((n - df + 0.5) / (df + 0.5))
    return lexical
