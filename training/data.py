"""Sentence-level pairs from SQuAD-format data: (question, "Title: sentence") -> answers it?

An answer sentence is the sentence (qabot's own splitter) that holds an answer's
``answer_start``; the other sentences of the paragraph are negatives, and an unanswerable
question (SQuAD 2.0 ``is_impossible``) has only negatives. Titles are turned into words
the way qabot titles its documents, so training pairs look like what the reranker sees.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.sources import humanise
from index.splitter import split_sentences

_WORD = re.compile(r"\w+")
# Words too common to say anything about overlap (question words included).
_STOP = frozenset(
    "a an and are as at be by did do does for from had has have how in is it its of on or "
    "that the their there this to was were what when where which who whom whose why with "
    "would".split()
)


@dataclass(frozen=True)
class Question:
    """One question on one paragraph, its sentences, and which of them answer it."""

    qid: str
    question: str
    title: str
    sentences: tuple[str, ...]
    answers: frozenset[int]  # indices into ``sentences``; empty = unanswerable

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class Pair:
    question: str
    passage: str  # "Title: sentence", as qabot embeds and reranks it
    label: float


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_squad(path: Path) -> Iterator[Question]:
    """Every question of a SQuAD-format file (``.json`` or ``.json.gz``)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    for article in data["data"]:
        title = humanise(article["title"])
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            spans = split_sentences(context)
            sentences = tuple(context[s.start : s.end] for s in spans)
            for qa in paragraph["qas"]:
                answers: set[int] = set()
                if not qa.get("is_impossible", False):
                    for ans in qa["answers"]:
                        at = int(ans["answer_start"])
                        for i, s in enumerate(spans):
                            if s.start <= at < s.end:
                                answers.add(i)
                                break
                    if not answers:
                        continue  # the answer falls between sentences: no clean label
                yield Question(qa["id"], qa["question"].strip(), title, sentences,
                               frozenset(answers))


def passage(title: str, sentence: str) -> str:
    return f"{title}: {sentence}" if title else sentence


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def overlap_order(question: str, sentences: Sequence[str], exclude: Iterable[int]) -> list[int]:
    """Sentence indices (not in ``exclude``) by how many question terms they share, most first."""
    terms = _terms(question)
    skip = set(exclude)
    scored = [(-len(terms & _terms(s)), i) for i, s in enumerate(sentences) if i not in skip]
    return [i for _, i in sorted(scored)]


def make_pairs(questions: Sequence[Question], *, seed: int, hard_share: float = 0.5,
               negatives: int = 1) -> list[Pair]:
    """Pairs for a binary reranker: per answerable question one positive and ``negatives``
    negatives from the same paragraph (the most word-sharing one with probability
    ``hard_share``, else a random one); per unanswerable question ``negatives`` negatives,
    the first of them the most word-sharing sentence (the hardest "not in the text")."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for q in questions:
        if q.answerable:
            pos = min(q.answers)
            pairs.append(Pair(q.question, passage(q.title, q.sentences[pos]), 1.0))
        ranked = overlap_order(q.question, q.sentences, q.answers)
        if not ranked:
            continue
        chosen: list[int] = []
        for n in range(negatives):
            pool = [i for i in ranked if i not in chosen]
            if not pool:
                break
            hard = (not q.answerable and n == 0) or rng.random() < hard_share
            chosen.append(pool[0] if hard else rng.choice(pool))
        pairs.extend(Pair(q.question, passage(q.title, q.sentences[i]), 0.0) for i in chosen)
    rng.shuffle(pairs)
    return pairs
