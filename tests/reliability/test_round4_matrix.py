"""Round 4 (issue 32), the matrix: every path option and every path-valued setting, fed the
same hostile paths, gives one line and exit 1 or 2, never a traceback.

The hostile paths: a name too long for the OS, a name that is not UTF-8, a path behind a
folder that cannot be searched (EACCES), a FIFO, a symbolic link loop, and a file where a
folder is expected. A name that is not UTF-8 may also be read, when it names a good file
(a question file, a source): a path is not wrong for its bytes alone.

The CLI runs in-process (click's runner) where that is enough; the FIFO and EACCES cases
run in a process of their own, under a time limit: a FIFO that is opened blocks forever,
and root searches any folder unless the process drops the capabilities that let it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

import index.answering.configured
from tests.fakes import FakeEmbedder, FakeReranker
from tests.reliability.round4 import environment

REAL_EMBEDDER = index.answering.configured.default_embedder
REAL_RERANKER = index.answering.configured.default_reranker
NO_ROOT_READS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
TIMEOUT = 60
QUESTION = "Who met Putin?"
GOOD = {"batch": f"{QUESTION}\n",
        "eval": '{"question": "Who met Putin?", "gold": ["Putin"]}\n',
        "source": "Boats float on water.\n"}
# In a process of its own: the fake models unless the input is a model's (argv[1] names
# the real one kept), and Discord never reached (a run that gets that far fails the test).
CLI = textwrap.dedent("""
    import sys
    import index.answering.configured
    from tests.fakes import FakeEmbedder, FakeReranker
    real = sys.argv.pop(1)
    if real != "embedder":
        index.answering.configured.default_embedder = lambda settings, *_: FakeEmbedder()
    if real != "reranker":
        index.answering.configured.default_reranker = lambda settings, *_: FakeReranker()
    import bot.discord_bot

    async def _serve(*args, **kwargs):
        print("CONNECTING TO DISCORD", file=sys.stderr)
        sys.exit(99)

    bot.discord_bot._serve = _serve
    from bot.cli import main
    main()
""")


@dataclass(frozen=True)
class Input:
    """A way a path reaches qabot: an option (``args`` holds ``{P}``) or a setting."""

    args: tuple[str, ...]
    setting: str = ""
    kind: str = "folder"  # what the path names: "folder", "file" (of GOOD[content]), "any"
    content: str = ""
    suffix: str = ""
    real: str = ""  # the real model kept: "embedder" or "reranker"
    env: dict[str, str] = field(default_factory=dict)
    stdin: str = ""


ASK = ("ask", "--index-dir", "idx", QUESTION)
INPUTS = {
    "ask --index-dir": Input(("ask", "--index-dir", "{P}", QUESTION)),
    "ask --batch": Input(("ask", "--index-dir", "idx", "--batch", "{P}"), kind="file",
                         content="batch"),
    "index build --index-dir": Input(("index", "build", "--index-dir", "{P}")),
    "index build --source": Input(("index", "build", "--index-dir", "new", "--source", "{P}"),
                                  kind="any", content="source", suffix=".txt"),
    "index info --index-dir": Input(("index", "info", "--index-dir", "{P}")),
    "repl --index-dir": Input(("repl", "--index-dir", "{P}"), stdin=f"{QUESTION}\n"),
    "eval --index-dir": Input(("eval", "--index-dir", "{P}", "questions.jsonl")),
    "eval FILE": Input(("eval", "--index-dir", "idx", "{P}"), kind="file", content="eval"),
    "QABOT_INDEX_DIR": Input(("ask", QUESTION), setting="QABOT_INDEX_DIR"),
    "QABOT_SOURCES": Input(("index", "build", "--index-dir", "new"), setting="QABOT_SOURCES",
                           kind="any", content="source", suffix=".txt"),
    "QABOT_MODEL": Input(("index", "build", "--index-dir", "new"), setting="QABOT_MODEL",
                         real="embedder", env={"HF_HUB_OFFLINE": "1"}),
    "QABOT_RERANKER": Input(ASK, setting="QABOT_RERANKER", real="reranker",
                            env={"HF_HUB_OFFLINE": "1"}),
    "QABOT_DISCORD_VOTES_FILE": Input(("discord",), setting="QABOT_DISCORD_VOTES_FILE",
                                      kind="file", suffix=".jsonl",
                                      env={"QABOT_DISCORD_TOKEN": "not-a-token"}),
    "QABOT_MILVUS_URI": Input(("index", "build", "--index-dir", "new"),
                              setting="QABOT_MILVUS_URI", kind="file", suffix=".db",
                              env={"QABOT_STORE": "milvus"}),
}
CASES = ("too-long", "not-utf8", "eacces", "fifo", "loop", "file-for-folder")
IN_A_PROCESS = ("eacces", "fifo")
# What the one line shows of each hostile path (or it names the setting).
MARKS = {"too-long": "nnnnnnnnnn", "not-utf8": "\\udcff", "eacces": "locked", "fifo": "fifo",
         "loop": "loop", "file-for-folder": "plain.txt"}


def hostile(tmp_path: Path, case: str, given: Input) -> str:
    """Make the hostile path of ``case`` in ``tmp_path`` (the working folder); return it."""
    suffix = given.suffix
    good = GOOD.get(given.content, "")
    if case == "too-long":
        return "n" * (256 - len(suffix)) + suffix
    if case == "not-utf8":
        name = os.fsdecode(b"x\xff") + suffix
        if given.kind in ("file", "any") and good:
            (tmp_path / name).write_text(good)  # a good file: it may be read
        return name
    if case == "eacces":
        (tmp_path / "locked").mkdir()
        inside = tmp_path / "locked" / f"item{suffix}"
        if given.kind in ("file", "any"):
            inside.write_text(good)
        (tmp_path / "locked").chmod(0)
        return f"locked/item{suffix}"
    if case == "fifo":
        os.mkfifo(tmp_path / f"fifo{suffix}")
        return f"fifo{suffix}"
    if case == "loop":
        os.symlink(f"loop{suffix}", tmp_path / f"loop{suffix}")
        return f"loop{suffix}"
    (tmp_path / "plain.txt").write_text(GOOD["source"])
    return "plain.txt" if given.kind == "folder" else f"plain.txt/inside{suffix}"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working folder: an index "idx" of the built-in article and a question file."""
    from bot.cli import cli

    monkeypatch.setattr(index.answering.configured, "default_embedder",
                        lambda settings, *_: FakeEmbedder())
    built = CliRunner().invoke(cli, ["index", "build", "--index-dir", "idx"])
    assert built.exit_code == 0, built.output
    (tmp_path / "questions.jsonl").write_text(GOOD["eval"])
    yield tmp_path
    if (tmp_path / "locked").exists():
        (tmp_path / "locked").chmod(0o755)


def _in_process(monkeypatch: pytest.MonkeyPatch, given: Input, args: list[str],
                env: dict[str, str]) -> tuple[int, str, BaseException | None]:
    from bot.cli import cli

    async def _serve(*_: object, **__: object) -> None:
        raise AssertionError("the run reached Discord")

    import bot.discord_bot

    monkeypatch.setattr(bot.discord_bot, "_serve", _serve)
    monkeypatch.setattr(index.answering.configured, "default_embedder", REAL_EMBEDDER
                        if given.real == "embedder" else lambda settings, *_: FakeEmbedder())
    monkeypatch.setattr(index.answering.configured, "default_reranker", REAL_RERANKER
                        if given.real == "reranker" else lambda settings, *_: FakeReranker())
    result = CliRunner().invoke(cli, args, env=env, input=given.stdin or None)
    exc = result.exception
    return result.exit_code, result.stderr, None if isinstance(exc, SystemExit) else exc


def _in_a_process(cwd: Path, case: str, given: Input, args: list[str],
                  env: dict[str, str]) -> tuple[int, str, BaseException | None]:
    prefix = NO_ROOT_READS if case == "eacces" and os.geteuid() == 0 else []
    try:
        proc = subprocess.run([*prefix, sys.executable, "-c", CLI, given.real or "none", *args],
                              cwd=cwd, env=environment(cwd, env), input=given.stdin,
                              capture_output=True, text=True, errors="replace",
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"qabot {args!r} still running after {TIMEOUT} s")
    return proc.returncode, proc.stderr, None


def _can_drop_root_reads() -> bool:
    if os.geteuid() != 0:
        return True
    try:
        probe = subprocess.run([*NO_ROOT_READS, "true"], capture_output=True, timeout=30,
                               check=False)
    except OSError:
        return False
    return probe.returncode == 0


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", list(INPUTS))
def test_a_hostile_path_is_one_line_and_exit_1_or_2(workdir: Path, name: str, case: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    given = INPUTS[name]
    if given.setting == "QABOT_MILVUS_URI":
        pytest.importorskip("pymilvus")
    if case == "eacces" and not _can_drop_root_reads():
        pytest.skip("running as root without setpriv: every folder can be searched")
    if case == "not-utf8" and name == "QABOT_DISCORD_VOTES_FILE":
        pytest.skip("a vote file may have any name: the bot would connect")
    path = hostile(workdir, case, given)
    args = [path if arg == "{P}" else arg for arg in given.args]
    env = {**given.env, **({given.setting: path} if given.setting else {})}
    run = _in_a_process(workdir, case, given, args, env) if case in IN_A_PROCESS \
        else _in_process(monkeypatch, given, args, env)
    code, stderr, exc = run
    assert exc is None, f"{type(exc).__name__}: {exc}"
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = stderr.strip().splitlines()
    if case == "not-utf8" and given.kind in ("file", "any") and code == 0:
        return  # a good file, read
    assert code in (1, 2), (code, stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("qabot: error: "), stderr[-3000:]
    assert (given.setting and given.setting in lines[0]) or MARKS[case] in lines[0], lines[0]
