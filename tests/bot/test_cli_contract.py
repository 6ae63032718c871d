"""The `ask` contract through click's runner: JSON fields, stdin, --batch text, colour,
declines that name the corpus, plurals and shell completion of --doc."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.sources.documents import builtin_article
from tests.conftest import ARTICLE_DOC

pytestmark = pytest.mark.usefixtures("fake_model")

ROOT = Path(__file__).parents[2]




@pytest.fixture
def two_docs(tmp_path: Path, runner: CliRunner) -> Path:
    """An index of the article and a one-sentence document."""
    (tmp_path / "cats.txt").write_text("Cats sleep most of the day.", encoding="utf-8")
    path = tmp_path / "two"
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(path), "--source",
                                 str(tmp_path / "cats.txt"), "--source",
                                 str(builtin_article())])
    assert result.exit_code == 0, result.output
    assert "36 units from 2 documents" in result.stdout
    return path


def _one(stdout: str) -> dict:
    (line,) = [x for x in stdout.splitlines() if x.strip()]
    return json.loads(line)


# --- JSON ---------------------------------------------------------------------------------
def test_json_says_the_threshold_it_compared_with(runner: CliRunner, index_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_ANSWER_THRESHOLD", "0.73")
    obj = _one(runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir),
                                   "Who is Lavrov?"]).stdout)
    assert obj["threshold"] == 0.73
    assert obj["answered"] == (obj["confidence"] >= 0.73)


def test_json_says_when_the_question_was_cut(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir),
                                 "meeting " * 1000])
    obj = _one(result.stdout)
    assert obj["truncated"] is True
    assert obj["notice"].startswith("question cut to its first") and len(obj["question"]) <= 2000
    assert {"question", "answered", "confidence", "passages"} <= set(obj), "old keys stay"
    text = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "meeting " * 1000])
    assert "qabot: note: question cut" in text.stderr


def test_json_notice_for_a_question_without_words(runner: CliRunner, index_dir: Path) -> None:
    obj = _one(runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir),
                                   "?!?"]).stdout)
    assert obj["truncated"] is False and "no words" in obj["notice"]


# --- stdin --------------------------------------------------------------------------------
def test_question_from_stdin(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir)],
                           input="Who is\nLavrov?\n")
    assert result.exit_code == 0, result.output
    assert _one(result.stdout)["question"] == "Who is Lavrov?"


def test_question_argument_wins_over_stdin(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir), "Who met?"],
                           input="Who is Lavrov?\n")
    assert _one(result.stdout)["question"] == "Who met?"


@pytest.mark.parametrize("data", [b"", b"  \n\n", b"\x00\x01\r\n"])
def test_empty_stdin_is_the_empty_question_error(runner: CliRunner, index_dir: Path,
                                                 data: bytes) -> None:
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir)], input=data)
    assert result.exit_code == 2 and "question is empty" in result.stderr
    assert "Traceback" not in result.output


def test_stdin_that_is_a_terminal_is_not_read(runner: CliRunner, index_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.cli

    monkeypatch.setattr(bot.cli, "stdin_is_terminal", lambda: True)
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir)], input="Who is it?\n")
    assert result.exit_code == 2 and "question is empty" in result.stderr


def test_stray_bytes_on_stdin_are_replaced(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir)],
                           input=b"Who is Lavrov\xff?")
    assert result.exit_code == 0 and _one(result.stdout)["question"] == "Who is Lavrov\ufffd?"


# --- --batch in text ----------------------------------------------------------------------
def test_text_batch_prints_each_question_above_its_answer(runner: CliRunner,
                                                          index_dir: Path) -> None:
    questions = ["How long did the meeting last?", "Who is Lavrov?", "bananas in space"]
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "--batch", "-"],
                           input="\n".join(questions) + "\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    asked = [line[3:] for line in lines if line.startswith("Q: ")]
    assert asked == questions
    for n, line in enumerate(lines):
        if line.startswith("Q: "):
            assert lines[n + 1].startswith(("Answer [", "I don't know")), lines[n + 1]


# --- colour -------------------------------------------------------------------------------
class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("no_color", "escapes"), [(None, True), ("1", False)])
def test_no_color_on_a_terminal(fake_engine, monkeypatch: pytest.MonkeyPatch,
                                no_color: str | None, escapes: bool) -> None:
    from bot.render import print_answer

    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    out = Tty()
    monkeypatch.setattr(sys, "stdout", out)
    print_answer(fake_engine.ask("Who is Lavrov?"), False)
    assert ("\x1b[" in out.getvalue()) is escapes
    assert ("**" in out.getvalue()) is not escapes


def test_no_escape_codes_when_not_a_terminal(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "Who is Lavrov?"],
                           color=True)
    assert "\x1b" not in result.stdout and "**" in result.stdout


def test_repl_honours_no_color(fake_engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.repl import Repl

    monkeypatch.setenv("NO_COLOR", "1")
    out = Tty()
    Repl(fake_engine, out=out).run(["Who is Lavrov?"])
    assert "\x1b" not in out.getvalue() and "**" in out.getvalue()
    monkeypatch.delenv("NO_COLOR")
    out = Tty()
    Repl(fake_engine, out=out).run(["Who is Lavrov?"])
    assert "\x1b[" in out.getvalue()


# --- declines and plurals -----------------------------------------------------------------
def test_declines_name_the_corpus(runner: CliRunner, index_dir: Path, two_docs: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_ANSWER_THRESHOLD", "0.99")
    monkeypatch.setenv("QABOT_LIKELY_THRESHOLD", "0.99")

    def said(idx: Path, *extra: str) -> str:
        out = runner.invoke(cli, ["ask", "--index-dir", str(idx), *extra, "bananas?"]).stdout
        return " ".join(out.split())

    assert "I don't know: I found no answer in the article" in said(index_dir)
    several = said(two_docs)
    assert "I don't know: I found no answer in the documents" in several
    assert "article" not in several
    assert "I found no answer in the document cats" in said(two_docs, "--doc", "cats")


def test_one_unit_is_singular(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("Owls hunt at night.", encoding="utf-8")
    idx = tmp_path / "one"
    build = runner.invoke(cli, ["index", "build", "--index-dir", str(idx), "--source",
                                str(tmp_path / "one.txt")])
    assert "1 unit from 1 document in" in build.stdout
    info = runner.invoke(cli, ["index", "info", "--index-dir", str(idx)]).stdout
    assert "1 unit in 1 document\n" in info and "  one: 1 unit\n" in info


def test_one_bad_batch_line_is_singular(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir), "--batch",
                                 "-"], input='{"question": 5}\nWho?\n')
    assert "qabot: 1 batch line could not be answered" in result.stderr


def test_repl_greets_with_the_corpus(fake_engine, two_docs: Path) -> None:
    from bot.repl import Repl

    assert Repl(fake_engine).corpus() == "the article"
    assert Repl(fake_engine, doc=ARTICLE_DOC).corpus() == f"the document {ARTICLE_DOC}"
    fake_engine.settings.index_dir = two_docs
    fake_engine.load()
    assert Repl(fake_engine).corpus() == "the 2 documents"


# --- shell completion ---------------------------------------------------------------------
def _complete(runner: CliRunner, words: str, **env: str) -> list[str]:
    cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    result = runner.invoke(cli, [], prog_name="qabot", env={
        "_QABOT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword, **env})
    assert result.exit_code == 0 and not result.stderr, result.output
    return [line for line in result.stdout.splitlines() if line]


def test_doc_completion_lists_the_index_documents(runner: CliRunner, two_docs: Path) -> None:
    env = {"QABOT_INDEX_DIR": str(two_docs)}
    assert _complete(runner, "qabot ask --doc ", **env) == [
        "plain,cats", f"plain,{ARTICLE_DOC}", "plain,all"]
    assert _complete(runner, "qabot ask --doc tr", **env) == [f"plain,{ARTICLE_DOC}"]
    assert _complete(runner, "qabot repl --doc c", **env) == ["plain,cats"]
    typed = _complete(runner, f"qabot ask --index-dir {two_docs} --doc c")
    assert typed == ["plain,cats"], "--index-dir typed before --doc is the one read"


def test_doc_completion_without_an_index_is_silent(runner: CliRunner, tmp_path: Path) -> None:
    assert _complete(runner, "qabot ask --doc ",
                     QABOT_INDEX_DIR=str(tmp_path / "none")) == []
    assert _complete(runner, "qabot ask --doc ", QABOT_TOP_K="500") == []


def test_completion_script_and_no_model_loaded(two_docs: Path) -> None:
    script = subprocess.run([sys.executable, "-m", "bot"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT,
                            env={"_QABOT_COMPLETE": "bash_source", "PATH": "/usr/bin:/bin"})
    assert "_qabot_completion" in script.stdout and "complete -o nosort" in script.stdout
    code = ("import sys, os\nfrom bot.cli import cli\n"
            "try:\n    cli.main([], prog_name='qabot')\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('torch', 'sentence_transformers', 'onnxruntime', "
            "'faiss') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env={
                             "_QABOT_COMPLETE": "bash_complete", "PATH": "/usr/bin:/bin",
                             "COMP_WORDS": "qabot ask --doc ", "COMP_CWORD": "3",
                             "QABOT_INDEX_DIR": str(two_docs)})
    assert f"plain,{ARTICLE_DOC}" in out.stdout and "HEAVY []" in out.stdout, \
        out.stdout + out.stderr
