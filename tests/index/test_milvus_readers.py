"""Several readers of one Milvus store while a third rebuilds.

milvus-lite opens its file in one process at a time (a lock file; see
test_milvus_store.py), so: readers on threads of one process share a milvus-lite file, and
reader *processes* share one ``milvus-lite server`` a URI away, as they would a Milvus
server or cluster.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from index.milvus_store import MilvusConfig, versions_of
from index.sources import load_sources
from index.storage import build_index
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
    from index.engine import Engine

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


READER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from config import Settings
    from index.engine import Engine
    from tests.fakes import FakeEmbedder

    settings = Settings(_env_file=None, index_dir=sys.argv[1], store="milvus",
                        milvus_uri=sys.argv[2])
    engine = Engine(settings, FakeEmbedder(), reranker=None)
    engine.load()
    stop = Path(sys.argv[3])
    while not stop.exists():
        print(engine.ask("Where did the cat sit?").best.unit.doc, flush=True)
        time.sleep(0.02)
    print("done", flush=True)
""")


def test_two_processes_answer_while_a_third_rebuilds(tmp_path: Path) -> None:
    """Processes: a milvus-lite server holds the store; two reader processes answer from it
    while this one rebuilds twice. Neither fails, and both end on the newest index."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "m.db"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    readers: list[subprocess.Popen[str]] = []
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
        milvus = MilvusConfig(uri=f"http://127.0.0.1:{port}")
        index, stop = tmp_path / "idx", tmp_path / "stop"
        build_index(load_sources([_corpus(tmp_path, 0)]), FakeEmbedder(), index, milvus=milvus)
        readers = [subprocess.Popen([sys.executable, "-c", READER, str(index), milvus.uri,
                                     str(stop)], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for reader in readers:  # each has answered once from the first index
            assert reader.stdout is not None and reader.stdout.readline().strip() == "place-0"
        for n in (1, 2):
            assert not build_index(load_sources([_corpus(tmp_path, n)]), FakeEmbedder(),
                                   index, milvus=milvus).skipped
            time.sleep(1.0)  # the readers ask meanwhile (50 questions a second)
        stop.touch()
        for reader in readers:
            out, err = reader.communicate(timeout=60)
            lines = out.split()
            assert reader.returncode == 0 and lines[-1] == "done", err
            assert lines[-2] == "place-2" and "place-1" not in lines[lines.index("place-2"):], \
                lines
    finally:
        for reader in readers:
            if reader.poll() is None:
                reader.kill()
        server.terminate()
        server.wait(30)
