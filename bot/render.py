"""Plain-text rendering of answers for the terminal (CLI and REPL)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from index.search import Answer, Passage

Style = Callable[[str], str]


def _plain_highlight(text: str) -> str:
    return f"**{text}**"


def _cite(p: Passage) -> str:
    return f"[{p.unit.doc}, sentence {p.unit.position}]"


def _wrap(text: str, indent: str = "  ", width: int = 88) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def render_answer(answer: Answer, highlight: Style | None = None, dim: Style | None = None
                  ) -> str:
    """Render an answer: the best sentence highlighted in context, citation, score, more."""
    hl = highlight or _plain_highlight
    faint = dim or (lambda s: s)
    lines: list[str] = []
    if answer.notice:
        lines.append(faint(f"({answer.notice})"))
    best = answer.best
    if best is None:
        lines.append("I don't know: the index has nothing to search.")
        return "\n".join(lines)
    context = " ".join(x for x in (best.before, hl(best.unit.text), best.after) if x)
    if answer.answered:
        lines.append(f"Answer {_cite(best)}  score {best.score:.2f}")
        lines.append(_wrap(context))
    else:
        lines.append(f"I don't know: the article doesn't say (best score {best.score:.2f} is "
                     f"below the threshold {answer.threshold:.2f}).")
        lines.append(f"Closest passage (a hint, not an answer) {_cite(best)}:")
        lines.append(_wrap(context))
    more = answer.passages[1:]
    if more:
        lines.append("Also relevant:" if answer.answered else "Other passages:")
        for p in more:
            lines.append(textwrap.fill(f"- {_cite(p)} ({p.score:.2f}) {p.unit.text}", width=88,
                                       initial_indent="  ", subsequent_indent="    "))
    return "\n".join(lines)
