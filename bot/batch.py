"""``qabot ask --batch``: one question per line (plain or a JSON object), answered in input
order; lines with the same ``"conversation"`` are turns of one conversation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from bot.render import print_answer

if TYPE_CHECKING:
    from index import Engine

BATCH_CHUNK = 256
# Conversations a batch keeps at once (the least recently continued are forgotten beyond).
BATCH_CONVERSATIONS = 100_000
# A batch line: its number, question, doc, error (None when it can be asked) and the
# conversation it is a turn of (None: it stands alone).
BatchItem = tuple[int, str | None, str | None, str | None, str | None]

def _batch_items(stream: Any, default_doc: str | None) -> Iterator[BatchItem]:
    """Yield (line number, question, doc, error, conversation) for each non-blank batch
    line."""
    from index import parse_json

    for lineno, raw in enumerate(stream, start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("{"):
            yield lineno, line, default_doc, None, None
            continue
        try:
            obj = parse_json(line)
        except json.JSONDecodeError as exc:
            yield lineno, None, None, f"line {lineno}: not valid JSON ({exc.msg})", None
            continue
        q, d = (obj.get("question"), obj.get("doc", default_doc)) if isinstance(obj, dict) \
            else (None, None)
        talk = obj.get("conversation") if isinstance(obj, dict) else None
        if not isinstance(q, str):
            yield lineno, None, None, f'line {lineno}: "question" must be a string', None
        elif d is not None and not isinstance(d, str):
            yield lineno, q, None, f'line {lineno}: "doc" must be a string', None
        elif talk is not None and not isinstance(talk, str):
            yield lineno, q, None, f'line {lineno}: "conversation" must be a string', None
        else:
            yield lineno, q, d, None, talk


def run_batch(engine: Engine, stream: Any, *, top_k: int | None, doc: str | None,
              as_json: bool) -> int:
    """Answer every batch line in input order; return how many lines failed.

    Lines with the same ``"conversation"`` are turns of one conversation, asked in file
    order; the other lines stand alone (and are encoded together, a chunk at a time).
    """
    from bot.safe_text import safe_text
    from index import Conversations, DataError, UsageError, bounded_lines, normalise_question

    errors = 0
    chunk: list[BatchItem] = []
    conversations = Conversations(capacity=BATCH_CONVERSATIONS)

    def flush() -> None:
        nonlocal errors
        valid: list[tuple[str, str | None]] = []
        for n, (lineno, q, d, err, talk) in enumerate(chunk):
            if err is not None or q is None:
                continue
            try:
                normalise_question(q)
                engine.resolve_doc(d)
            except UsageError as exc:
                chunk[n] = (lineno, q, d, f"line {lineno}: {exc}", talk)
            else:
                if talk is None:
                    valid.append((q, d))
        answers = iter(engine.ask_many(valid, top_k=top_k) if valid else [])
        for lineno, q, d, err, talk in chunk:
            if err is not None:
                errors += 1
                if as_json:
                    click.echo(json.dumps({"question": q, "error": err, "line": lineno},
                                          ensure_ascii=False))
                else:
                    click.echo(f"qabot: error: {safe_text(err, one_line=True)}", err=True)
                continue
            if talk is None:
                answer = next(answers)
            else:  # in file order, after the conversation's earlier lines
                answer = engine.ask(str(q), top_k=top_k, doc=d,
                                    conversation=conversations.get(talk))
            print_answer(answer, as_json, with_question=True, conversation=talk)
            if not as_json:
                click.echo("")
        chunk.clear()

    # A line without end (--batch /dev/zero) is an error, not the whole memory.
    lines = bounded_lines(stream, str(getattr(stream, "name", "the batch")))
    try:
        for item in _batch_items(lines, doc):
            chunk.append(item)
            if len(chunk) >= BATCH_CHUNK:
                flush()
    except DataError:
        flush()  # the lines before it are answered
        raise
    flush()
    return errors
