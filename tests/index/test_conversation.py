"""Conversations (index/answering/conversation.py): follow-ups asked with the question they follow,
subject changes asked alone, bounds and idle expiry; with the fake models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from index.answering.conversation import (
    Conversation,
    Conversations,
    looks_dependent,
    written_as_name,
)
from tests.conftest import engine_over


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


NAMES = {"trump", "putin", "poland"}


@pytest.mark.parametrize(("question", "dependent"), [
    # a pronoun after what it can stand for, in the same question
    ("What did Trump say about Russia when he was in Poland?", False),
    ("what did trump's team say about his talks", False),
    ("What did the two leaders do after their meeting?", False),
    ("Did Trump and Putin sign anything at their meeting?", False),
    # before it, or only one name for "they", or an object pronoun: it points back
    ("What did he say about Trump?", True),
    ("Did Trump meet them at their hotel?", True),
    ("Did Trump believe him?", True),
    ("What did the summit decide about it?", True),
    ("Where did Trump go after he left there?", True),  # "there" still points back
    ("Was that what Trump said in his speech?", True),  # so does the leading "that"
])
def test_a_pronoun_may_stand_for_words_of_its_own_question(question: str,
                                                           dependent: bool) -> None:
    assert looks_dependent(question, NAMES.__contains__) is dependent


def test_without_names_only_plurals_are_read() -> None:
    assert looks_dependent("What did Trump say when he was in Poland?")
    assert not looks_dependent("What did the presidents hope would come of their talks?")


@pytest.mark.parametrize(("word", "texts", "name"), [
    ("trump", ["The talks began when Trump arrived.", "Trump spoke."], True),
    ("trump", ["Trump spoke first.", "Trump left."], False),  # never inside a sentence
    ("meeting", ["The meeting ran long.", "After the meeting, Trump left."], False),
    ("rust", ["Install Rust first.", "Old iron gathers rust. Remove the rust."], False),
    ("cargo", ['It says: "Cargo builds it." and then cargo runs.', "Use Cargo here."], False),
    ("cargo", ["You can ask Cargo to build it.", "Then Cargo runs."], True),
    ("ignored", [], False),
])
def test_written_as_name(word: str, texts: list[str], name: bool) -> None:
    assert written_as_name(word, texts) is name


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


PEOPLE = ("Mira Quell is the mayor of Zorblat. The mayor met Tomas Vey at the harbour. "
          "When Quell visited Quibble, she opened a bridge. Vey has two sisters. "
          "The two sisters run a bakery in Quibble. The bakery sells bread.")


@pytest.fixture
def people_engine(settings: Any, tmp_path: Path) -> Any:
    return engine_over(settings, tmp_path / "people", PEOPLE)


def test_the_index_tells_names(people_engine: Any) -> None:
    assert people_engine.is_name("Quell") and people_engine.is_name("vey")
    assert not people_engine.is_name("mayor"), "inside sentences, in lower case"
    assert not people_engine.is_name("the"), "a stop word"
    assert not people_engine.is_name("Zeppelin"), "not in the index"


def test_a_pronoun_standing_for_a_name_of_its_own_question_is_asked_alone(
        people_engine: Any) -> None:
    talk = Conversation()
    people_engine.ask("Who is Tomas Vey?", conversation=talk)
    switch = people_engine.ask("What did Quell open when she visited Quibble?",
                               conversation=talk)
    assert switch.follows is None
    follow = people_engine.ask("What did she open?", conversation=talk)
    assert follow.follows == "What did Quell open when she visited Quibble?"


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
