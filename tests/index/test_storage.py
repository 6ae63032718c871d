from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from index.errors import IndexLoadError
from index.sources.documents import load_sources
from index.storage.build import build_index
from index.storage.folder import MANIFEST, UNITS, VECTORS
from index.storage.loading import load_index
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path, emb: FakeEmbedder):
    return load_index(path, model=emb.name, fingerprint=emb.fingerprint,
                      dimension=emb.dimension)


def _doc(tmp_path: Path, name: str, text: str):
    path = tmp_path / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return load_sources([path])


def test_build_writes_manifest_units_and_faiss(tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    result = build_index(load_sources(), fake_embedder, index)
    assert not result.skipped and result.units == 35 and result.documents == 1
    manifest = json.loads((index / MANIFEST).read_text())
    for key in ("format_version", "model", "corpus_hash", "splitter", "units", "built_at",
                "versions", "files", "documents", "faiss"):
        assert key in manifest
    assert manifest["model"] == {"name": "fake-embedder", "fingerprint":
                                 fake_embedder.fingerprint, "dimension": 64}
    assert manifest["units"] == 35 and manifest["faiss"]["kind"] == "flat"
    units = json.loads((index / UNITS).read_text())
    assert units[2]["id"] == "trump-putin-g20-meeting:2"
    data = _load(index, fake_embedder)
    assert len(data.store) == 35 and data.units[2].text.endswith("15 minutes.")
    beside = sorted(p.name for p in tmp_path.glob(".idx.*"))
    assert len(beside) == 2 and beside[0] == ".idx.lock", "no temporary folders are left behind"
    assert beside[1].startswith(".idx.v-") and os.readlink(index) == beside[1]


def test_unchanged_corpus_is_skipped_and_changed_one_rebuilt(tmp_path: Path,
                                                             fake_embedder) -> None:
    index = tmp_path / "idx"
    build_index(_doc(tmp_path, "a", "One. Two."), fake_embedder, index)
    calls = len(fake_embedder.calls)
    again = build_index(_doc(tmp_path, "a", "One. Two."), fake_embedder, index)
    assert again.skipped and "unchanged" in again.reason
    assert len(fake_embedder.calls) == calls, "a skipped build encodes nothing"
    changed = build_index(_doc(tmp_path, "a", "One. Two. Three."), fake_embedder, index)
    assert not changed.skipped and changed.units == 3
    forced = build_index(_doc(tmp_path, "a", "One. Two. Three."), fake_embedder, index,
                         force=True)
    assert not forced.skipped


def test_other_model_builds_anew(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    build_index(load_sources(), FakeEmbedder(), index)
    assert not build_index(load_sources(), FakeEmbedder(name="other"), index).skipped


def test_interrupted_build_leaves_previous_index(tmp_path: Path, fake_embedder) -> None:
    index = tmp_path / "idx"
    build_index(_doc(tmp_path, "old", "Old text here."), fake_embedder, index)

    def boom() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index(_doc(tmp_path, "new", "New text. More."), fake_embedder, index,
                    on_encoded=boom)
    data = _load(index, fake_embedder)
    assert [u.doc for u in data.units] == ["old"]
    assert not list(tmp_path.glob(".idx.build-*"))


def test_killed_build_leaves_previous_index_answering(tmp_path: Path, settings) -> None:
    """SIGKILL a real build process half-way; the old index still loads and answers."""
    from index.answering.engine import Engine

    index = Path(settings.index_dir)
    emb = FakeEmbedder()
    build_index(load_sources(), emb, index)
    big = tmp_path / "big.txt"
    big.write_text(" ".join(f"Sentence number {i} is here." for i in range(300)),
                   encoding="utf-8")
    marker = tmp_path / "encoding"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from index.sources.documents import load_sources
        from index.storage.build import build_index
        from tests.fakes import FakeEmbedder

        class Slow(FakeEmbedder):
            def encode(self, texts, **kw):
                out = super().encode(texts, **kw)
                Path({str(marker)!r}).write_text("x")
                time.sleep(60)
                return out

        build_index(load_sources([Path({str(big)!r})]), Slow(), Path({str(index)!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the build process died early"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    engine = Engine(settings, emb)
    engine.load()
    answer = engine.ask("How long did the meeting last?")
    assert answer.passages[0].unit.doc == "trump-putin-g20-meeting"
    assert len(engine.data.units) == 35


def test_refuses_to_replace_a_folder_that_is_not_an_index(tmp_path: Path,
                                                          fake_embedder) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(IndexLoadError, match="not a qabot index folder"):
        build_index(load_sources(), fake_embedder, precious)
    assert (precious / "thesis.tex").read_text() == "do not delete"


@pytest.fixture
def built(tmp_path: Path, fake_embedder) -> Path:
    index = tmp_path / "idx"
    build_index(load_sources(), fake_embedder, index)
    return index


def test_truncated_faiss_file_is_detected(built: Path, fake_embedder) -> None:
    data = (built / VECTORS).read_bytes()
    (built / VECTORS).write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexLoadError, match="vectors.faiss has .* bytes.*qabot index build"):
        _load(built, fake_embedder)


def test_corrupt_faiss_file_same_size_is_detected(built: Path, fake_embedder) -> None:
    size = (built / VECTORS).stat().st_size
    (built / VECTORS).write_bytes(b"\x00" * size)
    with pytest.raises(IndexLoadError, match="fails its checksum.*qabot index build"):
        _load(built, fake_embedder)


def test_manifest_that_is_not_json(built: Path, fake_embedder) -> None:
    (built / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexLoadError, match="manifest.json is not valid JSON.*index build"):
        _load(built, fake_embedder)


def test_missing_index(tmp_path: Path, fake_embedder) -> None:
    with pytest.raises(IndexLoadError, match="no index at"):
        _load(tmp_path / "nothing", fake_embedder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(format_version=99), "format version 99"),
        (lambda m: m["model"].update(name="other-model"), "built with model 'other-model'"),
        (lambda m: m["model"].update(dimension=768), "dimension 768"),
        (lambda m: m["model"].update(fingerprint="abc"), "different weights"),
    ],
)
def test_incompatible_manifest_is_refused(built: Path, fake_embedder, change, message) -> None:
    manifest = json.loads((built / MANIFEST).read_text())
    change(manifest)
    (built / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match=message) as err:
        _load(built, fake_embedder)
    assert "qabot index build" in str(err.value)


def test_rebuild_encodes_only_new_units(tmp_path: Path) -> None:
    import numpy as np

    emb = FakeEmbedder()
    index = tmp_path / "idx"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("One apple. Two pears. Three plums.")
    build_index(load_sources([tmp_path / "src"]), emb, index)
    (tmp_path / "src" / "b.txt").write_text("Four figs. Five kiwis.")
    emb.calls.clear()
    result = build_index(load_sources([tmp_path / "src"]), emb, index)
    assert (result.reused, result.encoded) == (3, 2) and emb.calls == [2]
    reused = _load(index, emb)
    full = tmp_path / "full"
    build_index(load_sources([tmp_path / "src"]), FakeEmbedder(), full)
    ids = np.arange(5)
    assert np.allclose(reused.store.vectors(ids), _load(full, emb).store.vectors(ids))
    emb.calls.clear()
    forced = build_index(load_sources([tmp_path / "src"]), emb, index, force=True)
    assert forced.reused == 0 and emb.calls == [5], "--force re-encodes everything"


def test_a_changed_title_is_encoded_again(tmp_path: Path) -> None:
    emb = FakeEmbedder()
    index = tmp_path / "idx"
    line = '{"id": "u1", "doc": "d", "text": "Some text.", "title": "%s"}\n'
    src = tmp_path / "units.jsonl"
    src.write_text(line % "First title")
    build_index(load_sources([src]), emb, index)
    src.write_text(line % "Other title")
    assert build_index(load_sources([src]), emb, index).reused == 0


def test_other_weights_reuse_nothing(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    build_index(load_sources(), FakeEmbedder(), index)
    other = FakeEmbedder()
    other.fingerprint = "0" * 64
    assert build_index(load_sources(), other, index).reused == 0


def test_lexical_model_is_saved_checked_and_loaded(built: Path, fake_embedder) -> None:
    from index.modelling.lexical import LEXICAL_FILES
    from index.modelling.lexical_build import build_lexical
    from index.storage.loading import load_lexical

    manifest = json.loads((built / MANIFEST).read_text())
    assert all(name in manifest["files"] for name in LEXICAL_FILES)
    data = _load(built, fake_embedder)
    saved = load_lexical(data)
    fresh = build_lexical([u.text for u in data.units])
    q = fresh.query_ids("How long did the meeting last?")
    assert (saved.bm25(q) == fresh.bm25(q)).all()
    path = built / "lexical.idf.npy"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IndexLoadError, match="lexical.idf.npy fails its checksum"):
        _load(built, fake_embedder)


def test_index_without_lexical_files_is_refused_then_rebuilt(built: Path,
                                                             fake_embedder) -> None:
    """Only development builds wrote indexes without a lexical model: refused with the
    rebuild command, and a plain build (same corpus) repairs it instead of skipping."""
    from index.modelling.lexical import LEXICAL_FILES
    from index.storage.loading import load_lexical

    manifest = json.loads((built / MANIFEST).read_text())
    for name in LEXICAL_FILES:
        del manifest["files"][name]
        (built / name).unlink()
    (built / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match="no lexical model.*qabot index build"):
        load_lexical(_load(built, fake_embedder))
    result = build_index(load_sources(), fake_embedder, built)
    assert not result.skipped
    assert load_lexical(_load(built, fake_embedder)).size == 35


@pytest.mark.parametrize(
    "manifest",
    ["{}", '{"format_version": 1}', '{"format_version": 1, "files": {"notes.txt": {}}}',
     "[1, 2]"],
)
def test_a_folder_with_a_foreign_manifest_is_never_replaced(tmp_path: Path, fake_embedder,
                                                            manifest: str) -> None:
    """The reported data loss: any file named manifest.json made the folder replaceable."""
    project = tmp_path / "p"
    (project / "src").mkdir(parents=True)
    (project / MANIFEST).write_text(manifest)
    (project / "NOTES.txt").write_text("keep")
    (project / "src" / "app.js").write_text("x")
    with pytest.raises(IndexLoadError, match="not a qabot index folder.*NOTES.txt"):
        build_index(load_sources(), fake_embedder, project)
    assert (project / "NOTES.txt").read_text() == "keep"
    assert (project / "src" / "app.js").read_text() == "x"
    assert (project / MANIFEST).read_text() == manifest


@pytest.mark.parametrize("manifest", ["{}", '{"format_version": 1}', '{"files": {}}', "[1]"])
def test_a_lone_manifest_that_qabot_did_not_write_is_kept(tmp_path: Path, fake_embedder,
                                                          manifest: str) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / MANIFEST).write_text(manifest)
    with pytest.raises(IndexLoadError, match="manifest.json is not qabot's"):
        build_index(load_sources(), fake_embedder, folder)
    assert (folder / MANIFEST).read_text() == manifest


def test_an_index_with_a_file_added_by_the_user_is_kept(built: Path, fake_embedder) -> None:
    (built / "my-notes.md").write_text("mine")
    with pytest.raises(IndexLoadError, match="my-notes.md"):
        build_index(load_sources(), fake_embedder, built, force=True)
    assert (built / "my-notes.md").read_text() == "mine"
    (built / "sub").mkdir()
    (built / "my-notes.md").unlink()
    with pytest.raises(IndexLoadError, match="'sub'"):
        build_index(load_sources(), fake_embedder, built, force=True)
    assert (built / "sub").is_dir()


def test_an_index_with_an_unreadable_manifest_is_rebuilt(built: Path, fake_embedder) -> None:
    (built / MANIFEST).write_text("{not json")
    result = build_index(load_sources(), fake_embedder, built)
    assert not result.skipped and len(_load(built, fake_embedder).units) == 35


def test_something_else_parked_at_the_backup_path_is_kept(built: Path, tmp_path: Path,
                                                          fake_embedder) -> None:
    other = tmp_path / ".idx.previous"
    other.mkdir()
    (other / "mine.txt").write_text("mine")
    assert not build_index(load_sources(), fake_embedder, built, force=True).skipped
    assert (other / "mine.txt").read_text() == "mine"
    assert len(_load(built, fake_embedder).units) == 35


def test_a_symlinked_index_folder_builds_again_and_again(tmp_path: Path,
                                                         fake_embedder) -> None:
    real = tmp_path / "real"
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    real.mkdir()
    for _ in range(3):
        build_index(load_sources(), fake_embedder, link, force=True)
    assert link.is_symlink() and len(_load(link, fake_embedder).units) == 35


def _old_corpus_hash(documents) -> str:
    """The corpus hash as qabot computed it before sections and URLs existed."""
    import hashlib

    digest = hashlib.sha256()
    for doc in documents:
        digest.update(b"\x00doc\x00" + doc.name.encode() + b"\x00" + doc.title.encode())
        for unit in doc.units:
            digest.update(b"\x00u\x00" + unit.id.encode() + b"\x00" + unit.text.encode())
    return digest.hexdigest()


def test_plain_text_corpus_hashes_as_before(tmp_path: Path) -> None:
    from index.storage.build import corpus_hash

    docs = load_sources()
    assert corpus_hash(docs) == _old_corpus_hash(docs)
    notes = tmp_path / "notes.md"
    notes.write_text("---\nurl: https://example.com/n\n---\n## Part\n\nText here.\n")
    assert corpus_hash(load_sources([notes])) != _old_corpus_hash(load_sources([notes]))


def test_sections_and_urls_are_stored_and_a_moved_heading_reencodes(tmp_path: Path) -> None:
    emb = FakeEmbedder()
    index = tmp_path / "idx"
    src = tmp_path / "notes.md"
    src.write_text("---\ntitle: Notes\nurl: https://example.com/n\n---\n"
                   "## Carry-over\n\nFix the build.\n")
    build_index(load_sources([src]), emb, index)
    manifest = json.loads((index / MANIFEST).read_text())
    assert manifest["documents"][0]["url"] == "https://example.com/n"
    (unit,) = json.loads((index / UNITS).read_text())
    assert (unit["section"], unit["url"]) == ("Carry-over", "https://example.com/n")
    data = _load(index, emb)
    assert data.docs["notes"].url == "https://example.com/n"
    assert (data.units[0].section, data.units[0].url) == ("Carry-over", "https://example.com/n")
    # The same sentence under another heading embeds differently: encoded again.
    src.write_text("---\ntitle: Notes\nurl: https://example.com/n\n---\n"
                   "## Done\n\nFix the build.\n")
    assert build_index(load_sources([src]), emb, index).reused == 0


def test_an_index_whose_documents_have_no_url_field_loads(built: Path, fake_embedder) -> None:
    manifest = json.loads((built / MANIFEST).read_text())
    assert all("url" not in d for d in manifest["documents"])  # as older indexes wrote it
    data = _load(built, fake_embedder)
    assert {d.url for d in data.docs.values()} == {""}
