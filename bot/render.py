"""Plain-text rendering of answers for the terminal (CLI and REPL).

Document text is shown through :func:`safe_text`: no control sequence reaches the terminal.
Styles (colour, bold) are escape codes the caller passes in, only when it writes to a
terminal that wants them (:func:`terminal_styles`); the renderer wraps lines on what the
reader sees, so escape codes and wide characters do not throw the wrapping off.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

import click
from wcwidth import wcswidth

from bot.safe_text import safe_text
from index import Answer, Passage, has_words

Style = Callable[[str], str]
WIDTH = 88
# "Also relevant" leaves out a passage the reranker finds this many times less likely to
# answer than the best one (only when passage scores are its calibrated probabilities). On
# the article question set (81 questions, 5 passages each, bundled models) 1/20 keeps every
# further passage that holds a gold answer (16 of 16) and drops half of the others shown
# beside an answer (46 of 93); 1/10 already dropped a gold one. The best passage is always
# shown, and ``--json`` keeps all of them.
FAR_BELOW = 20.0


@dataclass(frozen=True)
class Styles:
    """How the answer sentence and asides are marked. ``highlight`` and ``dim`` add escape
    codes only (zero width); without them the answer is marked with visible ``**``."""

    highlight: Style | None = None
    dim: Style | None = None


def wants_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream: no terminal
        return False


def terminal_styles(stream: TextIO) -> Styles:
    """The styles for ``stream``: bold yellow answers and dim asides on a colour terminal."""
    if not wants_color(stream):
        return Styles()
    return Styles(lambda s: click.style(s, bold=True, fg="yellow"),
                  lambda s: click.style(s, dim=True))


def terminal_width(stream: TextIO) -> int:
    """Lines fit the terminal (at most :data:`WIDTH` columns); elsewhere :data:`WIDTH`."""
    import shutil

    try:
        if stream.isatty():
            return max(40, min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))
    except (AttributeError, ValueError):
        pass
    return WIDTH


def visible_width(text: str) -> int:
    """Terminal columns ``text`` takes: escape codes take none, wide characters two."""
    plain = click.unstyle(text)
    width = wcswidth(plain)
    return width if width >= 0 else len(plain)


def _words(segments: Sequence[tuple[str, Style | None]]) -> list[tuple[str, Style | None]]:
    return [(w, style) for text, style in segments for w in text.split()]


def wrap(segments: Sequence[tuple[str, Style | None]], *, width: int = WIDTH,
         indent: str = "  ", subsequent: str | None = None) -> str:
    """Fill styled text into lines of at most ``width`` visible columns.

    ``segments`` are (text, style) pieces. Words are measured without their style, and a
    style is applied per line, so each line opens and closes its own escape codes (a line
    cut out by a pager or ``grep`` never leaves the terminal bold). Words longer than a
    line are not broken.
    """
    rest = indent if subsequent is None else subsequent
    lines: list[list[tuple[str, Style | None]]] = [[]]
    used = visible_width(indent)
    for word, style in _words(segments):
        w = visible_width(word)
        if lines[-1] and used + 1 + w > width:
            lines.append([])
            used = visible_width(rest)
        used += w + (1 if lines[-1] else 0)
        lines[-1].append((word, style))
    return "\n".join((indent if n == 0 else rest) + _join_styled(line)
                     for n, line in enumerate(lines))


def _join_styled(words: list[tuple[str, Style | None]]) -> str:
    """Join words with spaces, one styled run per stretch of words of the same style."""
    runs: list[tuple[Style | None, list[str]]] = []
    for word, style in words:
        if runs and runs[-1][0] is style:
            runs[-1][1].append(word)
        else:
            runs.append((style, [word]))
    return " ".join(style(" ".join(ws)) if style else " ".join(ws) for style, ws in runs)


def _cite(p: Passage) -> str:
    """"[doc › Section, sentence N]": the section only where the document has headings."""
    where = " › ".join(x for x in (p.unit.doc, p.unit.section) if x)
    return f"[{safe_text(where, one_line=True)}, sentence {p.unit.position}]"


MAX_URL = 2000  # characters; Discord refuses a longer link


def web_address(url: str) -> str:
    """``url`` when it is a web address (http or https) safe to show as a link, else "".

    Sources are checked when read; this check is for an index written by hand or by an
    older qabot: a ``javascript:`` or ``file:`` link is never handed to a chat client or a
    terminal that makes links clickable, and Discord refuses a whole embed whose link is
    not a web address.
    """
    from urllib.parse import urlsplit

    if len(url) > MAX_URL or any(c.isspace() or c in "<>" or not c.isprintable() for c in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed address (an unclosed IPv6 bracket)
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def _source(p: Passage, indent: str = "  ") -> list[str]:
    """The line naming the passage's web address, when its source has one."""
    url = web_address(p.unit.url)
    return [f"{indent}Source: {url}"] if url else []


NOTHING_TO_SEARCH = "I don't know: the question has no words to search for."


def corpus_name(answer: Answer) -> str:
    """What was searched, for the verdict's sentence: the one document asked of, the article
    (an index of one document) or the documents (several)."""
    if answer.doc is not None and answer.documents == 1:
        return f"the document {safe_text(answer.doc, one_line=True)}"
    if answer.documents > 1:
        return "the documents"
    return "the article"


def verdict_line(answer: Answer) -> str:
    """The verdict in one sentence, for text and Discord: ``likely`` gives the answer with
    its doubt; ``unknown`` says what qabot did not find, never that the text doesn't say."""
    if answer.verdict == "answer":
        return f"confidence {answer.confidence:.2f}"
    if answer.verdict == "likely":
        return f"confidence {answer.confidence:.2f} (not sure)"
    if not answer.passages:
        return "I don't know: the index has nothing to search"
    likely = answer.threshold if answer.likely_threshold is None else answer.likely_threshold
    return (f"I don't know: I found no answer in {corpus_name(answer)} (confidence "
            f"{answer.confidence:.2f}, below {likely:.2f})")


def related_passages(answer: Answer) -> list[Passage]:
    """The passages after the best one worth showing: not :data:`FAR_BELOW` the best.

    First-stage scores are not probabilities (no ratio means anything): all are shown.
    """
    best, more = (answer.passages[0], answer.passages[1:]) if answer.passages else (None, [])
    if best is None or not answer.calibrated_scores:
        return list(more)
    return [p for p in more if p.score * FAR_BELOW >= best.score]


def score_label(answer: Answer, passage: Passage) -> str:
    """A further passage's score, named for what it is: with the reranker's calibration,
    the chance that this passage answers (another model than the confidence, which is the
    chance that the best one does); else the first stage's score, not a probability."""
    return f"{'chance' if answer.calibrated_scores else 'score'} {passage.score:.2f}"


def _underlined(style: Style) -> Style:
    return lambda s: style(click.style(s, underline=True))


def phrase_parts(answer: Answer) -> tuple[str, str, str] | None:
    """The best passage's sentence cut around the answer's phrase (before, phrase, after),
    when qabot answers with one."""
    best, phrase = answer.best, answer.phrase
    if best is None or phrase is None:
        return None
    text = best.unit.text
    return text[: phrase.start], text[phrase.start : phrase.end], text[phrase.end :]


def _marked(answer: Answer, styles: Styles) -> list[tuple[str, Style | None]]:
    """The answer sentence as segments: styled, or between visible ``**`` marks; its phrase,
    when there is one, underlined too, or between ``_`` marks inside them."""
    assert answer.best is not None
    parts = phrase_parts(answer)
    if parts is None:
        parts = (answer.best.unit.text, "", "")
    before, phrase, after = (safe_text(p) for p in parts)
    if styles.highlight is not None:
        if not phrase.strip():
            return [(before + phrase + after, styles.highlight)]
        # Words are whole on screen: a phrase cut inside a word ("Hamburg" of "Hamburg,")
        # takes the rest of the word with it.
        head, _, tail = before.rpartition(" ") if " " in before else ("", "", before)
        lead, sep, rest = after.partition(" ")
        return [(head, styles.highlight),
                (tail + phrase + lead, _underlined(styles.highlight)),
                (rest if sep else "", styles.highlight)]
    text = f"{before}_{phrase.strip()}_{after}" if phrase.strip() else before
    words = text.split()
    if not words:
        return []
    words[0], words[-1] = "**" + words[0], words[-1] + "**"
    return [(" ".join(words), None)]


def render_question(question: str, highlight: Style | None = None, *,
                    width: int = WIDTH) -> str:
    """The question above its answer (``--batch`` in text): ``Q: ...``, wrapped."""
    return wrap([("Q:", highlight), (safe_text(question, one_line=True), None)], width=width,
                indent="", subsequent="   ")


def render_answer(answer: Answer, highlight: Style | None = None, dim: Style | None = None,
                  *, width: int = WIDTH) -> str:
    """Render an answer: the best sentence highlighted in context, citation, score, more.

    ``highlight`` and ``dim`` add escape codes (see :class:`Styles`); without them the
    output is plain text, the answer between ``**``.
    """
    styles = Styles(highlight, dim)
    if not has_words(answer.question):  # nothing was searched for: no passage is a hint
        return NOTHING_TO_SEARCH
    lines: list[str] = []
    if answer.follows is not None:  # said first: the answer reads the question so
        lines.append(wrap([(f"(following: {safe_text(answer.follows)})", dim)], width=width,
                          indent=""))
    if answer.notice:
        lines.append(wrap([(f"({safe_text(answer.notice)})", dim)], width=width, indent=""))
    best = answer.best
    if best is None:
        lines.append("I don't know: the index has nothing to search.")
        return "\n".join(lines)
    context = [(safe_text(best.before), None), *_marked(answer, styles),
               (safe_text(best.after), None)]
    parts = phrase_parts(answer)
    if parts is not None:  # the phrase that answers, first: a chat reply
        phrase = safe_text(parts[1], one_line=True)
        lines.append(wrap([(phrase, styles.highlight) if styles.highlight else
                           (f"**{phrase}**", None)], width=width, indent=""))
    if answer.verdict == "answer":
        lines.append(f"Answer {_cite(best)}  {verdict_line(answer)}")
    elif answer.verdict == "likely":
        lines.append(wrap([(f"Likely answer {_cite(best)} ", None), (verdict_line(answer), None)],
                          width=width, indent="", subsequent="    "))
    else:
        lines.append(wrap([(verdict_line(answer) + ".", None)], width=width, indent=""))
        lines.append(f"Closest passage (a hint, not an answer) {_cite(best)}:")
    lines.append(wrap(context, width=width))
    lines.extend(_source(best))
    more = related_passages(answer)
    if more:
        lines.append("Other passages:" if answer.verdict == "unknown" else "Also relevant:")
        for p in more:
            lines.append(wrap([(f"- {_cite(p)}", None), (f"({score_label(answer, p)})", dim),
                               (safe_text(p.unit.text), None)],
                              width=width, indent="  ", subsequent="    "))
            if web_address(p.unit.url) != web_address(best.unit.url):  # a page once is enough
                lines.extend(_source(p, "    "))
    return "\n".join(lines)


def print_answer(answer: Answer, as_json: bool, *, with_question: bool = False,
                 conversation: str | None = None) -> None:
    """Print one answer, as a JSON line or as text (``with_question``: the question above
    it, for ``--batch``, where the reader cannot tell otherwise which answer is which;
    ``conversation``: the batch conversation it is a turn of, added to its JSON).

    Text is styled only on a terminal without NO_COLOR, and wrapped to what it shows.
    """
    if as_json:
        out = answer.to_json()
        if conversation is not None:
            out["conversation"] = conversation
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    styles, width = terminal_styles(sys.stdout), terminal_width(sys.stdout)
    if with_question:
        click.echo(render_question(answer.question, styles.highlight, width=width))
    click.echo(render_answer(answer, styles.highlight, styles.dim, width=width))
