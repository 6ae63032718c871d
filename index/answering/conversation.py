"""Conversations: the recent turns of one asker in one place, and follow-up questions.

A follow-up leans on an earlier turn ("How long did it last?", "Why?", "And Putin?"). It is
searched for joined with the question it follows (:data:`CONTEXT_QUESTIONS`: the question
and the one before it), so that retrieval, the reranker and the answer cues read what "it"
is; the answer says which question it followed (``Answer.follows``). Whether a question
leans on the one before is read from its words (:func:`looks_dependent`: a pronoun, a
demonstrative standing for something said, a leading "and"/"so"/"then", a question of one
to three words). A pronoun that follows, in the same question, something it can stand for
("What did Trump say when he was in Poland?", "What did the two leaders do after their
meeting?") does not lean on an earlier turn: whether a word is a name is read from how the
indexed text writes it (:func:`written_as_name`). A question that does not lean on the one
before is asked alone: it changes the subject, or says all it means. When the follow-up's
best passage is the one the earlier question was given, its verdict is at most ``likely``:
the earlier question's words may have found it again.

The choices were measured on the development part of ``tests/data/conversations.jsonl``
only (docs/quality.md, "Conversations"): with the two questions before it rather than one,
right first 15 of 28 answerable follow-ups against 17, at +34 ms against +22 ms a follow-up.

Nothing here is written to disk; a conversation is bounded (:data:`MAX_TURNS`), and
:class:`Conversations` bounds how many are kept.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from index.answering.search import normalise_question

if TYPE_CHECKING:
    from index.answering.search import Answer, Verdict

MAX_TURNS = 8  # turns a conversation keeps; only the last is read, the rest for display
CONTEXT_QUESTIONS = 2  # questions a follow-up is searched with, itself included
CONTEXT_CHARS = 600  # and at most this many characters of them

# Words that point back at something said before: personal and possessive pronouns,
# "there", and words that need an antecedent ("instead", "else").
_BACK = re.compile(
    r"\b(?:it|its|itself|he|him|his|himself|she|her|hers|herself|they|them|their|theirs|"
    r"themselves|there|instead|else|either)\b", re.I)
# "that" and "this" point back at the start of a question, at its end, or after a closed-
# class word ("was that longer", "for that", "about this option"); after any other word they
# open a clause ("a version that already exists") and do not.
_FUNCTION = (r"(?:is|was|are|were|be|been|did|do|does|has|have|had|can|could|will|would|"
             r"should|for|about|with|of|in|on|to|from|after|before|like|at|by|than|and|but|"
             r"so|or|then)")
_DEMONSTRATIVE = re.compile(
    rf"(?:^|\b{_FUNCTION}\s+)(?:that|this|these|those)\b|\b(?:that|this)\s*[?.!]*\s*$",
    re.I)
_LEADING = re.compile(r"^\s*(?:and|but|so|then|also|what about|how about)\b", re.I)
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
SHORT = 3  # a question of at most this many words leans on the one before ("Why?", "When?")


# Pronouns that can stand for a name said earlier in the same question ("What did Trump say
# when he was in Poland?"), and those that can stand for a plural said there ("the two
# leaders ... their meeting") or for two names. Object pronouns ("him", "them") do not: in
# "Did Trump believe him?" "him" is somebody else.
_PERSON = frozenset({"he", "she", "his", "hers"})
_GROUP = frozenset({"they", "their", "theirs"})
_PLURAL = re.compile(r"\b(?:the|two|both|these|those)\s+[^\W\d_]{3,}s\b", re.I)
_POSSESSIVE = re.compile(r"['’]s$", re.I)


def looks_dependent(question: str, is_name: Callable[[str], bool] | None = None) -> bool:
    """True when the question reads as leaning on an earlier turn: a pronoun pointing back
    ("it", "his", "there"), a demonstrative standing for something said ("was that longer",
    "buy that?"), a leading "and"/"so"/"then" ("And Putin?"), or a question of at most
    three words ("Why?").

    A personal pronoun after something it can stand for in the same question does not point
    back: "he"/"she"/"his" after a name, "they"/"their" after a plural ("the two leaders")
    or two names. ``is_name`` tells names (None: only the plurals are known)."""
    if (len(_WORDS.findall(question)) <= SHORT or _LEADING.search(question)
            or _DEMONSTRATIVE.search(question)):
        return True
    return any(not _stands_for_earlier_words(question, found, is_name)
               for found in _BACK.finditer(question))


def _stands_for_earlier_words(question: str, pronoun: re.Match[str],
                              is_name: Callable[[str], bool] | None) -> bool:
    """True when ``pronoun`` can stand for words before it in ``question``."""
    word, before = pronoun.group(0).lower(), question[: pronoun.start()]
    if word in _GROUP and _PLURAL.search(before):
        return True
    if is_name is None or word not in _PERSON | _GROUP:
        return False
    names = sum(1 for w in _WORDS.findall(before) if is_name(_POSSESSIVE.sub("", w).lower()))
    return names >= (1 if word in _PERSON else 2)


NAME_SAMPLE = 50  # units read to tell whether a word is a name
# What may come before the first word of a sentence: nothing, or an end of sentence and
# opening quotes or brackets.
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+)[\"“‘'(\[]*\s*$")


def written_as_name(word: str, texts: Iterable[str]) -> bool:
    """True when ``texts`` mostly capitalise ``word`` where it does not start a sentence
    ("Trump", "Poland", not "meeting")."""
    pattern = re.compile(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", re.I)
    capitalised = inside = 0
    for text in texts:
        for found in pattern.finditer(text):
            if _SENTENCE_START.search(text[: found.start()]):
                continue
            inside += 1
            capitalised += found.group(0)[:1].isupper()
    return capitalised > 0 and 2 * capitalised > inside



@dataclass(frozen=True)
class Turn:
    """One answered question of a conversation."""

    question: str
    context: tuple[str, ...]  # the questions searched: this one, then those it followed
    verdict: Verdict
    unit_id: str | None  # the passage given first
    at: float  # when it was asked (the conversation's clock)
    follows: str | None = None


class Conversation:
    """The recent turns of one asker in one place (bounded; in memory only).

    ``idle``: seconds after which the turns are forgotten (None: never); ``clock`` gives
    the time (a fake one in tests).
    """

    def __init__(self, *, max_turns: int = MAX_TURNS, idle: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.turns: deque[Turn] = deque(maxlen=max_turns)
        self.idle = idle
        self.clock = clock

    def clear(self) -> None:
        """Start afresh."""
        self.turns.clear()

    def expired(self) -> bool:
        """True when the last turn is older than the idle time."""
        return (self.idle is not None and bool(self.turns)
                and self.clock() - self.turns[-1].at > self.idle)

    def last(self) -> Turn | None:
        """The turn a new question may follow (None when there is none, or it went idle)."""
        if self.expired():
            self.clear()
        return self.turns[-1] if self.turns else None

    def record(self, answer: Answer, context: tuple[str, ...]) -> None:
        """Add the answer as the latest turn, ``context`` the questions it was searched
        with (itself alone when it stood alone)."""
        best = answer.best
        self.turns.append(Turn(
            question=answer.question, context=context, verdict=answer.verdict,
            unit_id=best.unit.id if best and answer.verdict != "unknown" else None,
            at=self.clock(), follows=answer.follows))

    def __len__(self) -> int:
        return len(self.turns)


def context_of(question: str, turn: Turn) -> tuple[str, ...]:
    """The questions a follow-up is searched with: itself first (its answer cues and
    wording lead), then the turn it follows and that turn's own context, newest first,
    within :data:`CONTEXT_QUESTIONS` and :data:`CONTEXT_CHARS`."""
    parts = [question]
    for earlier in turn.context[: CONTEXT_QUESTIONS - 1]:
        if len(" ".join([*parts, earlier])) > CONTEXT_CHARS:
            break
        parts.append(earlier)
    return tuple(parts)


class Asker(Protocol):
    """What answers the turns (the engine): several questions, each searched for as its
    query when one is given; and whether the indexed text writes a word as a name."""

    def ask_many(self, questions: Sequence[tuple[str, str | None]], *,
                 top_k: int | None = None, queries: Sequence[str | None] | None = None
                 ) -> list[Answer]: ...

    def is_name(self, word: str) -> bool: ...


def ask_in(engine: Asker, conversation: Conversation, question: str, *,
           top_k: int | None = None, doc: str | None = None) -> Answer:
    """Answer ``question`` as the next turn of ``conversation`` and record it there."""
    text, _ = normalise_question(question)
    turn = conversation.last()
    context: tuple[str, ...] = (text,)
    if turn is not None and looks_dependent(text, engine.is_name):
        context = context_of(text, turn)
    query = " ".join(context) if len(context) > 1 else None
    answer = engine.ask_many([(question, doc)], top_k=top_k, queries=[query])[0]
    if query is not None and turn is not None:
        answer = replace(answer, follows=turn.question)
        best = answer.best
        if answer.verdict == "answer" and best is not None and best.unit.id == turn.unit_id:
            # The passage the earlier question was given: the earlier question's words,
            # searched with this one, find it again, whether or not it says what is asked
            # now ("Where was he born?"). It is given, but as likely.
            answer = replace(answer, verdict="likely", answered=False)
    conversation.record(answer, context)
    return answer


class Conversations:
    """Conversations by key (e.g. guild, channel, user), the least recently used forgotten
    beyond ``capacity``; each forgets its turns after ``idle`` seconds. Thread-safe."""

    def __init__(self, *, capacity: int = 1000, idle: float | None = None,
                 max_turns: int = MAX_TURNS, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.capacity = capacity
        self.idle = idle
        self.max_turns = max_turns
        self.clock = clock
        self._by_key: OrderedDict[Hashable, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Conversation:
        """The conversation under ``key`` (a new one when there is none)."""
        with self._lock:
            found = self._by_key.get(key)
            if found is None or found.expired():
                # The store's clock, read when asked: a test may set it afterwards.
                found = Conversation(max_turns=self.max_turns, idle=self.idle,
                                     clock=lambda: self.clock())
                self._by_key[key] = found
            self._by_key.move_to_end(key)
            while len(self._by_key) > self.capacity:
                self._by_key.popitem(last=False)
            return found

    def forget(self, key: Hashable) -> bool:
        """Start the conversation under ``key`` afresh; True when it had turns."""
        with self._lock:
            found = self._by_key.pop(key, None)
        return found is not None and bool(found.turns) and not found.expired()

    def __len__(self) -> int:
        return len(self._by_key)
