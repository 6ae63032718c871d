"""Answer context: the neighbours shown around an answer."""

from __future__ import annotations

from index.answering.search import context_of
from index.sources.documents import Unit


def _units(sections: list[str]) -> list[Unit]:
    return [Unit(id=f"d:{i}", doc="d", text=f"s{i}.", position=i, section=sec)
            for i, sec in enumerate(sections)]


def test_context_stays_inside_the_answer_s_section() -> None:
    units = _units(["Carry-over", "Carry-over", "Decisions", "Decisions"])
    assert context_of(units, 2, 0, 4, 1) == ("", "s2.", "s3.")
    assert context_of(units, 1, 0, 4, 2) == ("s0.", "s1.", "")


def test_context_of_plain_text_is_unchanged_by_sections() -> None:
    units = _units(["", "", "", ""])
    assert context_of(units, 2, 0, 4, 1) == ("s1.", "s2.", "s3.")
    assert context_of(units, 0, 0, 2, 3) == ("", "s0.", "s1.")
