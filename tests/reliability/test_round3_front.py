"""Fault injection, round 3, the front ends (issue 19, items 9, 10 and parts of 11): an eval
set for other documents, colour codes in the bot's logs, a notice said twice, a hint for a
question without words, a ``javascript:`` link, escape sequences in file names and a
refusal for each of 100 spam messages. Each case failed before its fix."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from tests.bot.conftest import FAKE_QUESTION, description, dpy, make_bot  # noqa: F401 - fixtures
from tests.conftest import HEADLINE_ANSWER
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds for a subprocess: a hang fails instead of blocking
ESC = "\x1b"


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def article_index(tmp_path: Path) -> Path:
    """An index of the built-in article (the fake model)."""
    path = tmp_path / "idx"
    built = invoke("index", "build", "--index-dir", str(path))
    assert built.exit_code == 0, built.output
    return path


def write_questions(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- 9. eval with a question set written for other documents -----------------------------
OTHER_DOCS = [{"question": f"What does the pump do in step {n}?",
               "gold": [f"the pump moves coolant to stage {n}"]} for n in range(5)]


def test_eval_refuses_a_question_set_none_of_whose_gold_is_in_the_index(
        tmp_path: Path, article_index: Path) -> None:
    questions = write_questions(tmp_path / "other.jsonl",
                                [*OTHER_DOCS, {"question": "Who won?", "gold": []}])
    for extra in ([], ["--json"]):
        result = invoke("eval", str(questions), "--index-dir", str(article_index), *extra)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert result.stdout == ""  # no table of zeros
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("qabot: error: none of the 5 questions' gold answers is in "
                                   f"the index at {article_index}")


@pytest.mark.integration
def test_eval_refusal_through_the_real_command_exits_1_every_time(tmp_path: Path) -> None:
    """The real models: the refusal comes before any model loads, so that nothing is still
    loading when the process exits (it aborted, exit 134, with the models loading)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    index_dir = str(tmp_path / "idx")
    qabot = [sys.executable, "-m", "bot"]
    subprocess.run([*qabot, "index", "build", "--index-dir", index_dir], env=env, check=True,
                   capture_output=True, timeout=TIMEOUT * 5, cwd=tmp_path)
    questions = write_questions(tmp_path / "other.jsonl", OTHER_DOCS)
    for _ in range(3):
        done = subprocess.run([*qabot, "eval", str(questions), "--index-dir", index_dir],
                              env=env, capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        assert done.stderr.splitlines() == [
            f"qabot: error: none of the 5 questions' gold answers is in the index at "
            f"{index_dir} (1 document: trump-putin-g20-meeting): is it the index the question "
            f"set was written for? (--index-dir)"]


def test_eval_warns_with_a_count_when_some_gold_answers_are_missing(
        tmp_path: Path, article_index: Path) -> None:
    fits = {"question": "How long did the meeting last?", "gold": [HEADLINE_ANSWER]}
    questions = write_questions(tmp_path / "mixed.jsonl", [fits, *OTHER_DOCS[:2]])
    result = invoke("eval", str(questions), "--index-dir", str(article_index), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["answerable"] == 1
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1, result.stderr
    assert "the gold answers of 2 of 3 questions are not in the index" in warning[0]


def test_eval_of_a_set_with_only_unanswerable_questions_runs_without_a_word(
        tmp_path: Path, article_index: Path) -> None:
    questions = write_questions(tmp_path / "none.jsonl", [{"question": "Who won?", "gold": []}])
    result = invoke("eval", str(questions), "--index-dir", str(article_index))
    assert result.exit_code == 0, result.output
    assert "1 questions (0 answerable, 1 unanswerable)" in result.stdout
    assert "warning" not in result.stderr


# --- 10. colour codes in the Discord bot's logs ------------------------------------------
LOGGING_SCRIPT = """
import logging, sys
import discord.utils
discord.utils.is_docker = lambda: sys.argv[1] == "docker"  # as when /.dockerenv exists, or not
from bot.app import setup_logging
setup_logging("INFO", discord_style=True)
logging.getLogger("bot.discord_bot").warning("connected; file %s", sys.argv[2])
"""


def bot_log(stderr: str | None, *, no_color: bool = False, where: str = "docker",
            name: str = "notes.txt") -> str:
    """What the bot's logging setup writes to stderr, a pipe (None) or a terminal ("pty"),
    for a line naming the file ``name``."""
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    environ["PYTHONPATH"] = str(ROOT)
    if no_color:
        environ["NO_COLOR"] = "1"
    command = [sys.executable, "-c", LOGGING_SCRIPT, where, name]
    if stderr is None:
        done = subprocess.run(command, env=environ, capture_output=True, text=True,
                              timeout=TIMEOUT, check=True)
        return done.stderr
    leader, follower = pty.openpty()
    try:
        subprocess.run(command, env=environ, stderr=follower, stdout=subprocess.DEVNULL,
                       timeout=TIMEOUT, check=True)
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed: all is read
                break
            if not chunk:
                break
            out += chunk
        return out.decode()
    finally:
        os.close(leader)


@pytest.mark.parametrize("where", ["docker", "host"])
def test_bot_logs_into_a_pipe_have_no_colour_codes(where: str) -> None:
    log = bot_log(None, where=where)
    assert "connected; file notes.txt" in log
    assert ESC not in log, repr(log)


@pytest.mark.parametrize("where", ["docker", "host"])
def test_bot_logs_on_a_terminal_are_coloured_unless_no_color(where: str) -> None:
    assert f"{ESC}[" in bot_log("pty", where=where)  # the test can see colour
    plain = bot_log("pty", where=where, no_color=True)
    assert "connected; file notes.txt" in plain
    assert ESC not in plain, repr(plain)


def test_control_characters_in_a_log_message_are_written_out() -> None:
    log = bot_log(None, name=f"a{ESC}]0;pwned{chr(7)}{ESC}[2Jb")
    assert ESC not in log and "\x07" not in log, repr(log)
    assert r"file a\x1b]0;pwned\x07\x1b[2Jb" in log


# --- 11. the "question cut" notice said twice ---------------------------------------------
def test_the_question_cut_notice_is_said_once(article_index: Path) -> None:
    question = "How long did the meeting last? " + "and then " * 300
    result = invoke("ask", "--index-dir", str(article_index), question)
    assert result.exit_code == 0, result.output
    both = result.stdout + result.stderr
    assert both.count("question cut to its first") == 1, both
    assert "qabot: note: question cut to its first" in result.stderr

    as_json = invoke("ask", "--index-dir", str(article_index), "--json", question)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["notice"].startswith("question cut to its first")
    assert "question cut" not in as_json.stderr


# --- 11. a question with no words ---------------------------------------------------------
def test_a_question_without_words_gets_no_hint(article_index: Path, fake_engine: Any) -> None:
    from bot.discord_format import answer_embed

    result = invoke("ask", "--index-dir", str(article_index), "?!? ...")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "I don't know: the question has no words to search for."
    assert result.stderr == ""

    embed = answer_embed(fake_engine.ask("?!? ..."))
    assert description(embed) == "I don't know: the question has no words to search for."
    assert not embed.fields and embed.url is None


# --- 11. a citation link that is not a web address ----------------------------------------
@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", "file:///etc/passwd",
                                 "data:text/html,<script>x</script>"])
def test_only_web_addresses_are_shown_as_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               url: str) -> None:
    import index.sources.documents
    from bot.discord_format import answer_embed

    units = tmp_path / "units.jsonl"
    units.write_text("".join(json.dumps(u) + "\n" for u in [
        {"id": "u1", "doc": "memo", "text": "The meeting lasted two hours and 15 minutes.",
         "url": url},
        {"id": "u2", "doc": "site", "text": "The summit was held in Hamburg.",
         "url": "https://example.org/summit"}]), encoding="utf-8")
    # As an index written by hand or by an older qabot: its link was never checked.
    monkeypatch.setattr(index.sources.documents, "check_url", lambda value, where: value)
    index_dir = tmp_path / "idx"
    built = invoke("index", "build", "--source", str(units), "--index-dir", str(index_dir))
    assert built.exit_code == 0, built.output
    monkeypatch.undo()
    monkeypatch.setattr("index.answering.configured.default_embedder",
                        lambda settings, *_: FakeEmbedder())

    scheme = url.split(":")[0]
    for question in ("How long did the meeting last?", "Where was the summit held?"):
        result = invoke("ask", "--index-dir", str(index_dir), "-k", "2", question)
        assert result.exit_code == 0, result.output
        assert f"{scheme}:" not in result.stdout, result.stdout
    assert "Source: https://example.org/summit" in result.stdout  # web addresses are shown

    from config import Settings
    from index.answering.engine import Engine

    engine = Engine(Settings(_env_file=None, index_dir=index_dir), FakeEmbedder())
    engine.load()
    embed = answer_embed(engine.ask("How long did the meeting last?", top_k=2))
    assert embed.url is None
    assert f"{scheme}:" not in json.dumps(embed.to_dict())


# --- 11. escape sequences in the names of skipped files -----------------------------------
def test_skipped_file_names_reach_the_terminal_written_out(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("The meeting lasted two hours.", encoding="utf-8")
    (folder / f"{ESC}]0;pwned{chr(7)}{ESC}[2J.png").write_bytes(b"\x89PNG")
    result = invoke("index", "build", "--source", str(folder),
                    "--index-dir", str(tmp_path / "idx"))
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1, result.stderr
    assert ESC not in result.stderr and "\x07" not in result.stderr
    assert r"\x1b]0;pwned\x07\x1b[2J.png" in skipped[0]  # still tells which file


def test_the_eval_file_name_is_written_out(tmp_path: Path, article_index: Path) -> None:
    # click leaves out colour codes (CSI) on a pipe, not a window title (OSC): both here.
    questions = write_questions(tmp_path / f"q{ESC}]0;pwned{chr(7)}{ESC}[2J.jsonl",
                                [{"question": "How long did the meeting last?",
                                  "gold": [HEADLINE_ANSWER]}])
    result = invoke("eval", str(questions), "--index-dir", str(article_index))
    assert result.exit_code == 0, result.output
    assert ESC not in result.stdout and "\x07" not in result.stdout
    assert r"q\x1b]0;pwned\x07\x1b[2J.jsonl: 1 questions" in result.stdout


# --- 11. a refusal for each of 100 spam messages ------------------------------------------
async def test_a_flood_of_questions_gets_one_refusal_per_cooldown_window(
        dpy: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811 - the fixture
    bot = await dpy(discord_cooldown_seconds=30)
    assert bot.user is not None
    ask = f"<@{bot.user.id}> {FAKE_QUESTION}"
    spammer, other = dpytest.get_config().members[:2]

    await dpytest.message(ask, member=spammer)
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])
    for _ in range(100):
        await dpytest.message(ask, member=spammer)
    refusal = dpytest.get_message()
    assert refusal.content == "One question at a time, please: you can ask again in 30 s."
    assert dpytest.verify().message().nothing()  # the other 99: silence

    await dpytest.message(ask, member=other)  # someone else is answered meanwhile
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 31)  # the window has passed
    await dpytest.message(ask, member=spammer)
    assert HEADLINE_ANSWER in description(dpytest.get_message().embeds[0])
    for _ in range(3):  # a new window: told once again
        await dpytest.message(ask, member=spammer)
    assert dpytest.get_message().content.startswith("One question at a time, please")
    assert dpytest.verify().message().nothing()
