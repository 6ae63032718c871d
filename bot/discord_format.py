"""Discord messages and embeds for answers, sources and rebuilds, within Discord's limits.

Everything that reaches Discord from the article or from a user goes through :func:`escape`
(control sequences, Markdown and mentions) and is cut to fit by :func:`shorten`, which cuts
on a sentence boundary when it can, else on a word boundary, never mid-word (a single "word"
longer than the limit, such as a URL, is the only thing ever cut hard).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import discord

from bot.render import (
    NOTHING_TO_SEARCH,
    phrase_parts,
    related_passages,
    score_label,
    verdict_line,
    web_address,
)
from bot.safe_text import safe_text
from index import has_words, humanise, plural

if TYPE_CHECKING:
    from index import Answer, BuildResult, DocInfo, Passage

# Discord's limits, in characters.
MESSAGE_LIMIT = 2000
TITLE_LIMIT = 256
AUTHOR_LIMIT = 256  # the author line (no Markdown): the question above its phrase
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_LIMIT = 6000
MAX_FIELDS = 25
MIN_FIELD_VALUE = 80  # below this a further passage is left out rather than cut to a stub

ELLIPSIS = "…"
ANSWERED_COLOUR = discord.Colour.green()
DECLINED_COLOUR = discord.Colour.light_grey()
LIKELY_COLOUR = discord.Colour.gold()
VERDICT_COLOURS = {"answer": ANSWERED_COLOUR, "likely": LIKELY_COLOUR,
                   "unknown": DECLINED_COLOUR}
INFO_COLOUR = discord.Colour.blurple()

# The bot quotes user text and article text: it must never ping anyone.
NO_PINGS = discord.AllowedMentions.none()

# A sentence ends at . ! ? or … (and any closing quotes or brackets), followed by space.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")
_SPACE = re.compile(r"\s+")


# An opening bracket not yet escaped (after an even run of escaped backslashes):
# ``escape_markdown`` escapes only the first ``[text](url)`` of a line (its pattern is
# greedy), so a second link, or ``[a](…)[b](…)``, would stay live.
_OPEN_BRACKET = re.compile(r"(?<!\\)((?:\\\\)*)\[")
# A channel mention (``<#id>``) or a command mention (``</name:id>``): a zero-width space
# after its opening keeps it text, as ``escape_mentions`` does after "@".
_CHANNEL_OR_COMMAND = re.compile(r"<([#/])")


_SCHEME = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*):(?=//)")


def escape(text: str) -> str:
    """Strip control sequences, escape Markdown (every ``[`` too: no link from the indexed
    text is ever live), neutralise @everyone, @here and user, role, channel and command
    mentions, and break every bare web address (a zero-width space after its scheme's
    colon): Discord would make it a live link."""
    escaped = discord.utils.escape_markdown(safe_text(text))
    escaped = _OPEN_BRACKET.sub(r"\1\\[", escaped)
    escaped = _CHANNEL_OR_COMMAND.sub("<\\1\u200b", escaped)
    escaped = _SCHEME.sub("\\1:\u200b", escaped)
    return discord.utils.escape_mentions(escaped)


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def unescape(text: str) -> str:
    """Undo :func:`escape` on text the bot wrote itself, such as an answer's title.

    ``escape_markdown`` puts a backslash before each Markdown character, backslashes
    included, so dropping the backslash before every character restores the text, and
    ``escape_mentions`` puts a zero-width space after "@" (``safe_text`` leaves none of its
    own), as :func:`escape` does after "<#" and "</". Only a backslash inside a URL, which
    is not escaped, would be lost.
    """
    return (_ESCAPED.sub(r"\1", text).replace("@\u200b", "@").replace("<#\u200b", "<#")
            .replace("</\u200b", "</").replace(":\u200b//", "://"))


def shorten(text: str, limit: int, *, hard: bool = True) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut with an ellipsis.

    The cut falls after the last whole sentence that fits when that keeps at least half the
    room, else after the last whole word that fits. When not even the first word fits, the
    word is cut (``hard``) or nothing is returned.
    """
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ""
    room = limit - len(ELLIPSIS) - 1  # "<kept text> …"
    head = text[: room + 1]  # one more character: is the cut at a boundary?
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= room]
    if ends and ends[-1] >= room // 2:
        return text[: ends[-1]] + " " + ELLIPSIS
    spaces = [m.start() for m in _SPACE.finditer(head)]
    if spaces and spaces[-1] > 0:
        return text[: spaces[-1]].rstrip() + " " + ELLIPSIS
    # One word longer than the whole room: nothing else can be done.
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS if hard else ""


def shorten_start(text: str, limit: int) -> str:
    """Like :func:`shorten`, but keep the end of ``text`` (for context before a sentence).

    Returns "" when not even the last word fits.
    """
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ""
    room = limit - len(ELLIPSIS) - 1  # "… <kept text>"
    start = len(text) - room
    end = next(_SENTENCE_END.finditer(text, start - 1), None)
    if end is not None and len(text) - end.end() >= room // 2:
        return ELLIPSIS + " " + text[end.end() :].lstrip()
    if text[start - 1].isspace():
        return ELLIPSIS + " " + text[start:].lstrip()
    space = _SPACE.search(text, start)
    return ELLIPSIS + " " + text[space.end() :] if space is not None else ""


def plain(text: str) -> str:
    """A plain message from qabot: control sequences stripped, mentions neutralised, short."""
    return shorten(discord.utils.escape_mentions(safe_text(text)), MESSAGE_LIMIT)


def cite(passage: Passage) -> str:
    """The citation of a passage, as the CLI prints it: document, section, sentence number."""
    where = " › ".join(x for x in (passage.unit.doc, passage.unit.section) if x)
    return f"{escape(where)}, sentence {passage.unit.position}"


def source_url(passage: Passage) -> str:
    """The passage's web address when Discord can link to it, else "" (:func:`web_address`)."""
    return web_address(passage.unit.url)


def _linked(text: str, url: str) -> str:
    """``text`` as a Markdown link to ``url`` (brackets in the address escaped)."""
    if not url:
        return text
    return f"[{text}]({url.replace('(', '%28').replace(')', '%29')})"


def own_title(doc: DocInfo) -> str:
    """The document's title when it says more than its name (not just the name re-spaced)."""
    same = humanise(doc.title).lower() == humanise(doc.name).lower()
    return doc.title if doc.title and not same else ""


def _in_context(passage: Passage, budget: int,
                parts: tuple[str, str, str] | None = None) -> str:
    """The passage's sentence in bold between its neighbours, in at most ``budget`` chars;
    ``parts``: the sentence cut around the answer's phrase, which is underlined too."""
    best = shorten(escape(passage.unit.text), max(budget - 4, 0))
    if parts is not None and parts[1].strip():
        marked = f"{escape(parts[0])}__{escape(parts[1].strip())}__{escape(parts[2])}"
        if len(marked) <= budget - 4:  # else the shortened sentence, unmarked
            best = marked
    text = f"**{best}**" if best else ""
    before, after = escape(passage.before), escape(passage.after)
    room = budget - len(text)
    if before and room > 1:
        share = room - 1 if not after else (room - 2) // 2
        cut = shorten_start(before, share)
        if cut:
            text = f"{cut} {text}"
            room = budget - len(text)
    if after and room > 1:
        cut = shorten(after, room - 1, hard=False)
        if cut:
            text = f"{text} {cut}"
    return text


def _set_footer(embed: discord.Embed, model: str, built_at: str) -> None:
    """Footer: the model and the index's build time (as a timestamp each reader sees locally)."""
    try:
        embed.timestamp = datetime.fromisoformat(built_at)
        built = "index built"
    except ValueError:
        built = f"index built {built_at}" if built_at else ""
    text = " · ".join(x for x in (f"model {model}" if model else "", built) if x)
    if text:
        embed.set_footer(text=shorten(text, FOOTER_LIMIT))


HINT_LIMIT = 600  # characters of the one passage a decline shows as a hint
NOTHING = "I don't know: the index has nothing to search."


FOLLOWS_LIMIT = 200  # characters of the earlier question an embed quotes


def answer_embed(answer: Answer, *, built_at: str = "", model: str = "") -> discord.Embed:
    """Render an answer: the best sentence in context, its citation and confidence, more.

    When qabot declines (an off-topic question, or one the documents don't answer), the
    embed is a short "I don't know" with at most the closest passage, quoted and marked as a
    hint, and no further passages: passages below the threshold are noise in a channel.
    """
    best = answer.best
    embed = discord.Embed(
        title=shorten(escape(answer.question), TITLE_LIMIT),
        colour=VERDICT_COLOURS[answer.verdict],
        # The title links to the best passage's source, when it has a web address.
        url=source_url(best) if best is not None and source_url(best) else None,
    )
    _set_footer(embed, model, built_at)

    if not has_words(answer.question):  # nothing was searched for: no passage is a hint
        embed.description = NOTHING_TO_SEARCH
        return embed
    head: list[str] = []
    if answer.follows is not None:
        head.append(f"*(following: {shorten(escape(answer.follows), FOLLOWS_LIMIT)})*")
    if answer.notice:
        head.append(f"*({escape(answer.notice)})*")
    if best is None:
        head.append(NOTHING)
        embed.description = shorten("\n".join(head), DESCRIPTION_LIMIT)
        return embed
    if answer.verdict == "answer":
        citation = (f"— {_linked(cite(best), source_url(best))} · "
                    f"confidence {answer.confidence:.2f}")
    else:
        citation = f"— {_linked(cite(best), source_url(best))}"
    if answer.verdict == "likely":  # the answer, with its doubt said first
        head.append(f"**Likely answer**, not sure: confidence {answer.confidence:.2f}, "
                    f"below {answer.threshold:.2f}.")
    elif answer.verdict == "unknown":
        head.append(f"**{verdict_line(answer)}.** The closest passage, a hint and not an "
                    f"answer:")
        # A quote block marks the hint as the article's words, not ours.
        hint = "> " + shorten(escape(best.unit.text), HINT_LIMIT)
        embed.description = "\n\n".join(["\n".join(head), hint, citation])
        return embed
    fixed = len("\n".join(head)) + len(citation) + 4  # two blank-line separators
    parts = phrase_parts(answer)
    if parts is not None and parts[1].strip():  # the phrase that answers is the title
        embed.title = shorten(escape(" ".join(parts[1].split())), TITLE_LIMIT)
        embed.set_author(name=shorten(safe_text(answer.question, one_line=True), AUTHOR_LIMIT))
    body = _in_context(best, DESCRIPTION_LIMIT - fixed, parts)
    embed.description = "\n\n".join([*(["\n".join(head)] if head else []), body, citation])

    for n, passage in enumerate(related_passages(answer), start=1):
        if n > MAX_FIELDS:
            break
        name = shorten(f"Also relevant: {cite(passage)} · {score_label(answer, passage)}",
                       FIELD_NAME_LIMIT)
        room = min(FIELD_VALUE_LIMIT, EMBED_LIMIT - len(embed) - len(name))
        if room < MIN_FIELD_VALUE:  # no room left for a useful field
            break
        embed.add_field(name=name, value=shorten(escape(passage.unit.text), room), inline=False)
    return embed


def sources_embed(docs: Sequence[DocInfo], *, units: int, model: str, built_at: str
                  ) -> discord.Embed:
    """List the indexed documents with their unit counts, the model and the build time."""
    embed = discord.Embed(title=f"{plural(len(docs), 'document')}, {units} sentences",
                          colour=INFO_COLOUR)
    lines: list[str] = []
    used = 0
    for n, doc in enumerate(docs):
        title = f" — {escape(own_title(doc))}" if own_title(doc) else ""
        line = shorten(f"• **{escape(doc.name)}**{title}: {doc.count} sentences", 300)
        more = f"… and {len(docs) - n} more"
        if used + len(line) + 1 + len(more) > DESCRIPTION_LIMIT:
            lines.append(more)
            break
        lines.append(line)
        used += len(line) + 1
    embed.description = "\n".join(lines) or "The index is empty."
    _set_footer(embed, model, built_at)
    return embed


HELP_DOCS = 10  # documents named in /help; /sources lists them all


def _document_lines(docs: Sequence[DocInfo], shown: int) -> str:
    lines = [shorten(f"• **{escape(d.name)}**: {d.count} sentences", 120) for d in docs[:shown]]
    if len(docs) > shown:
        lines.append(f"… and {len(docs) - shown} more: `/sources` lists them all")
    return "\n".join(lines) or "None yet: the index is empty."


def help_embed(docs: Sequence[DocInfo], *, units: int, bot_name: str, example: str,
               prefix: str | None, cooldown: float, max_chars: int) -> discord.Embed:
    """What the bot can do, what it has read and how to ask it (``/help``).

    ``prefix`` is None when the prefix commands are off (no message-content intent).
    """
    name = escape(bot_name)
    embed = discord.Embed(title=shorten(f"{bot_name}: questions about the documents",
                                        TITLE_LIMIT), colour=INFO_COLOUR)
    embed.description = (
        f"I answer questions from {plural(len(docs), 'document')} ({units} sentences): I quote "
        "the sentence that answers in its context, say where it comes from (document, "
        "sentence number) and how confident I am. When the documents don't say, I say "
        "\"I don't know\" instead of guessing.")
    ways = [f"• `/ask question: {example}` (add `doc:` to search one document)",
            f"• `@{name} {example}` (mention me or my role at the start of a message)"]
    if prefix is not None:
        ways.append(f"• `{escape(prefix)}ask {example}`")
    embed.add_field(name="How to ask", value="\n".join(ways), inline=False)
    embed.add_field(name=f"Documents ({len(docs)})", value=shorten(
        _document_lines(docs, HELP_DOCS), FIELD_VALUE_LIMIT), inline=False)
    embed.add_field(name="Follow-ups", value=(
        "Ask on: a question like \"How long did it last?\" is read with your question before "
        "it (in a thread, with the thread's), and the answer says which one it followed. "
        "`/new` starts afresh."), inline=False)
    embed.add_field(name="Votes", value=(
        "Press 👍 or 👎 under an answer: 👍 if the quoted sentence answers the question, 👎 "
        "if it does not. The votes become the questions qabot is measured on."), inline=False)
    limits = [f"one question every {cooldown:g} s" if cooldown > 0 else "",
              f"questions up to {max_chars} characters"]
    commands = ["`/sources` lists the documents", "`/reindex` rebuilds the index (admins)",
                f"`@{name} help` shows this"]
    embed.add_field(name="Also", value="; ".join(x for x in limits if x) + ".\n"
                    + "; ".join(commands) + ".", inline=False)
    return embed


def rebuild_summary(result: BuildResult) -> str:
    """One or two sentences on what a rebuild did (and from which sources)."""
    docs = plural(result.documents, "document")
    sources = ""
    if result.sources:
        from index import describe_sources

        named = describe_sources(result.sources)
        sources = f" Sources: {named if len(named) <= 300 else named[:299] + '…'}."
    if result.skipped:
        why = f" ({result.reason})" if result.reason else ""
        return plain(f"The index is up to date{why}: {result.units} units from {docs}, nothing "
                     f"rebuilt. Use `force` to rebuild anyway.{sources}")
    return plain(f"Rebuilt the index: {result.units} units from {docs} in "
                 f"{result.seconds:.1f} s. Questions now use the new index.{sources}")
