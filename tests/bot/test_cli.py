"""The CLI through click's runner, with the fast fake embedder in place of the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.sources.documents import builtin_article
from tests.conftest import ARTICLE_DOC
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.usefixtures("fake_model")


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_contract(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--json", "-k", "4", "--index-dir", str(index_dir),
                                 "Who met Putin in Hamburg?"])
    assert result.exit_code == 0, result.output
    (obj,) = _json_lines(result.stdout)
    assert set(obj) == {"question", "answered", "verdict", "confidence", "threshold",
                        "likely_threshold", "truncated", "passages"}, \
        "no notice when the question was used as asked"
    assert obj["truncated"] is False and 0.0 <= obj["threshold"] <= 1.0
    assert 0.0 <= obj["likely_threshold"] <= obj["threshold"]
    assert 0.0 <= obj["confidence"] <= 1.0
    expected = ("answer" if obj["confidence"] >= obj["threshold"] else
                "likely" if obj["confidence"] >= obj["likely_threshold"] else "unknown")
    assert obj["verdict"] == expected and obj["answered"] == (expected == "answer")
    assert obj["question"] == "Who met Putin in Hamburg?"
    assert isinstance(obj["answered"], bool)
    assert len(obj["passages"]) == 4
    scores = [p["score"] for p in obj["passages"]]
    assert scores == sorted(scores, reverse=True)
    for p in obj["passages"]:
        assert set(p) == {"text", "context", "score", "doc", "id", "sentence"}
        assert p["doc"] == ARTICLE_DOC and p["id"] == f"{ARTICLE_DOC}:{p['sentence']}"
        assert p["text"] in p["context"] and isinstance(p["score"], float)


def test_question_words_without_quotes(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir), "Who",
                                 "is", "Lavrov?"])
    assert _json_lines(result.stdout)[0]["question"] == "Who is Lavrov?"


def test_text_output_marks_the_answer_and_cites(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir),
                                 "Sergei Lavrov said Trump accepted Putin assertions"])
    assert result.exit_code == 0
    assert f"[{ARTICLE_DOC}, sentence 5]" in result.stdout
    assert "**Foreign Minister Sergei Lavrov said" in " ".join(result.stdout.split())


def test_first_ask_builds_the_default_index(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["ask", "--json", "Who is Lavrov?"])
    assert result.exit_code == 0, result.output
    assert "building it from the built-in article" in result.stderr
    assert (tmp_path / "xdg" / "qabot" / "index" / "manifest.json").is_file()
    again = runner.invoke(cli, ["ask", "--json", "Who is Lavrov?"])
    assert "building" not in again.stderr


def test_declined_answer_shows_hint(runner: CliRunner, index_dir: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_ANSWER_THRESHOLD", "0.99")
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "bananas in space"])
    assert result.exit_code == 0
    assert "I don't know" in result.stdout and "hint, not an answer" in result.stdout
    js = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir), "bananas?"])
    obj = _json_lines(js.stdout)[0]
    assert obj["answered"] is False and obj["passages"], "the closest passage is still shown"


BAD_QUESTIONS = [
    ("", 2, "question is empty"),
    ("   \t ", 2, "question is empty"),
    ("\x00\x01\x02", 2, "question is empty"),
]


@pytest.mark.parametrize(("question", "code", "message"), BAD_QUESTIONS)
def test_empty_questions_are_usage_errors(runner: CliRunner, index_dir: Path,
                                          question: str, code: int, message: str) -> None:
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), question])
    assert result.exit_code == code
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "question",
    ["?!?...", "🙂🚀🔥", "Как долго длилась встреча?", "会议持续了多长时间？",
     "How long\x00 did the\x07 meeting last?", "x" * 200_000, "meeting " * 30_000],
)
def test_odd_questions_answer_or_decline(runner: CliRunner, index_dir: Path,
                                         question: str) -> None:
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir), question])
    assert result.exit_code == 0, result.output
    obj = _json_lines(result.stdout)[0]
    assert isinstance(obj["answered"], bool) and "\x00" not in obj["question"]
    assert len(obj["question"]) <= 2000
    if not any(ch.isalnum() for ch in question):
        assert obj["answered"] is False


def test_unknown_doc_lists_known_ones(runner: CliRunner, index_dir: Path) -> None:
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "--doc", "nope", "hi"])
    assert result.exit_code == 2
    assert "unknown document 'nope'" in result.stderr and ARTICLE_DOC in result.stderr


def test_doc_filter(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "other.txt").write_text("Meetings last long. Cats sleep.", encoding="utf-8")
    idx = tmp_path / "two"
    build = runner.invoke(cli, ["index", "build", "--index-dir", str(idx), "--source",
                                str(tmp_path / "other.txt"), "--source",
                                str(builtin_article())])
    assert build.exit_code == 0, build.output
    for doc in ("other", ARTICLE_DOC):
        result = runner.invoke(cli, ["ask", "--json", "-k", "5", "--index-dir", str(idx),
                                     "--doc", doc, "How long did the meeting last?"])
        passages = _json_lines(result.stdout)[0]["passages"]
        assert passages and {p["doc"] for p in passages} == {doc}


def test_missing_and_empty_index_dir_are_built(runner: CliRunner, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The configured folder; one named by --index-dir is refused (issue 32: a typo)."""
    (tmp_path / "empty").mkdir()
    for name in ("none", "empty"):
        monkeypatch.setenv("QABOT_INDEX_DIR", str(tmp_path / name))
        result = runner.invoke(cli, ["ask", "--json", "hi"])
        assert result.exit_code == 0, result.output
        assert f"no index at {tmp_path / name}: building it" in result.stderr
        assert (tmp_path / name / "manifest.json").is_file()


def test_truncated_faiss_and_bad_manifest(runner: CliRunner, index_dir: Path) -> None:
    vectors = index_dir / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "hi"])
    assert result.exit_code == 1 and "corrupt" in result.stderr
    assert "qabot index build" in result.stderr and "Traceback" not in result.output
    (index_dir / "manifest.json").write_text("not json at all")
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "hi"])
    assert result.exit_code == 1 and "manifest.json is not valid JSON" in result.stderr


def test_settings_error_is_one_line_exit_2(runner: CliRunner,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_TOP_K", "500")
    result = runner.invoke(cli, ["ask", "hi"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("qabot: error: invalid setting QABOT_TOP_K: Input should "
                                     "be less than or equal to 50 (allowed: 1 to 50)")


def test_usage_errors(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["ask", "-k", "0", "x"]).exit_code == 2
    assert runner.invoke(cli, ["nope"]).exit_code == 2
    both = runner.invoke(cli, ["ask", "--batch", "-", "question"], input="x\n")
    assert both.exit_code == 2 and "not both" in both.stderr


BATCH = "\n".join([
    "How long did the meeting last?",
    "",
    '{"question": "Who is Lavrov?", "doc": "trump-putin-g20-meeting"}',
    '{"question": 5}',
    '{"question": "broken',
    '{"question": "Where?", "doc": "missing-doc"}',
    "   ",
    "Who interrupted the talks?",
]) + "\n"


def _check_batch(stdout: str) -> None:
    rows = _json_lines(stdout)
    assert [r.get("question") for r in rows] == [
        "How long did the meeting last?", "Who is Lavrov?", None, None, "Where?",
        "Who interrupted the talks?"]
    assert [("error" in r) for r in rows] == [False, False, True, True, True, False]
    assert "line 4" in rows[2]["error"] and "line 5" in rows[3]["error"]
    assert "unknown document 'missing-doc'" in rows[4]["error"]
    assert all(r["passages"] for r in rows if "error" not in r)


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_batch_keeps_order_and_reports_bad_lines(runner: CliRunner, index_dir: Path,
                                                 tmp_path: Path, via: str) -> None:
    if via == "file":
        path = tmp_path / "questions.txt"
        path.write_text(BATCH, encoding="utf-8")
        result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir),
                                     "--batch", str(path)])
    else:
        result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir),
                                     "--batch", "-"], input=BATCH)
    assert result.exit_code == 1
    assert "3 batch lines could not be answered" in result.stderr
    _check_batch(result.stdout)


def test_batch_all_good_exits_0_and_encodes_once(runner: CliRunner, index_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import index.answering.configured

    emb = FakeEmbedder()
    monkeypatch.setattr(index.answering.configured, "default_embedder", lambda settings, *_: emb)
    questions = "".join(f"Question number {i}?\n" for i in range(20))
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(index_dir), "--batch",
                                 "-"], input=questions)
    assert result.exit_code == 0
    assert len(_json_lines(result.stdout)) == 20
    assert emb.calls == [20], "questions of a batch are encoded together"


def test_batch_missing_file(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["ask", "--batch", "/no/such/file"])
    # One line (click's usage error was four), a usage error still.
    assert result.exit_code == 2
    assert result.stderr == "qabot: error: /no/such/file: no such file\n"


def test_index_build_reports_skips_and_bad_sources(runner: CliRunner, index_dir: Path,
                                                   tmp_path: Path) -> None:
    again = runner.invoke(cli, ["index", "build", "--index-dir", str(index_dir)])
    assert again.exit_code == 0 and "up to date" in again.stdout and "skipped" in again.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "doc": "d", "text": "x"}\n{oops\n', encoding="utf-8")
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(index_dir),
                                 "--source", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2: not valid JSON" in result.stderr and "Traceback" not in result.output
    info = runner.invoke(cli, ["index", "info", "--index-dir", str(index_dir)])
    assert "35 units in 1 document\n" in info.stdout, "the failed build left the index as it was"


def test_index_build_jsonl_source(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "units.jsonl"
    src.write_text('{"id": "u1", "doc": "faq", "text": "The shop opens at nine."}\n'
                   '{"id": "u2", "doc": "faq", "text": "Parking is free on Sundays."}\n',
                   encoding="utf-8")
    idx = tmp_path / "faq"
    assert runner.invoke(cli, ["index", "build", "--index-dir", str(idx), "--source",
                               str(src)]).exit_code == 0
    result = runner.invoke(cli, ["ask", "--json", "--index-dir", str(idx), "When does the "
                                 "shop open?"])
    best = _json_lines(result.stdout)[0]["passages"][0]
    assert (best["id"], best["doc"], best["sentence"]) == ("u1", "faq", 0)


def test_python_dash_m_bot_help() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "ask" in result.stdout


@pytest.mark.parametrize("argv", [["--help"], ["ask", "--help"], ["ask", "-k", "0", "x"],
                                  ["ask", ""]])
def test_fast_paths_import_no_torch(argv: list[str], tmp_path: Path) -> None:
    code = ("import sys\nfrom bot.cli import cli\n"
            f"try:\n    cli.main({argv!r}, prog_name='qabot')\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'sentence_transformers', 'faiss', 'numpy', "
            "'pymilvus') "
            "if m in sys.modules]\nprint('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).parents[2])
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_settings_error_imports_no_torch(tmp_path: Path) -> None:
    code = ("import sys\nfrom bot.cli import cli\n"
            "try:\n    cli.main(['ask', 'hi'], prog_name='qabot')\nexcept SystemExit as e:\n"
            "    print('CODE', e.code)\n"
            "print('HEAVY', [m for m in ('torch', 'sentence_transformers') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).parents[2],
                         env={"QABOT_CONTEXT_WINDOW": "-3", "PATH": "/usr/bin:/bin"})
    assert "CODE 2" in out.stdout and "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "QABOT_CONTEXT_WINDOW" in out.stderr


def test_index_build_never_wipes_a_folder_with_a_stray_manifest(runner: CliRunner,
                                                                tmp_path: Path) -> None:
    """The reported repro: `{}` in manifest.json beside the user's files."""
    project = tmp_path / "p"
    (project / "src").mkdir(parents=True)
    (project / "manifest.json").write_text("{}")
    (project / "NOTES.txt").write_text("keep")
    (project / "src" / "app.js").write_text("x")
    result = runner.invoke(cli, ["index", "build", "--index-dir", str(project)])
    assert result.exit_code == 1
    assert "not a qabot index folder" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in project.iterdir()) == ["NOTES.txt", "manifest.json", "src"]
    assert (project / "src" / "app.js").read_text() == "x"


@pytest.mark.parametrize(("env", "verdict", "head"), [
    ({"QABOT_ANSWER_THRESHOLD": "0", "QABOT_LIKELY_THRESHOLD": "0"}, "answer", "Answer ["),
    ({"QABOT_ANSWER_THRESHOLD": "1", "QABOT_LIKELY_THRESHOLD": "0"}, "likely",
     "Likely answer ["),
    ({"QABOT_ANSWER_THRESHOLD": "1", "QABOT_LIKELY_THRESHOLD": "1"}, "unknown",
     "I don't know: I found no answer in the article"),
])
def test_verdicts_in_text_and_json(runner: CliRunner, index_dir: Path,
                                   monkeypatch: pytest.MonkeyPatch, env: dict, verdict: str,
                                   head: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = ["ask", "--index-dir", str(index_dir), "How long did the meeting last?"]
    (obj,) = _json_lines(runner.invoke(cli, [*args[:1], "--json", *args[1:]]).stdout)
    assert obj["verdict"] == verdict and obj["answered"] == (verdict == "answer")
    text = runner.invoke(cli, args)
    assert text.exit_code == 0 and text.stdout.startswith(head)


def test_a_bad_likely_threshold_is_a_usage_error(runner: CliRunner, index_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QABOT_LIKELY_THRESHOLD", "2")
    result = runner.invoke(cli, ["ask", "--index-dir", str(index_dir), "Who met?"])
    assert result.exit_code == 2 and "QABOT_LIKELY_THRESHOLD" in result.stderr
    assert "Traceback" not in result.output
