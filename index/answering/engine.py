"""The engine: one loaded index + model, answering questions; what the CLI, REPL and bot call.

A thin front: it loads, builds and swaps the index and encodes the questions; the models it
answers with are :mod:`index.answering.configured`'s, and the ranking, the calibration and
the verdict :mod:`index.answering.ranking`'s (:meth:`Engine.ranking`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from index.answering.configured import CONFIGURED, ConfiguredModels
from index.answering.ranking import Reranker, Weights
from index.answering.search import Answer, normalise_question
from index.errors import (
    IndexLoadError,
    SourceError,
    StoreSwitched,
    UsageError,
    unknown_document,
)
from index.modelling.lexical import Lexical
from index.sources.documents import Document, load_sources
from index.storage.build import BuildResult, build_index
from index.storage.folder import check_build_target, has_index
from index.storage.loading import READ_ATTEMPTS, DocInfo, IndexData, load_snapshot
from index.storage.manifest import (
    describe_sources,
    read_manifest,
    recorded_sources,
    source_label,
    source_path,
    sources_on_record,
    store_mismatch,
)

if TYPE_CHECKING:
    from config import Settings
    from index.answering.conversation import Conversation
    from index.modelling.calibration import Calibration
    from index.modelling.embedder import Embedder
    from index.storage.stores.milvus import MilvusConfig

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    """An index with its lexical model: swapped as one piece. ``names``: the words asked
    about by :meth:`Engine.is_name` so far, and the answer (bounded by NAMES_KEPT)."""

    data: IndexData
    lexical: Lexical
    names: dict[str, bool] = field(default_factory=dict)


NAMES_KEPT = 10_000


def preflight(settings: Settings, doc: str | None = None) -> bool:
    """Check the index on disk before any model loads; return True if it must be built.

    One rule however the folder was configured (environment, .env, --index-dir): a missing
    or empty folder is built from the configured sources. An index whose vectors are in
    another store than ``QABOT_STORE``, or that lacks the document ``doc``, is refused now
    (loading would refuse it too, but only after the models started loading).
    """
    index_dir = Path(settings.index_dir)
    if not has_index(index_dir):
        # Refused before the note that it will be built: inside another index, a file,
        # a FIFO or a link loop where the folder would be.
        check_build_target(index_dir)
        return True
    manifest = read_manifest(index_dir)
    built = manifest.get("store", "faiss")
    if built != settings.store:
        raise store_mismatch(index_dir, str(built), settings.store)
    if doc and doc != "all":
        names = [d["name"] for d in manifest["documents"]]
        if doc not in names:
            raise unknown_document(doc, names)
    return False


def _on_record(index_dir: Path, loaded: IndexData | None) -> list[str] | None:
    """The sources the index records, read leniently from disk, else from the ``loaded``
    copy (a damaged or deleted index still says); None when neither says."""
    recorded = sources_on_record(index_dir)
    if recorded is None and loaded is not None:
        recorded = recorded_sources(loaded.manifest) or None
    return recorded


@dataclass(frozen=True)
class BuildSources:
    """What a build reads: its sources, their documents, and the labels the index records
    when the sources are those (None: they were given or configured)."""

    paths: list[Path]
    documents: list[Document]
    recorded: list[str] | None


def build_sources(settings: Settings, given: Sequence[Path] | None = None, *,
                  loaded: IndexData | None = None,
                  notify: Callable[[str], None] | None = None) -> BuildSources:
    """Read the sources a build of ``settings``' index uses: ``given``, else those the index
    records (read leniently: a damaged index still says; else the ``loaded`` copy's), else
    the configured ones.

    Recorded sources that cannot be read raise one SourceError saying so, the index unchanged.
    """
    if given:
        return BuildSources(list(given), load_sources(given, notify=notify), None)
    recorded = _on_record(Path(settings.index_dir), loaded)
    if recorded is None:
        configured = list(settings.sources)
        return BuildSources(configured, load_sources(configured, notify=notify), None)
    paths = [source_path(s) for s in recorded]
    try:
        documents = load_sources(paths, notify=notify)
    except SourceError as exc:
        raise SourceError(f"cannot rebuild from the sources the index records: {exc}; the "
                          f"index is unchanged") from None
    return BuildSources(paths, documents, recorded)


class Engine(ConfiguredModels):
    """Answers questions from an index; thread-safe for concurrent asks and one rebuild.

    The models it answers with, and their arguments here, are :class:`ConfiguredModels`';
    this part loads, builds and swaps the index and asks it.
    """

    def __init__(self, settings: Settings, embedder: Embedder,
                 weights: Weights | None = None,
                 reranker: Reranker | None | str = CONFIGURED,
                 calibration: Calibration | None = None) -> None:
        super().__init__(settings, embedder, weights, reranker, calibration)
        self._loaded: _Loaded | None = None
        self._rebuild_lock = threading.Lock()

    # --- loading and building ------------------------------------------------------------
    @property
    def index_dir(self) -> Path:
        return Path(self.settings.index_dir)

    @property
    def milvus(self) -> MilvusConfig | None:
        """The Milvus store configured (``QABOT_STORE=milvus``), or None for FAISS."""
        if self.settings.store != "milvus":
            return None  # the FAISS default imports nothing of Milvus
        from index.storage.stores.milvus import milvus_config

        return milvus_config(self.settings)

    def load(self) -> None:
        """Load the index from disk, verified against the model."""
        data, lexical = load_snapshot(self.index_dir, model=self.embedder.name,
                                      fingerprint=self.embedder.fingerprint,
                                      dimension=self.embedder.dimension,
                                      mmap=self.settings.mmap, milvus=self.milvus)
        self._loaded = _Loaded(data, lexical)

    def load_or_build(self, notify: Callable[[str], None] | None = None) -> None:
        """Load the index; build it from the configured sources first when the folder is
        missing or empty (however it was configured)."""
        if not has_index(self.index_dir):
            labels = [source_label(s) for s in self.settings.sources]
            message = (f"no index at {self.index_dir}: building it from "
                       f"{describe_sources(labels)} (once)...")
            if notify is None:
                log.warning("%s", message)
            else:
                notify(message)
            self.build()
        self.load()

    def recorded_sources(self) -> list[Path]:
        """What the index was built from (the configured sources when it does not say)."""
        recorded = _on_record(self.index_dir, self._loaded.data if self._loaded else None)
        if recorded is None:
            return list(self.settings.sources)
        return [source_path(s) for s in recorded]

    def build(self, sources: Sequence[Path] | None = None, *, force: bool = False,
              progress: bool = False, documents: Sequence[Document] | None = None
              ) -> BuildResult:
        """Build (or skip) the index on disk from ``sources`` (default: the settings').

        ``documents`` already read from ``sources`` may be passed too.
        """
        chosen = list(sources) if sources else list(self.settings.sources)
        if documents is None:
            documents = load_sources(chosen)
        return build_index(documents, self.embedder, self.index_dir, force=force,
                           faiss_kind=self.settings.faiss_index,
                           batch_size=self.settings.batch_size, progress=progress,
                           sources=chosen, milvus=self.milvus)

    def rebuild(self, sources: Sequence[Path] | None = None, *, force: bool = False,
                progress: bool = False) -> BuildResult:
        """Build the index and swap it in; asks meanwhile use the old one. One at a time.

        Without ``sources``, from those the index was built from (recorded in it).
        """
        if not self._rebuild_lock.acquire(blocking=False):
            raise RebuildInProgress("a rebuild is already running")
        try:
            chosen = build_sources(self.settings, sources,
                                   loaded=self._loaded.data if self._loaded else None)
            result = self.build(chosen.paths, force=force, progress=progress,
                                documents=chosen.documents)
            if not result.skipped or self._loaded is None:
                self.load()  # load() assigns the new index in one step
            return result
        finally:
            self._rebuild_lock.release()

    @property
    def rebuilding(self) -> bool:
        return self._rebuild_lock.locked()

    @property
    def data(self) -> IndexData:
        if self._loaded is None:
            raise IndexLoadError("no index loaded; build one with `qabot index build`")
        return self._loaded.data

    def documents(self) -> list[DocInfo]:
        return list(self.data.docs.values())

    # --- asking ----------------------------------------------------------------------------
    def resolve_doc(self, doc: str | None, data: IndexData | None = None) -> DocInfo | None:
        """Return the named document, or raise a UsageError listing the known ones."""
        if doc is None or doc == "" or doc == "all":
            return None
        docs = (data or self.data).docs
        if doc in docs:
            return docs[doc]
        raise unknown_document(doc, list(docs))

    def ask(self, question: str, *, top_k: int | None = None, doc: str | None = None,
            conversation: Conversation | None = None) -> Answer:
        """Answer one question; in a ``conversation``, with the help of its earlier turns
        when the question leans on them (the answer's ``follows`` names the turn), and
        recorded in it as its latest turn."""
        if conversation is None:
            return self.ask_many([(question, doc)], top_k=top_k)[0]
        from index.answering.conversation import ask_in

        return ask_in(self, conversation, question, top_k=top_k, doc=doc)

    def is_name(self, word: str) -> bool:
        """Whether the index writes ``word`` as a name (capitalised inside sentences), read
        from up to NAME_SAMPLE of the units holding it (False with no index loaded)."""
        from index.answering.conversation import NAME_SAMPLE, written_as_name

        loaded = self._loaded
        if loaded is None:
            return False
        key = word.lower()
        known = loaded.names.get(key)
        if known is None:
            units = loaded.data.units
            known = written_as_name(key, (units[int(uid)].text for uid
                                          in loaded.lexical.units_with(key, NAME_SAMPLE)))
            if len(loaded.names) < NAMES_KEPT:
                loaded.names[key] = known
        return known

    def ask_many(self, questions: Sequence[tuple[str, str | None]], *,
                 top_k: int | None = None, queries: Sequence[str | None] | None = None
                 ) -> list[Answer]:
        """Answer several questions, encoding them in one batch.

        ``queries``, when given, holds for each question the text to search for in its
        place (None: the question itself), e.g. a follow-up joined with its context; the
        answer still names the question asked.

        When the index's vectors were dropped under it (a Milvus collection replaced by a
        rebuild in another process), the index now named is loaded and the questions asked
        again (up to READ_ATTEMPTS times, for rebuilds in quick succession).
        """
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return self._ask_many(questions, top_k=top_k, queries=queries)
            except StoreSwitched as exc:
                if attempt == READ_ATTEMPTS:
                    raise
                log.info("%s: loading the index again", exc)
                self.load()
        raise AssertionError("unreachable")

    def _ask_many(self, questions: Sequence[tuple[str, str | None]], *,
                  top_k: int | None = None, queries: Sequence[str | None] | None = None
                  ) -> list[Answer]:
        loaded = self._loaded
        if loaded is None:
            raise IndexLoadError("no index loaded; build one with `qabot index build`")
        prepared = []
        for n, (raw, doc) in enumerate(questions):
            text, truncated = normalise_question(raw)
            query = queries[n] if queries is not None else None
            # Resolve against the index this call uses, even if a rebuild swaps it meanwhile.
            prepared.append((text, truncated, self.resolve_doc(doc, loaded.data),
                             text if query is None else normalise_question(query)[0]))
        vectors = self.embedder.encode([p[3] for p in prepared],
                                       batch_size=self.settings.batch_size)
        k = top_k or self.settings.top_k
        ranking = self.ranking
        return [ranking.answer(loaded.data, loaded.lexical, text, vectors[i : i + 1], info=info,
                               k=k, context_window=self.settings.context_window,
                               truncated=truncated, query=query)
                for i, (text, truncated, info, query) in enumerate(prepared)]


class RebuildInProgress(UsageError):
    """A second rebuild was asked for while one runs."""
