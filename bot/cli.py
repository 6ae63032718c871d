"""The ``qabot`` command line: ask, index build/info, repl, eval and discord.

Only click is imported at start-up; settings (pydantic), the engine (numpy, faiss) and the
model (torch, sentence-transformers) are imported by the commands that need them, so
``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.shell_completion import CompletionItem

from bot.app import get_settings, notify, open_engine, setup_logging
from bot.output import drop_output, stdout_closed, written_by_echo

if TYPE_CHECKING:
    from config import Settings
    from index import BuildResult, Engine, EvalQuestion

log = logging.getLogger(__name__)

# A question piped on stdin is read up to this many bytes; normalise_question keeps
# the first 2000 of them anyway, and an endless pipe must not fill the memory.
STDIN_LIMIT = 1_000_000


def fail(message: str, code: int) -> NoReturn:
    """Print a one-line error on stderr and exit with ``code``."""
    from bot.safe_text import safe_text

    click.echo(f"qabot: error: {safe_text(message, one_line=True)}", err=True)
    raise click.exceptions.Exit(code)


class QabotGroup(click.Group):
    """A group that turns qabot's own errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        from config import EXIT_DATA, EXIT_INTERRUPTED, SettingsError
        from index import QabotError

        try:
            return super().invoke(ctx)
        except (QabotError, SettingsError) as exc:
            fail(str(exc), exc.exit_code)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # a closed pipe (| head): click ends quietly
            if written_by_echo(exc):
                drop_output()
                fail(f"cannot write the output: {exc.strerror or exc}", EXIT_DATA)
            if exc.filename is None:
                raise
            # A path the OS refused where no check said so first: one line, not a traceback.
            log.debug("%s", exc, exc_info=True)
            fail(f"cannot use {exc.filename}: {exc.strerror or exc}", EXIT_DATA)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def stdin_is_terminal() -> bool:
    """True when stdin is a terminal, or missing (closed): no question is piped in."""
    try:
        return sys.stdin is None or sys.stdin.isatty()
    except (AttributeError, ValueError):  # a closed stream
        return True


def question_from_stdin() -> str:
    """The question piped on stdin (``echo "..." | qabot ask``), as one question."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # a text-only stream (an embedding program's)
        return str(sys.stdin.read(STDIN_LIMIT))
    # Bytes, decoded leniently: a stray byte must not be a traceback.
    return bytes(buffer.read(STDIN_LIMIT)).decode("utf-8", errors="replace")


def complete_doc(ctx: click.Context, param: click.Parameter, incomplete: str
                 ) -> list[CompletionItem]:
    """Shell completion of ``--doc``: the names in the index's manifest (and ``all``).

    Reads the manifest only: no model loads, nothing is built, so Tab answers at once. The
    index is the one ``--index-dir`` (typed before ``--doc``) or the settings name.
    """
    from config import load_settings
    from index import read_manifest

    try:
        index_dir = ctx.params.get("index_dir")
        settings = load_settings(**({"index_dir": index_dir} if index_dir else {}))
        names = [str(d["name"]) for d in read_manifest(Path(settings.index_dir))["documents"]]
    except Exception:  # noqa: BLE001 - an error printed here lands in the user's prompt
        return []
    return [CompletionItem(name) for name in [*names, "all"] if name.startswith(incomplete)]


@click.group(cls=QabotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qabot", prog_name="qabot")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """qabot: ask questions about an article, answered with cited sentences, offline."""
    from config import EXIT_DATA

    if sys.stdout is None and ctx.invoked_subcommand != "discord":  # (the bot logs on stderr)
        fail("standard output is closed, so qabot could show nothing; redirect it instead "
             "(> FILE, or > /dev/null to discard it)", EXIT_DATA)


@cli.command()
@click.argument("question", nargs=-1)
@click.option("-k", "--top-k", type=click.IntRange(1, 50),
              help="How many passages to show (at most: text leaves out those far below the "
                   "best; --json lists all).")
@click.option("--doc", shell_complete=complete_doc,
              help="Only search this document (see `qabot index info`).")
@click.option("--index-dir", type=click.Path(path_type=Path), help="Index folder to use.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question.")
@click.option("--batch", type=click.Path(allow_dash=True),
              help="Read questions from FILE, one a line ('-' = stdin); JSON lines with "
                   "the same \"conversation\" are turns of one conversation.")
def ask(question: tuple[str, ...], top_k: int | None, doc: str | None,
        index_dir: Path | None, as_json: bool, batch: str | None) -> None:
    """Answer QUESTION from the index (built from the built-in article on first use).

    Without QUESTION, the question is read from stdin when it is not a terminal
    (echo "How long did the meeting last?" | qabot ask).
    """
    from config import EXIT_DATA, EXIT_USAGE
    from index import normalise_question

    if batch is not None and question:
        fail("give either a QUESTION or --batch FILE, not both", EXIT_USAGE)
    stream: Any = None  # the --batch file, opened before anything loads
    if batch is not None:
        from bot.user_files import check_input_file

        if batch != "-":
            check_input_file(Path(batch), pipes=True)  # a FIFO is never waited on
        stream = click.open_file(batch, "r", encoding="utf-8", errors="replace")
    if batch is None:
        text = " ".join(question)
        if not question and not stdin_is_terminal():
            text = question_from_stdin()
        if not text.strip():
            fail('the question is empty: ask something, e.g. qabot ask "How long did the '
                 'meeting last?"', EXIT_USAGE)
        normalise_question(text)  # raises a usage error before the model loads
    settings = get_settings(index_dir=index_dir)
    # The first build of an index is for the configured folder; a folder named here that
    # holds no index is a typo as likely as not: said, as `index info` says it.
    engine = open_engine(settings, doc=doc if batch is None else None,
                         purpose="answer" if batch is None else "build",
                         build_missing=index_dir is None)
    if batch is None:
        answer = engine.ask(text, top_k=top_k, doc=doc)
        if answer.notice and not as_json:
            # Said once, on stderr, where notes go (JSON has its "notice"); a question with
            # no words says so in its answer.
            from dataclasses import replace

            from index import has_words

            if has_words(answer.question):
                click.echo(f"qabot: note: {answer.notice}", err=True)
            answer = replace(answer, notice="")
        from bot.render import print_answer

        print_answer(answer, as_json)
        finished_one_shot()
        return
    from bot.batch import run_batch

    with stream:
        errors = run_batch(engine, stream, top_k=top_k, doc=doc, as_json=as_json)
    if errors:
        from index import plural

        click.echo(f"qabot: {plural(errors, 'batch line')} could not be answered", err=True)
        raise click.exceptions.Exit(EXIT_DATA)


@cli.group("index", cls=QabotGroup)
def index_group() -> None:
    """Build or inspect the index."""


@index_group.command("build")
@click.option("--source", "sources", multiple=True, type=click.Path(path_type=Path),
              help="A .txt, .md, .rst or .html file, a folder of them, or a .jsonl file of "
                   "units. Repeatable. "
                   "Default: QABOT_SOURCES, else the sources the index was built from, else "
                   "the built-in article.")
@click.option("--index-dir", type=click.Path(path_type=Path), help="Index folder to write.")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed.")
def index_build(sources: tuple[Path, ...], index_dir: Path | None, force: bool) -> None:
    """Build the index from the sources (atomically; the old index stays until it is done)."""
    from bot.safe_text import visible_controls
    from config import EXIT_INTERRUPTED
    from index import plural

    settings = get_settings(index_dir=index_dir)
    try:
        result = _build(settings, list(sources), force=force)
    except KeyboardInterrupt:
        _finish_progress_bars()
        click.echo("qabot: interrupted: the build stopped, and left no partial index", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    counts = f"{plural(result.units, 'unit')} from {plural(result.documents, 'document')}"
    where = visible_controls(str(result.path))
    if result.skipped:
        click.echo(f"index at {where} is up to date ({counts}; {result.reason}): "
                   f"skipped. Use --force to rebuild.")
    else:
        click.echo(f"built index at {where}: {counts} in {result.seconds:.1f} s")


def _build(settings: Settings, given: list[Path], *, force: bool) -> BuildResult:
    """Build the index of ``settings`` from ``given``, else QABOT_SOURCES, else the sources
    the index records (as ``:reindex`` and ``/reindex`` do), saying which on stderr."""
    from index import build_sources, check_build_target, describe_sources, has_index

    index_dir = Path(settings.index_dir)
    # Bad sources are reported before the model loads; a big corpus is announced.
    chosen = build_sources(settings, given or list(settings.sources), notify=notify)
    check_build_target(index_dir)  # a folder that is not qabot's: one line, before the model
    if chosen.recorded is not None:
        notify(f"building from the sources the index records: "
               f"{describe_sources(chosen.recorded)}")
    elif not chosen.paths and has_index(index_dir):
        notify(f"building from the built-in article: the index at {index_dir} does not say "
               f"what it was built from (its manifest is missing or unreadable)")
    from index import Engine, default_embedder

    engine = Engine(settings, default_embedder(settings, "build"))
    return engine.build(chosen.paths, documents=chosen.documents, force=force,
                        progress=sys.stderr.isatty())


def _finish_progress_bars() -> None:
    """End the progress bars an interrupt left open with a newline: the line printed next
    starts on its own line instead of after a stale bar."""
    tqdm = sys.modules.get("tqdm")  # imported only when a bar was shown
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        with contextlib.suppress(Exception):  # a bar half torn down by the interrupt
            bar.close()


@index_group.command("info")
@click.option("--index-dir", type=click.Path(path_type=Path), help="Index folder to read.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def index_info(index_dir: Path | None, as_json: bool) -> None:
    """Show what the index holds (documents, units, model, build time)."""
    from bot.safe_text import safe_text
    from index import read_manifest

    settings = get_settings(index_dir=index_dir)
    manifest = read_manifest(Path(settings.index_dir))
    if as_json:
        click.echo(json.dumps(manifest, indent=2, ensure_ascii=False))
        return
    click.echo(safe_text(describe_manifest(manifest, Path(settings.index_dir))))


def describe_manifest(manifest: dict[str, Any], path: Path) -> str:
    """A few lines about an index: model, build time, sources, documents and unit counts."""
    from index import describe_sources, plural, recorded_sources

    docs = manifest.get("documents", [])
    units = manifest.get("units")
    held = plural(units, "unit") if isinstance(units, int) else f"{units} units"
    lines = [f"index {path}: {held} in {plural(len(docs), 'document')}",
             f"model {manifest.get('model', {}).get('name')}, built {manifest.get('built_at')}",
             f"built from {describe_sources(recorded_sources(manifest))}",
             describe_store(manifest)]
    lines += [f"  {d['name']}: {plural(d['count'], 'unit')}" for d in docs[:50]]
    if len(docs) > 50:
        lines.append(f"  … and {len(docs) - 50} more")
    return "\n".join(lines)


def describe_store(manifest: dict[str, Any]) -> str:
    """Where the index keeps its vectors: the store, and its index kind."""
    milvus = manifest.get("milvus")
    if manifest.get("store") == "milvus" and isinstance(milvus, dict):
        return (f"store milvus: collection {milvus.get('collection')} (alias "
                f"{milvus.get('alias')}) at {milvus.get('uri')}, {milvus.get('kind')} index")
    faiss = manifest.get("faiss")
    kind = faiss.get("kind", "flat") if isinstance(faiss, dict) else "flat"
    return f"store faiss: {kind} index in the index folder"


@cli.command()
@click.option("-k", "--top-k", type=click.IntRange(1, 50), help="How many passages to show.")
@click.option("--doc", shell_complete=complete_doc, help="Only search this document.")
@click.option("--index-dir", type=click.Path(path_type=Path), help="Index folder to use.")
def repl(top_k: int | None, doc: str | None, index_dir: Path | None) -> None:
    """Ask questions interactively (reads one question a line when stdin is not a terminal)."""
    from bot.repl import Repl

    settings = get_settings(index_dir=index_dir, top_k=top_k)
    engine = open_engine(settings, doc=doc, warm=True, build_missing=index_dir is None)
    Repl(engine, doc=doc).run()


@cli.command()
@click.option("--sync", is_flag=True, help="Sync slash commands globally (takes up to an hour).")
def discord(sync: bool) -> None:
    """Run the Discord bot (token from QABOT_DISCORD_TOKEN or DISCORD_TOKEN)."""
    from bot.discord_bot import run
    from config import load_settings

    settings = load_settings()
    if not logging.root.handlers:
        # A service: its operator sees it connect, sync and rebuild unless QABOT_LOG_LEVEL
        # says otherwise.
        level = settings.log_level if "log_level" in settings.model_fields_set else "INFO"
        setup_logging(level, discord_style=True)
    raise click.exceptions.Exit(run(settings, sync=sync))


@cli.command("eval")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "wikiqa"]), default="jsonl",
              show_default=True, help="jsonl: a question set for the index; wikiqa: a WikiQA "
              "TSV, converted and indexed on the fly, each question ranked within its doc.")
@click.option("--index-dir", type=click.Path(path_type=Path),
              help="Index to evaluate (jsonl), or where to build the WikiQA index.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--sweep-threshold", is_flag=True, help="Show the metrics over thresholds.")
@click.option("--threshold", type=click.FloatRange(0, 1), help="Override the answer threshold.")
def eval_command(file: Path, fmt: str, index_dir: Path | None, as_json: bool,
                 sweep_threshold: bool, threshold: float | None) -> None:
    """Measure answer selection and "I don't know" on a question set (see docs/quality.md).

    FILE (jsonl) has one {"question", "doc"?, "gold": [...]} a line; a gold entry equal to a
    unit id matches that unit, any other entry matches units whose text contains it; an
    empty gold list means the corpus does not answer the question. Lines with the same
    "conversation" are the turns of one conversation ("kind": opening, followup or switch),
    asked in file order and compared with the same questions asked alone.
    """
    import tempfile

    from bot.user_files import check_input_file
    from config import EXIT_DATA
    from index import evaluate

    check_input_file(file)  # a path the OS refuses, a folder, a FIFO: one line
    if not file.is_file():  # never opened: a FIFO with no writer would wait forever
        fail(f"{file}: not a regular file (a FIFO, socket or device); give a file",
             EXIT_DATA)
    with tempfile.TemporaryDirectory(prefix="qabot-eval-") as tmp:
        if fmt == "wikiqa":
            corpus, questions_path = evaluate.wikiqa_to_jsonl(file, Path(tmp))
            settings = get_settings(index_dir=index_dir or Path(tmp) / "index",
                                    answer_threshold=threshold)
            from index import Engine, default_embedder

            engine = Engine(settings, default_embedder(settings, "build"))
            engine.rebuild([corpus], progress=sys.stderr.isatty())
            questions = evaluate.read_questions(questions_path)
        else:
            settings = get_settings(index_dir=index_dir, answer_threshold=threshold)
            # A bad file fails before the model loads; a vote file's damaged lines are
            # skipped, and said.
            from bot.safe_text import safe_text

            questions = evaluate.read_questions(file, notify=lambda m: click.echo(
                f"qabot: warning: {safe_text(m, one_line=True)}", err=True))
            engine = open_engine(settings, prefetch=False, build_missing=index_dir is None)
        for q in questions:
            engine.resolve_doc(q.doc)
        check_gold(engine, questions)
        outcomes = evaluate.run(engine, questions)
        talks: dict[str, dict[str, int]] = {}
        if any(q.conversation is not None for q in questions):
            # Turns of conversations are measured as asked (in file order, each with its
            # conversation), against the same questions asked alone.
            alone = outcomes
            outcomes, answers = evaluate.run_conversations(engine, questions)
            talks = evaluate.conversation_counts(questions, outcomes, alone, answers)
    chosen = evaluate.metrics(outcomes, engine.threshold)
    # "answer or likely": the answers qabot gives at all, sure or not.
    given = evaluate.metrics(outcomes, engine.likely_threshold)
    rows = evaluate.sweep(outcomes, [round(0.02 * i, 2) for i in range(51)]) \
        if sweep_threshold else []
    if as_json:
        out: dict[str, Any] = {"file": str(file), "format": fmt, "metrics": chosen.to_json(),
                               "metrics_likely": given.to_json(),
                               "verdicts": evaluate.verdict_counts(outcomes)}
        if rows:
            out["sweep"] = [m.to_json() for m in rows]
        if talks:
            out["conversations"] = talks
        click.echo(json.dumps(out))
        return
    from bot.safe_text import visible_controls

    click.echo(f"{visible_controls(str(file))}: {chosen.questions} questions "
               f"({chosen.answerable} answerable, {chosen.unanswerable} unanswerable)")
    click.echo(evaluate.format_table([chosen]))
    if given.threshold != chosen.threshold:
        click.echo(evaluate.format_table([given]).splitlines()[1]
                   + "  (answer or likely: from the likely threshold)")
    click.echo("verdicts:")
    click.echo(evaluate.format_verdicts(evaluate.verdict_counts(outcomes)))
    if talks:
        click.echo("conversations (each turn in its conversation, against asked alone):")
        click.echo(evaluate.format_conversations(talks))
    if rows:
        click.echo("\nthreshold sweep:")
        click.echo(evaluate.format_table(rows))


def check_gold(engine: Engine, questions: Sequence[EvalQuestion]) -> None:
    """Refuse a question set none of whose gold answers is in the index (it measures
    nothing: the set was written for other documents); warn when some are missing."""
    from config import EXIT_DATA
    from index import evaluate, plural

    answerable = sum(1 for q in questions if q.gold)
    missing = evaluate.missing_gold(engine.data, questions)
    if not missing:
        return
    docs = list(engine.data.docs)
    held = ", ".join(docs[:3]) + (", …" if len(docs) > 3 else "")
    where = f"the index at {engine.index_dir} ({plural(len(docs), 'document')}: {held})"
    if len(missing) == answerable:
        whose = ("the question's gold answer is not" if answerable == 1 else
                 f"none of the {answerable} questions' gold answers is")
        fail(f"{whose} in {where}: is it the index the question set was written for? "
             f"(--index-dir)", EXIT_DATA)
    notify(f"warning: the gold answers of {len(missing)} of {plural(answerable, 'question')} "
           f"are not in {where}; they are left out of the metrics (the first: "
           f"{missing[0].question[:80]!r})")


_DONE_WITH_NOTHING_OPEN: list[bool] = []  # set by a one-shot command that has finished


def finished_one_shot() -> None:
    """Mark the command done with nothing left to write: :func:`main` may skip the
    interpreter's teardown (freeing the models and modules: about 0.15 s of a 1 s ask)."""
    _DONE_WITH_NOTHING_OPEN.append(True)


def main() -> None:
    """Console-script entry point (and ``python -m bot``'s)."""
    # First: with a foreign `config` or `index` first on the path, any import below would
    # end in a traceback. This module imports neither at its top for that reason.
    from bot.installed import exit_if_shadowed

    exit_if_shadowed()
    from config import EXIT_DATA

    stdout_closed()  # before any file is opened, which would take its place
    try:
        cli(prog_name="qabot")
    except SystemExit as exc:
        if not _DONE_WITH_NOTHING_OPEN:
            raise
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):  # a closed pipe: nothing more to say
                code = code or EXIT_DATA
        os._exit(code)


if __name__ == "__main__":
    main()
