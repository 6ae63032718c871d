"""Questions from ``../shared/data/qa-train-large``: every file read into :class:`Question`
through qabot's own splitter, so a training sentence is what the index calls a unit.

The label is the sentence holding the answer. Answers whose ``answer_start`` is -1 are
dropped; an answer marked ``answer_start_ambiguous`` is kept only where every occurrence of
its text in the paragraph lies in one sentence. SQuAD 1.0 train is deduplicated against
``qa-train`` by article title (those articles were read already), and the validation set
(SQuAD 1.1 dev, 46 articles) leaves out the paragraphs XQuAD shares with it, since XQuAD
English is in ``qa-train``.

The files and their roles (``TRAIN_FILES``, ``VALID_FILES``):

- training: SQuAD 1.0 train, SQuAD-shifts new Wikipedia, QED / Natural Questions train
  (real search queries), SelQA test (paraphrased questions), COVID-QA;
- validation, for choosing checkpoints only: SQuAD 1.1 dev (46 articles), QED dev and SelQA
  dev.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from index.sources.documents import humanise
from index.sources.splitter import Span, split_sentences
from training.data import Question

DEFAULT_LARGE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "qa-train-large"
QA_TRAIN_SQUAD = ("squad2-train-subset.json.gz", "squad11-train-subset.json.gz")
XQUAD = "xquad-en.json.gz"


def _load(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            return [json.loads(line) for line in fh if line.strip()]
        return json.load(fh)


def _sentence_of(spans: Sequence[Span], at: int) -> int | None:
    for i, s in enumerate(spans):
        if s.start <= at < s.end:
            return i
    return None


def _occurrences(context: str, text: str) -> list[int]:
    out: list[int] = []
    at = context.find(text)
    while at >= 0 and text:
        out.append(at)
        at = context.find(text, at + 1)
    return out


def answer_sentences(context: str, spans: Sequence[Span], answers: Iterable[dict[str, Any]],
                     ambiguous: bool) -> set[int]:
    """The sentences holding the answers: an answer at -1 is dropped, and an ambiguous one
    (its text more than once in the paragraph) counts only if every occurrence lies in one
    sentence."""
    found: set[int] = set()
    for ans in answers:
        start = int(ans.get("answer_start", -1))
        if start < 0:
            continue
        if ambiguous:
            where = {_sentence_of(spans, at) for at in _occurrences(context, ans["text"])}
            if len(where) != 1 or None in where:
                continue
        i = _sentence_of(spans, start)
        if i is not None:
            found.add(i)
    return found


def read_squad_like(path: Path, *, skip_titles: frozenset[str] = frozenset(),
                    skip_contexts: frozenset[str] = frozenset(), prefix: str = ""
                    ) -> Iterator[Question]:
    """Every answerable question of a SQuAD-format file with a clean sentence label.

    An article without a title (COVID-QA) is titled by its context's first line."""
    for article in _load(path)["data"]:
        raw_title = article.get("title")
        if raw_title in skip_titles:
            continue
        for p_no, paragraph in enumerate(article["paragraphs"]):
            context = paragraph["context"]
            if context in skip_contexts:
                continue
            title = humanise(raw_title or context.strip().split("\n", 1)[0][:120])
            spans = split_sentences(context)
            sentences = tuple(context[s.start : s.end] for s in spans)
            for qa in paragraph["qas"]:
                if qa.get("is_impossible", False):
                    continue
                answers = answer_sentences(context, spans, qa.get("answers", []),
                                           bool(qa.get("answer_start_ambiguous", False)))
                if not answers:
                    continue
                texts = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                yield Question(f"{prefix}{qa['id']}:{p_no}", qa["question"].strip(), title,
                               sentences, frozenset(answers), texts)


def read_qed(path: Path) -> Iterator[Question]:
    """QED / Natural Questions: a search query, its Wikipedia passage and the answer span.
    In training, only "single_sentence" examples (the others are mostly tables and lists);
    the dev file carries the Natural Questions annotators' answers instead."""
    for ex in _load(path):
        if "answer_type" in ex:  # train: the span QED's annotators chose
            if ex["answer_type"] != "single_sentence":
                continue
            starts = [int(start) for start, _ in ex.get("answer_spans", [])]
            texts = tuple(ex.get("answer_text", ()))
        else:  # dev: every Natural Questions annotator's short answer
            found = [a for group in ex.get("original_nq_answers", []) for a in group]
            starts = [int(a["start"]) for a in found]
            texts = tuple(dict.fromkeys(str(a.get("string", "")) for a in found
                                        if a.get("string")))
        context = ex["paragraph_text"]
        spans = split_sentences(context)
        answers = {i for start in starts if (i := _sentence_of(spans, start)) is not None}
        if not answers:
            continue
        question = ex["question_text"].strip()
        question = question[:1].upper() + question[1:] + ("" if question.endswith("?") else "?")
        yield Question(f"qed:{ex['example_id']}", question, humanise(ex["title_text"]),
                       tuple(context[s.start : s.end] for s in spans), frozenset(answers),
                       texts)


def read_selqa(path: Path) -> Iterator[Question]:
    """SelQA: a section's candidate sentences and the indexes of the answering ones, joined
    and split again by qabot's splitter; a unit answers if it overlaps an answering
    candidate."""
    for n, ex in enumerate(_load(path)):
        if not ex.get("answers"):
            continue
        context, ranges = "", []
        for cand in ex["candidates"]:
            if context:
                context += " "
            ranges.append((len(context), len(context) + len(cand)))
            context += cand
        spans = split_sentences(context)
        gold = [ranges[i] for i in ex["answers"] if 0 <= i < len(ranges)]
        answers = {i for i, s in enumerate(spans)
                   if any(s.start < end and start < s.end for start, end in gold)}
        if not answers:
            continue
        yield Question(f"selqa:{path.name}:{n}", ex["question"].strip(),
                       humanise(ex["article"]), tuple(context[s.start : s.end] for s in spans),
                       frozenset(answers), ())


def qa_train_titles(qa_train: Path) -> frozenset[str]:
    """The SQuAD article titles ``qa-train`` already holds."""
    titles: set[str] = set()
    for name in QA_TRAIN_SQUAD:
        titles.update(a["title"] for a in _load(qa_train / name)["data"])
    return frozenset(titles)


def xquad_contexts(qa_train: Path) -> frozenset[str]:
    return frozenset(p["context"] for a in _load(qa_train / XQUAD)["data"]
                     for p in a["paragraphs"])


TRAIN_FILES = {"squad10-train": "squad10-train.json.gz",
               "squadshifts-new-wiki": "squadshifts-new-wiki.json.gz",
               "qed-nq-train": "qed-nq-train.jsonl.gz", "selqa-test": "selqa-test.json.gz",
               "covidqa": "covidqa-200423.json.gz"}
VALID_FILES = {"squad11-dev-46": "squad11-dev-46.json.gz", "qed-nq-dev": "qed-nq-dev.jsonl.gz",
               "selqa-dev": "selqa-dev.json.gz"}


def training_sources(large: Path, qa_train: Path) -> dict[str, Iterator[Question]]:
    """The training files, each read lazily, by name."""
    f = {name: large / file for name, file in TRAIN_FILES.items()}
    return {
        "squad10-train": read_squad_like(f["squad10-train"],
                                         skip_titles=qa_train_titles(qa_train)),
        "squadshifts-new-wiki": read_squad_like(f["squadshifts-new-wiki"], prefix="shifts:"),
        "qed-nq-train": read_qed(f["qed-nq-train"]),
        "selqa-test": read_selqa(f["selqa-test"]),
        "covidqa": read_squad_like(f["covidqa"], prefix="covid:"),
    }


def validation_sets(large: Path, qa_train: Path) -> dict[str, list[Question]]:
    """The validation questions by set: SQuAD 1.1 dev less XQuAD's paragraphs, QED dev,
    SelQA dev."""
    return {
        "squad11-dev-46": list(read_squad_like(large / VALID_FILES["squad11-dev-46"],
                                               skip_contexts=xquad_contexts(qa_train))),
        "qed-nq-dev": list(read_qed(large / VALID_FILES["qed-nq-dev"])),
        "selqa-dev": list(read_selqa(large / VALID_FILES["selqa-dev"])),
    }


def training_order(sources: dict[str, Iterator[Question]], *, seed: int,
                   caps: dict[str, int] | None = None) -> list[Question]:
    """Every training question in one fixed, seeded order, the sources interleaved so that
    each chunk of it holds every source in proportion; ``caps`` limits a source's count
    (a seeded sample of it)."""
    rng = random.Random(seed)
    out: list[Question] = []
    for name in sorted(sources):
        qs = list(sources[name])
        rng.shuffle(qs)
        cap = (caps or {}).get(name)
        out.extend(qs[:cap] if cap is not None else qs)
    rng.shuffle(out)
    return out


def source_of(q: Question) -> str:
    """The training source a question came from, by its id's prefix."""
    for prefix, name in (("shifts:", "squadshifts-new-wiki"), ("qed:", "qed-nq-train"),
                         ("selqa:", "selqa-test"), ("covid:", "covidqa")):
        if q.qid.startswith(prefix):
            return name
    return "squad10-train"


def _to_json(q: Question) -> dict[str, Any]:
    return {"qid": q.qid, "question": q.question, "title": q.title,
            "sentences": list(q.sentences), "answers": sorted(q.answers),
            "answer_texts": list(q.answer_texts)}


def _from_json(d: dict[str, Any]) -> Question:
    return Question(d["qid"], d["question"], d["title"], tuple(d["sentences"]),
                    frozenset(d["answers"]), tuple(d["answer_texts"]))


def write_questions(path: Path, questions: Iterable[Question]) -> int:
    """Questions as JSON lines, written aside and renamed into place; the count written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(path.name + ".part")
    n = 0
    with gzip.open(aside, "wt", encoding="utf-8") as fh:
        for q in questions:
            fh.write(json.dumps(_to_json(q), ensure_ascii=False) + "\n")
            n += 1
    aside.replace(path)
    return n


def read_questions(path: Path) -> list[Question]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [_from_json(json.loads(line)) for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    """Read every file once and write the training order and the validation sets."""
    import argparse
    import logging

    from index.files import sha256_file

    p = argparse.ArgumentParser(prog="python -m training.large", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--large", type=Path, default=DEFAULT_LARGE, help="the qa-train-large folder")
    p.add_argument("--qa-train", type=Path, default=DEFAULT_LARGE.parent / "qa-train")
    p.add_argument("--seed", type=int, default=29)
    p.add_argument("--cap", action="append", default=[], metavar="SOURCE=N",
                   help="take at most N questions of a source (a seeded sample), so the "
                   "varied sets weigh more against SQuAD; repeatable")
    p.add_argument("--out", type=Path, required=True, help="folder for the question files")
    args = p.parse_args(argv)
    caps: dict[str, int] = {}
    for item in args.cap:
        name, _, count = item.partition("=")
        if name not in TRAIN_FILES or not count.isdigit():
            p.error(f"--cap {item!r}: expected SOURCE=N with SOURCE one of "
                    + ", ".join(TRAIN_FILES))
        caps[name] = int(count)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("training.large")
    order = training_order(training_sources(args.large, args.qa_train), seed=args.seed,
                           caps=caps)
    n = write_questions(args.out / "train.jsonl.gz", order)
    log.info("%d training questions in order (seed %d)", n, args.seed)
    for name, qs in validation_sets(args.large, args.qa_train).items():
        write_questions(args.out / f"valid-{name}.jsonl.gz", qs)
        log.info("%d validation questions in %s", len(qs), name)
    files = {name: sha256_file(args.large / f, follow_links=True)
             for name, f in {**TRAIN_FILES, **VALID_FILES}.items()}
    counts: dict[str, int] = {}
    for q in order:
        counts[source_of(q)] = counts.get(source_of(q), 0) + 1
    meta = {"seed": args.seed, "caps": caps, "train_questions": n, "by_source": counts,
            "files": files}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
