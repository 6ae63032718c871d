"""Evaluation: answer-sentence selection and answer triggering on a question set.

A question set is JSONL: ``{"question": str, "doc": str (optional), "gold": [str, ...]}``.
A gold entry that equals a unit id matches that unit; any other entry matches every unit
whose text contains it (a substring of the gold sentence). An empty ``gold`` list means the
corpus does not answer the question, and qabot should decline.

A line with ``"conversation": str`` is a turn of that conversation (``"kind"``: opening,
followup or switch), asked of the whole index after the earlier lines of the same
conversation (see :func:`run_conversations`).

The Discord bot's vote file is a question set too: its lines are votes, ``{"question",
"doc", "vote": "up"|"down", "passage": unit id, "user", ...}`` (see :func:`read_votes`),
and a file may mix votes with questions.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.errors import DataError
from index.json_input import parse as parse_json
from index.sources.lines import file_lines
from index.wording import plural

if TYPE_CHECKING:
    from index.answering.engine import Engine
    from index.answering.search import Answer
    from index.sources.documents import Unit
    from index.storage.loading import IndexData

log = logging.getLogger(__name__)

RANK_DEPTH = 50
KINDS = ("", "answerable", "close", "offtopic")
TURNS = ("opening", "followup", "switch")  # the kinds of a conversation's turns
VOTES = ("up", "down")


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    doc: str | None
    gold: tuple[str, ...]
    kind: str = ""  # "answerable", "close" (on topic, unanswered) or "offtopic"; "" = by gold
    conversation: str | None = None  # the conversation whose turn it is (asked in file order)
    turn: str = ""  # in a conversation: "opening", "followup" or "switch"


@dataclass(frozen=True)
class Outcome:
    """What the system did for one question: relevance of its ranking and its confidence."""

    relevant: tuple[bool, ...]  # relevance of each ranked unit, best first
    total_relevant: int  # how many units in the corpus match the gold
    confidence: float
    answerable: bool
    verdict: str = "unknown"  # "answer", "likely" or "unknown"
    kind: str = ""  # "answerable", "close" or "offtopic"
    phrase: str | None = None  # the phrase qabot answered with, if any

    @property
    def right_first(self) -> bool:
        return self.answerable and self.relevant[:1] == (True,)


@dataclass
class Metrics:
    questions: int
    answerable: int
    unanswerable: int
    hit_at_1: float
    hit_at_3: float
    mrr: float
    map: float
    answered_share: float  # of answerable questions, share answered
    declined_share: float  # of unanswerable questions, share declined
    precision: float  # answer triggering
    recall: float
    f1: float
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def read_questions(path: Path, notify: Callable[[str], None] | None = None
                   ) -> list[EvalQuestion]:
    """Read a JSONL question set (or vote file); a bad line is a DataError naming file and line.

    Lines with a ``"vote"`` are votes, turned into questions by :func:`read_votes`. A file
    that holds votes is the bot's, appended to for months: a damaged line in it (a half
    line a full disk left, a byte gone) is skipped, and how many were is said through
    ``notify`` (default: the log, at WARNING), rather than losing every good vote to it.
    """
    out: list[EvalQuestion] = []
    votes: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str]] = []
    for n, chunk in enumerate(file_lines(path), start=1):
        if not chunk.strip():
            continue
        try:
            line = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append((n, f"not UTF-8 text (byte 0x{chunk[exc.start]:02x})"))
            continue
        item: EvalQuestion | dict[str, Any] | None
        try:
            item = _read_line(line)
        except DataError as exc:
            bad.append((n, str(exc)))
            item = _glued_tail(line)
        if item is None:
            continue
        if isinstance(item, EvalQuestion):
            out.append(item)
        else:
            votes.append((n, item))
    if bad and not votes:
        n, why = bad[0]
        raise DataError(f"{path}:{n}: {why}")
    if bad:
        n, why = bad[0]
        (notify or log.warning)(f"{path}: skipped {plural(len(bad), 'damaged line')} (line "
                                f"{n}: {why}); read {plural(len(votes), 'vote')}")
    skipped = 0
    if votes:
        voted, skipped = read_votes(votes, path)
        out += voted
    if not out:
        why = (f" ({plural(skipped, 'voted question')} left out: no "
               "passage with more 👍 than 👎, or the question was cut)" if skipped else "")
        raise DataError(f"{path}: no questions{why}")
    return out


def _glued_tail(line: str) -> EvalQuestion | dict[str, Any] | None:
    """The whole record at the end of a damaged line, if any: an older qabot appended the
    next vote to the half line a full disk left (each record starts ``{"question":``)."""
    start = line.rfind('{"question":')
    if start <= 0:
        return None
    try:
        return _read_line(line[start:])
    except DataError:
        return None


def _read_line(line: str) -> EvalQuestion | dict[str, Any]:
    """One line of a question set: a question, or a vote (checked); DataError says why not."""
    try:
        obj = parse_json(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
        raise DataError('expected {"question": str, "gold": [str, ...]}')
    doc = obj.get("doc")
    if doc is not None and not isinstance(doc, str):
        raise DataError('"doc" must be a string')
    if "vote" in obj:
        if obj["vote"] not in VOTES:
            raise DataError('"vote" must be "up" or "down"')
        passage = obj.get("passage")
        if not isinstance(passage, str) or not passage:
            raise DataError('"passage" must be a unit id')
        user = obj.get("user")  # a key of the voters' votes: a list or an object is none
        if user is not None and (isinstance(user, bool) or not isinstance(user, int | str)):
            raise DataError('"user" must be a user id (a number or a string)')
        return obj
    gold = obj.get("gold", [])
    if not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
        raise DataError('"gold" must be a list of strings')
    conversation, turn = obj.get("conversation"), ""
    if conversation is not None and not isinstance(conversation, str):
        raise DataError('"conversation" must be a string')
    kind = obj.get("kind", "")
    if conversation is not None and kind in TURNS:
        kind, turn = "", kind
    if conversation is not None:
        # A conversation is asked of the whole index, as people ask; its "doc" says which
        # file holds the answer, and filters nothing.
        doc = None
    if kind not in KINDS:
        raise DataError(f'"kind" must be one of {", ".join(KINDS[1:])}')
    if kind and (kind == "answerable") != bool(gold):
        raise DataError(f'"kind" {kind!r} does not fit its gold')
    return EvalQuestion(obj["question"], doc, tuple(gold), kind, conversation, turn)


def read_votes(votes: Sequence[tuple[int, dict[str, Any]]], path: Path
               ) -> tuple[list[EvalQuestion], int]:
    """Turn vote lines into questions; return them and how many voted questions were left out.

    Each voter's last vote on a (question, doc, passage) counts. A passage is gold when more
    voters gave it 👍 than 👎. A passage with more 👎 is known to be wrong, which the metrics
    have no use for: a question whose passages are all 👎 (or tied) is left out, not counted
    as unanswerable, because a 👎 says the passage shown does not answer, not that the
    documents don't. Votes on a question longer than the answer's title (``question_cut``)
    are left out too: the title holds only the start of the question.
    """
    latest: dict[tuple[str, str | None, str], dict[Any, str]] = {}
    cut: set[tuple[str, str | None]] = set()
    for n, obj in votes:
        vote, passage = obj.get("vote"), obj.get("passage")
        if vote not in VOTES:
            raise DataError(f'{path}:{n}: "vote" must be "up" or "down"')
        if not isinstance(passage, str) or not passage:
            raise DataError(f'{path}:{n}: "passage" must be a unit id')
        key = (obj["question"], obj.get("doc"))
        if obj.get("question_cut"):
            cut.add(key)
            continue
        voter = obj.get("user", f"line {n}")  # a vote without a voter counts on its own
        latest.setdefault((*key, passage), {})[voter] = vote
    gold: dict[tuple[str, str | None], list[str]] = {}
    for (question, doc, passage), by_voter in latest.items():
        ups = sum(v == "up" for v in by_voter.values())
        entry = gold.setdefault((question, doc), [])
        if ups > len(by_voter) - ups:
            entry.append(passage)
    out = [EvalQuestion(q, doc, tuple(ids)) for (q, doc), ids in gold.items() if ids]
    skipped = len(gold) - len(out) + len(cut - gold.keys())
    if skipped:
        log.info("%s: %s left out: no passage with a 👍 majority, or the question was cut",
                 path, plural(skipped, "voted question"))
    return out, skipped


def wikiqa_to_jsonl(tsv: Path, out_dir: Path) -> tuple[Path, Path]:
    """Turn a WikiQA TSV into a units corpus and a question set (each question to its doc).

    Returns (corpus.jsonl, questions.jsonl) written in ``out_dir``.
    """
    try:
        with tsv.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{tsv}: cannot read ({exc})") from None
    need = {"QuestionID", "Question", "DocumentID", "DocumentTitle", "SentenceID", "Sentence",
            "Label"}
    if not rows or not need <= set(rows[0]):
        raise DataError(f"{tsv}: not a WikiQA TSV (columns {', '.join(sorted(need))})")
    units: dict[str, dict[str, str]] = {}
    questions: dict[str, dict[str, Any]] = {}
    for row in rows:
        units.setdefault(row["SentenceID"], {"id": row["SentenceID"], "doc": row["DocumentID"],
                                             "text": row["Sentence"],
                                             "title": row["DocumentTitle"]})
        q = questions.setdefault(row["QuestionID"], {"question": row["Question"],
                                                      "doc": row["DocumentID"], "gold": []})
        if row["Label"].strip() == "1":
            q["gold"].append(row["SentenceID"])
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus, qfile = out_dir / "corpus.jsonl", out_dir / "questions.jsonl"
    # Units of a document must be contiguous and in order; WikiQA lists them so per doc.
    by_doc: dict[str, list[dict[str, str]]] = {}
    for unit in units.values():
        by_doc.setdefault(unit["doc"], []).append(unit)
    with corpus.open("w", encoding="utf-8") as fh:
        for doc_units in by_doc.values():
            for unit in doc_units:
                fh.write(json.dumps(unit, ensure_ascii=False) + "\n")
    with qfile.open("w", encoding="utf-8") as fh:
        for q in questions.values():
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
    return corpus, qfile


def _matches(gold: Sequence[str], unit_id: str, text: str, ids: set[str]) -> bool:
    return any(g == unit_id if g in ids else g in text for g in gold)


def _pool(data: IndexData, q: EvalQuestion) -> Sequence[Unit]:
    """The units ``q`` is asked of: its document's, or the whole index's."""
    if not q.doc:
        return data.units
    info = data.docs[q.doc]
    return data.units[info.start : info.start + info.count]


def gold_in_index(data: IndexData, q: EvalQuestion, ids: set[str]) -> int:
    """How many units of the index (of the question's document) match ``q``'s gold."""
    return sum(_matches(q.gold, u.id, u.text, ids) for u in _pool(data, q)) if q.gold else 0


def missing_gold(data: IndexData, questions: Sequence[EvalQuestion]) -> list[EvalQuestion]:
    """The questions with a gold answer that no unit of the index matches.

    Such a question measures nothing (the metrics leave it out): many of them mean that the
    question set was written for other documents than the index holds.
    """
    ids = {u.id for u in data.units}
    return [q for q in questions if q.gold and not gold_in_index(data, q, ids)]


def _depth(engine: Engine) -> int:
    """How deep a question is ranked, as the product ranks it: the reranker's depth when
    one is on (what it does not rerank, it does not rank), else RANK_DEPTH."""
    return engine.settings.rerank_depth if engine.reranker is not None else RANK_DEPTH


def run(engine: Engine, questions: Sequence[EvalQuestion]) -> list[Outcome]:
    """Ask every question (each alone) and judge the rankings against the gold."""
    depth = _depth(engine)
    answers: list[Answer] = []
    for start in range(0, len(questions), 256):
        chunk = questions[start : start + 256]
        answers += engine.ask_many([(q.question, q.doc) for q in chunk], top_k=depth)
    return judge(engine, questions, answers)


def run_conversations(engine: Engine, questions: Sequence[EvalQuestion]
                      ) -> tuple[list[Outcome], list[Answer]]:
    """Ask the questions in file order, those with the same ``conversation`` as turns of
    one conversation (the others alone); judge them and return the answers too."""
    from index.answering.conversation import Conversation

    depth = _depth(engine)
    conversations: dict[str, Conversation] = {}
    answers = []
    for q in questions:
        conversation = (conversations.setdefault(q.conversation, Conversation())
                        if q.conversation is not None else None)
        answers.append(engine.ask(q.question, doc=q.doc, top_k=depth,
                                  conversation=conversation))
    return judge(engine, questions, answers), answers


def judge(engine: Engine, questions: Sequence[EvalQuestion], answers: Sequence[Answer]
          ) -> list[Outcome]:
    """Judge each question's answer against its gold."""
    data = engine.data
    ids = {u.id for u in data.units}
    outcomes = []
    for q, answer in zip(questions, answers, strict=True):
        total = gold_in_index(data, q, ids)
        relevant = tuple(_matches(q.gold, p.unit.id, p.unit.text, ids) for p in answer.passages)
        kind = q.kind or ("answerable" if q.gold else "unanswerable")
        phrase = (answer.phrase.text(answer.passages[0].unit.text)
                  if answer.phrase is not None and answer.passages else None)
        outcomes.append(Outcome(relevant, total, answer.confidence, bool(q.gold),
                                answer.verdict, kind, phrase))
    return outcomes


def metrics(outcomes: Sequence[Outcome], threshold: float) -> Metrics:
    """Compute the metrics, deciding ``answered`` as confidence >= threshold."""
    answerable = [o for o in outcomes if o.answerable and o.total_relevant > 0]
    unanswerable = [o for o in outcomes if not o.answerable]
    hit1 = hit3 = rr = ap_sum = 0.0
    for o in answerable:
        ranks = [i for i, r in enumerate(o.relevant) if r]
        if ranks:
            hit1 += ranks[0] == 0
            hit3 += ranks[0] < 3
            rr += 1.0 / (ranks[0] + 1)
            ap_sum += sum((n + 1) / (r + 1) for n, r in enumerate(ranks)) / o.total_relevant
    answered = [o for o in outcomes if o.confidence >= threshold]
    correct = sum(1 for o in answered if o.relevant[:1] == (True,))
    precision = correct / len(answered) if answered else 0.0
    recall = correct / len(answerable) if answerable else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(answerable) or 1
    return Metrics(
        questions=len(outcomes), answerable=len(answerable), unanswerable=len(unanswerable),
        hit_at_1=hit1 / n, hit_at_3=hit3 / n, mrr=rr / n, map=ap_sum / n,
        answered_share=sum(o.confidence >= threshold for o in answerable) / n,
        declined_share=(sum(o.confidence < threshold for o in unanswerable) / len(unanswerable)
                        if unanswerable else math.nan),
        precision=precision, recall=recall, f1=f1, threshold=threshold)


def sweep(outcomes: Sequence[Outcome], thresholds: Iterable[float]) -> list[Metrics]:
    """Metrics at each threshold, for calibrating ``QABOT_ANSWER_THRESHOLD``."""
    return [metrics(outcomes, t) for t in thresholds]


def format_table(rows: Sequence[Metrics]) -> str:
    """A plain-text table of metrics, one row per threshold."""
    head = (f"{'threshold':>9} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {'MAP':>6} "
            f"{'answered':>8} {'declined':>8} {'P':>6} {'R':>6} {'F1':>6}")
    lines = [head]
    for m in rows:
        lines.append(f"{m.threshold:>9.3f} {m.hit_at_1:>6.3f} {m.hit_at_3:>6.3f} {m.mrr:>6.3f} "
                     f"{m.map:>6.3f} {m.answered_share:>8.3f} {m.declined_share:>8.3f} "
                     f"{m.precision:>6.3f} {m.recall:>6.3f} {m.f1:>6.3f}")
    return "\n".join(lines)


def verdict_counts(outcomes: Sequence[Outcome]) -> dict[str, dict[str, float]]:
    """The verdicts by kind of question: how many got each, and for the answerable ones how
    many were right first, helpful (right first and ``answer`` or ``likely``) and
    confidently wrong (``answer`` with a wrong first passage; for a question the corpus does
    not answer, any ``answer``). ``all`` sums every kind; ``auc`` is the chance that a right
    first answer's confidence is above an unanswerable on-topic question's (close-topic, or
    all unanswerable when no kinds are given), when both occur."""
    out: dict[str, dict[str, float]] = {}
    for o in outcomes:
        for key in ("all", o.kind):
            row = out.setdefault(key, {"questions": 0, "answer": 0, "likely": 0,
                                       "unknown": 0, "confidently_wrong": 0})
            row["questions"] += 1
            row[o.verdict] += 1
            row["confidently_wrong"] += o.verdict == "answer" and not o.right_first
            if o.answerable:
                row["right_first"] = row.get("right_first", 0) + o.right_first
                row["helpful"] = row.get("helpful", 0) + (o.right_first
                                                          and o.verdict != "unknown")
    right = [o.confidence for o in outcomes if o.right_first]
    close_kind = "close" if "close" in out else "unanswerable"
    wrong = [o.confidence for o in outcomes if o.kind == close_kind]
    if right and wrong:
        wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
        out["all"]["auc"] = round(wins / (len(right) * len(wrong)), 4)
    return out


def format_verdicts(counts: dict[str, dict[str, float]]) -> str:
    """The verdict counts as text, a line per kind of question."""
    lines = []
    for kind in ("all", "answerable", "close", "offtopic", "unanswerable"):
        row = counts.get(kind)
        if row is None:
            continue
        extra = ""
        if "right_first" in row:
            extra = f", right first {row['right_first']}, helpful {row['helpful']}"
        lines.append(f"{kind:>12} {row['questions']:>4}: answer {row['answer']} "
                     f"({row['confidently_wrong']} confidently wrong), likely {row['likely']}, "
                     f"unknown {row['unknown']}{extra}")
    if "auc" in counts.get("all", {}):
        lines.append(f"confidence AUC, right first answers against unanswerable on-topic "
                     f"questions: {counts['all']['auc']:.3f}")
    return "\n".join(lines)


def conversation_counts(questions: Sequence[EvalQuestion], in_conversation: Sequence[Outcome],
                        alone: Sequence[Outcome], answers: Sequence[Answer]
                        ) -> dict[str, dict[str, int]]:
    """By kind of turn (opening, followup, switch): how many were asked, answerable, right
    first and helpful (right first and ``answer`` or ``likely``), in their conversation and
    asked alone; how many unanswerable got ``answer`` (and ``likely``); how many were asked
    with an earlier question (``followed``)."""
    out: dict[str, dict[str, int]] = {}
    for q, conv, solo, answer in zip(questions, in_conversation, alone, answers, strict=True):
        if q.conversation is None:
            continue
        row = out.setdefault(q.turn or "turn", {
            "questions": 0, "answerable": 0, "right_first": 0, "helpful": 0,
            "right_first_alone": 0, "helpful_alone": 0, "unanswerable": 0,
            "unanswerable_answer": 0, "unanswerable_likely": 0,
            "unanswerable_answer_alone": 0, "followed": 0})
        row["questions"] += 1
        row["followed"] += answer.follows is not None
        if conv.answerable:
            row["answerable"] += 1
            row["right_first"] += conv.right_first
            row["helpful"] += conv.right_first and conv.verdict != "unknown"
            row["right_first_alone"] += solo.right_first
            row["helpful_alone"] += solo.right_first and solo.verdict != "unknown"
        else:
            row["unanswerable"] += 1
            row["unanswerable_answer"] += conv.verdict == "answer"
            row["unanswerable_likely"] += conv.verdict == "likely"
            row["unanswerable_answer_alone"] += solo.verdict == "answer"
    return out


def format_conversations(counts: dict[str, dict[str, int]]) -> str:
    """The conversation counts as text, a line per kind of turn, against asked alone."""
    lines = []
    for kind in (*TURNS, "turn"):
        row = counts.get(kind)
        if row is None:
            continue
        line = (f"{kind:>9} {row['questions']:>4}: asked with an earlier question "
                f"{row['followed']}; right first {row['right_first']} of {row['answerable']} "
                f"(alone {row['right_first_alone']}), helpful {row['helpful']} "
                f"(alone {row['helpful_alone']})")
        if row["unanswerable"]:
            line += (f"; unanswerable {row['unanswerable']}: answer "
                     f"{row['unanswerable_answer']} (alone {row['unanswerable_answer_alone']}),"
                     f" likely {row['unanswerable_likely']}")
        lines.append(line)
    return "\n".join(lines)
