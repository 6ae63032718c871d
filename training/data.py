"""Sentence-level pairs from SQuAD-format data: (question, "Title: sentence") -> answers it?

An answer sentence is the sentence (qabot's own splitter) that holds an answer's
``answer_start``; the other sentences of the paragraph are negatives, and an unanswerable
question (SQuAD 2.0 ``is_impossible``) has only negatives. Titles are turned into words
the way qabot titles its documents, so training pairs look like what the reranker sees.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.sources.documents import humanise
from index.sources.splitter import split_sentences

_WORD = re.compile(r"\w+")
# A name (a run of capitalised words, "of"/"the" allowed inside) or a number of 2-4 digits.
_SPAN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:(?:of|the|de)\s+)?[A-Z][\w'’-]*)*|\b\d{2,4}\b")
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
    answer_texts: tuple[str, ...] = ()  # the answers' own text (SQuAD ``answers``)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class Pair:
    question: str
    passage: str  # "Title: sentence", as qabot embeds and reranks it
    label: float


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
                texts = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
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
                               frozenset(answers), texts if answers else ())


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


def _article_sentences(questions: Sequence[Question]) -> dict[str, list[str]]:
    """Every distinct sentence of each article (title), in order of first appearance."""
    out: dict[str, dict[str, None]] = {}
    for q in questions:
        seen = out.setdefault(q.title, {})
        for s in q.sentences:
            seen.setdefault(s, None)
    return {title: list(seen) for title, seen in out.items()}


def make_pairs(questions: Sequence[Question], *, seed: int, hard_share: float = 0.5,
               negatives: int = 1, cross: int = 0, swapped: float = 0.0) -> list[Pair]:
    """Pairs for a binary reranker: per answerable question one positive and ``negatives``
    negatives from the same paragraph (the most word-sharing one with probability
    ``hard_share``, else a random one); per unanswerable question ``negatives`` negatives,
    the first of them the most word-sharing sentence (the hardest "not in the text").

    ``cross`` more negatives per question come from the *other* paragraphs of the same
    article, drawn from its most word-sharing sentences: the same topic, the same names,
    not the answer. That is what qabot meets in one document, where every sentence is on
    the question's topic, and what a question the document does not answer looks like.
    A sentence holding any of the question's answer texts is never one of them.

    ``swapped``: that share of the answerable questions also gives a negative with a name
    or number changed (:func:`swapped_pairs`)."""
    rng = random.Random(seed)
    by_article = _article_sentences(questions) if cross else {}
    pairs: list[Pair] = []
    for q in questions:
        if q.answerable:
            pos = min(q.answers)
            pairs.append(Pair(q.question, passage(q.title, q.sentences[pos]), 1.0))
        ranked = overlap_order(q.question, q.sentences, q.answers)
        chosen: list[int] = []
        for n in range(negatives if ranked else 0):
            pool = [i for i in ranked if i not in chosen]
            if not pool:
                break
            hard = (not q.answerable and n == 0) or rng.random() < hard_share
            chosen.append(pool[0] if hard else rng.choice(pool))
        pairs.extend(Pair(q.question, passage(q.title, q.sentences[i]), 0.0) for i in chosen)
        if cross:
            own = set(q.sentences)
            others = [s for s in by_article[q.title] if s not in own
                      and not any(t and t in s for t in q.answer_texts)]
            order = overlap_order(q.question, others, ())
            pool = order[: 3 * cross]  # the most word-sharing few, one drawn at a time
            for i in rng.sample(pool, min(cross, len(pool))):
                pairs.append(Pair(q.question, passage(q.title, others[i]), 0.0))
    if swapped:
        pairs.extend(swapped_pairs(questions, rng, swapped))
    rng.shuffle(pairs)
    return pairs


def _spans(question: str) -> list[re.Match[str]]:
    """The names and numbers of a question, but its first word (capitalised anyway)."""
    return [m for m in _SPAN.finditer(question) if m.start() > 0]


def swapped_pairs(questions: Sequence[Question], rng: random.Random, share: float
                  ) -> list[Pair]:
    """Negatives that ask for a detail the sentence does not have: for a ``share`` of the
    answerable questions, a name or number that the question shares with its answer
    sentence is replaced by one from another article (a number by another number), and
    the answer sentence no longer answers it. "How long did the meeting with Merkel last?"
    is not answered by the sentence on how long the meeting with Putin lasted."""
    names: dict[str, list[str]] = {}
    for q in questions:
        names.setdefault(q.title, []).extend(
            m.group() for m in _spans(q.question) if not m.group().isdigit())
    titles = [t for t, found in names.items() if found]
    out: list[Pair] = []
    for q in questions:
        if not q.answerable or rng.random() >= share:
            continue
        sentence = q.sentences[min(q.answers)]
        shared = [m for m in _spans(q.question) if m.group() in sentence]
        others = [t for t in titles if t != q.title]
        if not shared or not others:
            continue
        m = rng.choice(shared)
        if m.group().isdigit():
            new = str(int(m.group()) + rng.choice((-9, -4, -2, 3, 6, 12)))
        else:
            new = rng.choice(names[rng.choice(others)])
        paragraph = " ".join(q.sentences)
        if new in paragraph or new in q.question:
            continue  # it could still be answered, or it would read the same
        text = q.question[: m.start()] + new + q.question[m.end():]
        out.append(Pair(text, passage(q.title, sentence), 0.0))
    return out
