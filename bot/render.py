"""Plain-text rendering of answers for the terminal (CLI and REPL).

Document text is shown through :func:`safe_text`: no control sequence reaches the terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from bot.safe_text import safe_text
from index.search import Answer, Passage

Style = Callable[[str], str]


def _plain_highlight(text: str) -> str:
    return f"**{text}**"


def _cite(p: Passage) -> str:
    return f"[{safe_text(p.unit.doc, one_line=True)}, sentence {p.unit.position}]"


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
        lines.append(faint(f"({safe_text(answer.notice)})"))
    best = answer.best
    if best is None:
        lines.append("I don't know: the index has nothing to search.")
        return "\n".join(lines)
    context = " ".join(x for x in (safe_text(best.before), hl(safe_text(best.unit.text)),
                                   safe_text(best.after)) if x)
    if answer.answered:
        lines.append(f"Answer {_cite(best)}  confidence {answer.confidence:.2f}")
        lines.append(_wrap(context))
    else:
        lines.append(f"I don't know: the article doesn't say (confidence "
                     f"{answer.confidence:.2f} is below the threshold {answer.threshold:.2f}).")
        lines.append(f"Closest passage (a hint, not an answer) {_cite(best)}:")
        lines.append(_wrap(context))
    more = answer.passages[1:]
    if more:
        lines.append("Also relevant:" if answer.answered else "Other passages:")
        for p in more:
            lines.append(textwrap.fill(f"- {_cite(p)} ({p.score:.2f}) {safe_text(p.unit.text)}",
                                       width=88, initial_indent="  ",
                                       subsequent_indent="    "))
    return "\n".join(lines)
