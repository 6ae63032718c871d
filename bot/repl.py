"""The interactive REPL: line editing and history on a terminal, plain lines otherwise."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from bot.render import render_answer, terminal_styles, terminal_width
from bot.safe_text import safe_text
from index import QabotError, bounded_lines, plural

if TYPE_CHECKING:
    from index import Engine

HELP = """\
Type a question and press Enter; a follow-up ("How long did it last?") is read with
the question before it. Commands:
  :help            this help
  :k N             show N passages per answer (1-50)
  :doc NAME|all    search only document NAME, or all documents
  :sources         list the indexed documents
  :new             start a new conversation (earlier questions are no longer followed)
  :reindex         rebuild the index from the sources it was built from
  :quit            leave (Ctrl-D works too; Ctrl-C cancels the line)"""


def history_path() -> Path:
    """Where the REPL keeps its history (next to the default index)."""
    from config import default_index_dir

    return default_index_dir().parent / "repl_history"


@contextlib.contextmanager
def keys_unechoed(stdin: TextIO | None) -> Iterator[None]:
    """Keep the terminal from echoing keys typed during a long step, such as a build.

    Between prompts nobody reads the terminal, so it echoes typed keys itself, into the
    middle of the progress bar. Unechoed, they stay typed ahead: the next prompt shows them.
    Ctrl-C still interrupts. Nothing happens when ``stdin`` is not a terminal (or on Windows).
    """
    restore = _echo_off(stdin) if stdin is not None else None
    try:
        yield
    finally:
        if restore is not None:
            restore()


def _echo_off(stdin: TextIO) -> Callable[[], None] | None:
    """Turn the terminal's echo off; return what turns it back on (None: not a terminal)."""
    try:
        import termios
    except ImportError:  # not POSIX
        return None
    try:
        fd = stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):
        return None
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO  # the local modes
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    return lambda: termios.tcsetattr(fd, termios.TCSANOW, saved)


class Repl:
    """Reads questions and commands, answers through the engine."""

    def __init__(self, engine: Engine, *, doc: str | None = None, top_k: int | None = None,
                 out: TextIO | None = None) -> None:
        from index import Conversation

        self.engine = engine
        self.conversation = Conversation()  # the session is one conversation
        self.doc = doc
        self.top_k = top_k or engine.settings.top_k
        self.out = out or sys.stdout
        self.interactive = sys.stdin.isatty() and self.out.isatty()
        # Colour on a terminal without NO_COLOR (even with piped questions), never in a file.
        self.styles = terminal_styles(self.out)

    def say(self, text: str) -> None:
        """Print a line of ours, which may quote names and errors: no control sequences."""
        click.echo(safe_text(text), file=self.out)

    def handle(self, line: str) -> bool:
        """Handle one input line; return False when the user asked to quit."""
        line = line.strip()
        if not line:
            return True
        if line.startswith(":"):
            return self.command(line)
        try:
            answer = self.engine.ask(line, top_k=self.top_k, doc=self.doc,
                                     conversation=self.conversation)
        except QabotError as exc:
            self.say(f"error: {exc}")
            return True
        # render_answer makes the document text safe; the styles are the only escapes.
        click.echo(render_answer(answer, self.styles.highlight, self.styles.dim,
                                 width=terminal_width(self.out)), file=self.out)
        self.say("")
        return True

    def command(self, line: str) -> bool:
        name, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if name in {"quit", "q", "exit"}:
            return False
        if name in {"help", "h", "?"}:
            self.say(HELP)
        elif name == "k":
            if arg.isdigit() and 1 <= int(arg) <= 50:
                self.top_k = int(arg)
                self.say(f"showing {self.top_k} passages")
            else:
                self.say("usage: :k N  (N from 1 to 50)")
        elif name == "doc":
            self._set_doc(arg)
        elif name == "sources":
            for d in self.engine.documents():
                self.say(f"  {d.name}: {plural(d.count, 'unit')}")
            self.say(f"model {self.engine.embedder.name}, built {self.engine.data.built_at}")
        elif name == "reindex":
            self._reindex()
        elif name == "new":
            self.conversation.clear()
            self.say("new conversation: the next question stands alone")
        else:
            self.say(f"unknown command :{name} (try :help)")
        return True

    def _reindex(self) -> None:
        from index import describe_sources, source_label

        try:
            sources = self.engine.recorded_sources()
        except QabotError as exc:  # a damaged record of the sources
            self.say(f"error: {exc}")
            return
        self.say(f"reindexing from {describe_sources([source_label(s) for s in sources])}...")
        # The bar (tqdm, on stderr) only where a person watches it; a log file would get
        # its carriage returns.
        progress = self.interactive and sys.stderr.isatty()
        try:
            with keys_unechoed(sys.stdin if self.interactive else None):
                result = self.engine.rebuild(progress=progress)
        except QabotError as exc:
            self.say(f"error: {exc}")
            return
        state = "unchanged, skipped" if result.skipped else f"{result.seconds:.1f} s"
        self.say(f"reindexed: {plural(result.units, 'unit')} from "
                 f"{plural(result.documents, 'document')} ({state})")

    def _set_doc(self, arg: str) -> None:
        if not arg:
            self.say(f"searching {self.doc or 'all documents'}; usage: :doc NAME|all")
            return
        try:
            info = self.engine.resolve_doc(arg)
        except QabotError as exc:
            self.say(f"error: {exc}")
            return
        self.doc = info.name if info else None
        self.say(f"searching {self.doc or 'all documents'}")

    def corpus(self) -> str:
        """What questions are asked of: the article, the document NAME, or N documents."""
        if self.doc:
            return f"the document {self.doc}"
        count = len(self.engine.documents())
        return "the article" if count == 1 else f"the {plural(count, 'document')}"

    def run(self, lines: Iterable[str] | None = None) -> None:
        """Run until :quit or end of input."""
        if lines is not None or not self.interactive:
            # Piped lines are read up to a limit: ``repl < /dev/zero`` is an error, not
            # the whole memory.
            self._loop(lines if lines is not None else bounded_lines(sys.stdin, "<stdin>"))
            return
        self._interactive_loop()

    def _loop(self, lines: Iterable[str]) -> None:
        for line in lines:
            if not self.handle(line):
                break

    def _interactive_loop(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        history: FileHistory | InMemoryHistory
        try:
            path = history_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            history = FileHistory(str(path))
        except OSError:
            history = InMemoryHistory()
        session: PromptSession[str] = PromptSession(history=history)
        prompt: Callable[[], str] = lambda: session.prompt("qabot> ")  # noqa: E731
        self.say(f"qabot: ask about {self.corpus()} (:help for commands, Ctrl-D to leave)")
        while True:
            try:
                line = prompt()
            except KeyboardInterrupt:
                continue  # Ctrl-C cancels the current line
            except EOFError:
                break
            if not self.handle(line):
                break
