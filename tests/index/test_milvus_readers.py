"""Several readers of one Milvus store while a third rebuilds.

milvus-lite opens its file in one process at a time (a lock file; see
test_milvus_store.py), so: readers on threads of one process share a milvus-lite file, and
reader *processes* share one ``milvus-lite server`` a URI away, as they would a Milvus
server or cluster.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from index.storage.stores.milvus import MilvusConfig, versions_of
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Where did the cat sit?"


def _corpus(tmp_path: Path, n: int) -> Path:
    """Corpus ``n``: one document, ``place-n``, that answers QUESTION."""
    path = tmp_path / "corpora" / str(n) / f"place-{n}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"The cat sat on place number {n}. Dogs bark at night. Rain fell.",
                    encoding="utf-8")
    return path


def test_two_engines_answer_while_a_third_rebuilds(tmp_path: Path, settings) -> None:
    """Threads of one process: two engines keep answering through three rebuilds by a
    third; each ends on the newest index, and no collection is left behind."""
    from index.answering.engine import Engine

    configured = settings.model_copy(update={"store": "milvus",
                                             "milvus_uri": str(tmp_path / "m.db")})
    builder = Engine(configured, FakeEmbedder(), reranker=None)
    builder.build([_corpus(tmp_path, 0)])
    readers = [Engine(configured, FakeEmbedder(), reranker=None) for _ in range(2)]
    for reader in readers:
        reader.load()
    seen: list[list[str]] = [[], []]
    errors: list[BaseException] = []
    stop = threading.Event()

    def read(i: int) -> None:
        while not stop.is_set():
            try:
                seen[i].append(readers[i].ask(QUESTION).best.unit.doc)  # type: ignore[union-attr]
            except BaseException as exc:  # noqa: BLE001 - the test reports every failure
                errors.append(exc)
                return

    threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for n in (1, 2, 3):
        while min(len(s) for s in seen) < 3 * n and not errors:
            time.sleep(0.01)
        assert not builder.rebuild([_corpus(tmp_path, n)]).skipped
    count = [len(s) for s in seen]
    while min(len(s) - c for s, c in zip(seen, count, strict=True)) < 3 and not errors:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors
    for answers in seen:
        assert answers[0] == "place-0" and answers[-1] == "place-3", answers
        assert set(answers) <= {f"place-{n}" for n in range(4)}
    alias = builder.data.manifest["milvus"]["alias"]
    assert versions_of(builder.milvus, alias) == [  # type: ignore[arg-type]
        builder.data.manifest["milvus"]["collection"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# `qabot` with the fake model: what every process below runs.
QABOT = textwrap.dedent("""
    import sys
    import index.answering.configured
    from tests.fakes import FakeEmbedder
    index.answering.configured.default_embedder = lambda *args: FakeEmbedder()
    from bot.cli import main
    sys.argv = ["qabot", *sys.argv[1:]]
    main()
""")


def _qabot(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", QABOT, *args], cwd=ROOT, text=True,
                            env={**os.environ, **env}, **kwargs)


class Repl:
    """A `qabot repl` process, its output read on a thread (a hung REPL fails the test
    instead of blocking it)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = _qabot("repl", env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def answer_doc(self) -> str:
        """Ask one question; the document its passage cites (QABOT_TOP_K=1: one passage an
        answer, so no line of an earlier answer is left to read)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(QUESTION + "\n")
        self.proc.stdin.flush()
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                pytest.fail("the REPL did not answer within 60 s")
            assert line, "the REPL ended"
            found = re.search(r"\[(place-\d+), sentence", line)
            if found:
                return found.group(1)

    def close(self) -> tuple[int, str]:
        """End the REPL (end of input); its exit code and stderr."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.proc.stdin.close()
        code = self.proc.wait(60)
        return code, self.proc.stderr.read()


def test_two_repl_processes_answer_while_a_third_rebuilds(tmp_path: Path) -> None:
    """Processes: a milvus-lite server holds the store; two `qabot repl` processes answer
    from it while a third, `qabot index build`, rebuilds twice. No question fails, and the
    REPLs answer from each new index as soon as it is switched in."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "m.db"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    repls: list[Repl] = []
    index = tmp_path / "idx"
    env = {"QABOT_STORE": "milvus", "QABOT_MILVUS_URI": f"http://127.0.0.1:{port}",
           "QABOT_RERANKER": "none", "QABOT_TOP_K": "1", "QABOT_INDEX_DIR": str(index)}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("the milvus-lite server did not start")
                time.sleep(0.1)

        def build(n: int) -> None:
            done = _qabot("index", "build", "--source", str(_corpus(tmp_path, n)), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = done.communicate(timeout=120)
            assert done.returncode == 0 and "built index at" in out, err

        build(0)
        repls = [Repl(env) for _ in range(2)]
        for repl in repls:
            assert repl.answer_doc() == "place-0"
        for n in (1, 2):
            build(n)
            for repl in repls:
                assert repl.answer_doc() == f"place-{n}", "the new index, at once"
        alias = json.loads((index / "manifest.json").read_text())["milvus"]["alias"]
        milvus = MilvusConfig(uri=env["QABOT_MILVUS_URI"])
        assert len(versions_of(milvus, alias)) == 1, "the old collections are dropped"
        for repl in repls:
            code, err = repl.close()
            assert code == 0 and "error" not in err, err
    finally:
        for repl in repls:
            if repl.proc.poll() is None:
                repl.proc.kill()
        server.terminate()
        server.wait(30)
