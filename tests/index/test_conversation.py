"""Conversations (index/conversation.py): follow-ups asked with the question they follow,
subject changes asked alone, bounds and idle expiry; with the fake models."""

from __future__ import annotations

import json
from typing import Any

import pytest

from index.conversation import Conversation, Conversations, looks_dependent


@pytest.mark.parametrize(("question", "dependent"), [
    ("What did she say?", True),
    ("Why?", True),
    ("And the river?", True),
    ("Was that enough?", True),
    ("What happened to them afterwards?", True),
    ("Is there a fee?", True),
    ("What is the capital of France?", False),
    ("Which version that npm supports is the newest?", False),  # a relative "that"
    ("How many moons does Quibble have?", False),
])
def test_looks_dependent(question: str, dependent: bool) -> None:
    assert looks_dependent(question) is dependent


def test_a_follow_up_is_answered_with_the_question_it_follows(moons_engine: Any) -> None:
    alone = moons_engine.ask("How many moons does it have?")
    assert not (alone.verdict == "answer" and "three moons" in alone.best.unit.text)

    talk = Conversation()
    first = moons_engine.ask("Tell me about Zorblat", conversation=talk)
    assert first.follows is None
    follow = moons_engine.ask("How many moons does it have?", conversation=talk)
    assert follow.follows == "Tell me about Zorblat"
    assert follow.verdict == "answer" and "three moons" in follow.best.unit.text
    assert json.loads(json.dumps(follow.to_json()))["follows"] == "Tell me about Zorblat"
    assert "follows" not in first.to_json()


def test_a_change_of_subject_stands_alone_and_is_then_followed(moons_engine: Any) -> None:
    talk = Conversation()
    moons_engine.ask("Tell me about Zorblat", conversation=talk)
    switch = moons_engine.ask("How many moons does Quibble have?", conversation=talk)
    assert switch.follows is None and "seven moons" in switch.best.unit.text
    more = moons_engine.ask("And a bridge?", conversation=talk)
    assert more.follows == "How many moons does Quibble have?"
    assert "bridge" in more.best.unit.text


def test_the_earlier_answer_found_again_is_likely_not_answer(moons_engine: Any) -> None:
    talk = Conversation()
    first = moons_engine.ask("How many moons does Zorblat have?", conversation=talk)
    assert first.verdict == "answer"
    again = moons_engine.ask("Does it have a canal?", conversation=talk)
    assert again.best.unit.id == first.best.unit.id
    assert again.verdict == "likely" and not again.answered
    assert moons_engine.ask("Does it have a canal? How many moons does Zorblat have?"
                            ).verdict == "answer", "asked as one question it would be"


def test_idle_turns_are_forgotten(moons_engine: Any) -> None:
    now = [1000.0]
    talk = Conversation(idle=60, clock=lambda: now[0])
    moons_engine.ask("Tell me about Zorblat", conversation=talk)
    now[0] += 59
    assert moons_engine.ask("Is it red?", conversation=talk).follows == "Tell me about Zorblat"
    now[0] += 61
    assert moons_engine.ask("How many moons does it have?", conversation=talk).follows is None
    assert len(talk) == 1


def test_the_context_is_bounded(moons_engine: Any) -> None:
    talk = Conversation(max_turns=3)
    moons_engine.ask("Tell me about Zorblat", conversation=talk)
    for _ in range(6):
        moons_engine.ask("And it?", conversation=talk)
    assert len(talk) == 3
    assert all(len(turn.context) <= 2 for turn in talk.turns)


def test_conversations_are_kept_by_key_least_recently_used_forgotten() -> None:
    now = [0.0]
    store = Conversations(capacity=2, idle=10, clock=lambda: now[0])
    a = store.get("a")
    assert store.get("a") is a and store.get("b") is not a
    store.get("a")  # a used last: b goes first
    store.get("c")
    assert len(store) == 2 and store.get("a") is a
    assert store.forget("a") is False, "no turns to forget"
    assert store.get("a") is not a
