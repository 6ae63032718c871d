"""Follow-ups with the real bundled models on the real article (development-set turns)."""

from __future__ import annotations

from typing import Any

import pytest

from index.conversation import Conversation

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("first", "follow", "gold"), [
    # c02 of tests/data/conversations.jsonl: "his" is Lavrov
    ("What did Sergei Lavrov say about the meeting?", "What is his job?",
     "Foreign Minister Sergei Lavrov said Trump accepted"),
    # c04: "Why?" alone finds nothing to go on
    ("What did some people fear before the talks?", "Why?",
     "a political novice whose team is still developing its Russia policy"),
])
def test_a_follow_up_is_resolved_on_the_article(real_engine: Any, first: str, follow: str,
                                                gold: str) -> None:
    alone = real_engine.ask(follow)
    assert gold not in alone.best.unit.text, "alone, the follow-up is not understood"
    talk = Conversation()
    real_engine.ask(first, conversation=talk)
    answer = real_engine.ask(follow, conversation=talk)
    assert answer.follows == first
    assert gold in answer.best.unit.text
