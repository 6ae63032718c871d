"""The qabot engine: sources, sentence splitting, embedding, the FAISS store, search, answers.

Nothing here imports Discord. This is the engine's public surface: the front ends (``bot/``)
import what they need from ``index`` itself, never from its modules. The names are loaded
lazily (PEP 562): ``import index`` costs nothing, and heavy libraries (numpy, faiss, torch)
are imported by the modules that need them, when a name from one of those is first used.
Each use reads the module's attribute anew, so a test that replaces one there is obeyed.

The modules live in rooms, each importing only from those before it (tests/test_import_graph.py):
``sources`` (files read into units) and ``modelling`` (the models' code), then ``storage``
(the index on disk), then ``answering`` (the engine), then ``evaluation`` (a consumer of the
engine). ``errors``, ``wording``, ``files`` and ``json_input`` are shared by all of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.answering.configured import default_embedder, default_reranker
    from index.answering.conversation import Conversation, Conversations
    from index.answering.engine import (
        BuildSources,
        Engine,
        RebuildInProgress,
        build_sources,
        preflight,
    )
    from index.answering.search import Answer, Passage, has_words, normalise_question
    from index.errors import (
        DataError,
        IndexLoadError,
        QabotError,
        SourceError,
        UsageError,
        unknown_document,
    )
    from index.evaluation import evaluate
    from index.evaluation.evaluate import EvalQuestion
    from index.json_input import parse as parse_json
    from index.modelling.threads import Purpose
    from index.sources.documents import Unit, humanise
    from index.sources.lines import LINE_LIMIT, bounded_lines
    from index.storage.build import BuildResult
    from index.storage.folder import check_build_target, check_index_path, has_index
    from index.storage.loading import DocInfo, IndexData
    from index.storage.manifest import (
        describe_sources,
        read_manifest,
        recorded_sources,
        source_label,
    )
    from index.wording import plural

# Where each public name lives: (module, attribute), the module in its room (sources,
# modelling, storage, answering, evaluation) or one of the shared ones directly in index/.
_WHERE: dict[str, tuple[str, str]] = {
    **{name: ("index.answering.conversation", name) for name in ("Conversation",
                                                                  "Conversations")},
    **{name: ("index.answering.engine", name) for name in (
        "BuildSources", "Engine", "RebuildInProgress", "build_sources", "preflight")},
    **{name: ("index.answering.configured", name) for name in ("default_embedder",
                                                                "default_reranker")},
    **{name: ("index.errors", name) for name in (
        "DataError", "IndexLoadError", "QabotError", "SourceError", "UsageError",
        "unknown_document")},
    "EvalQuestion": ("index.evaluation.evaluate", "EvalQuestion"),
    "parse_json": ("index.json_input", "parse"),
    **{name: ("index.sources.lines", name) for name in ("LINE_LIMIT", "bounded_lines")},
    "plural": ("index.wording", "plural"),
    **{name: ("index.answering.search", name) for name in (
        "Answer", "Passage", "has_words", "normalise_question")},
    **{name: ("index.sources.documents", name) for name in ("Unit", "humanise")},
    "BuildResult": ("index.storage.build", "BuildResult"),
    **{name: ("index.storage.folder", name) for name in ("check_build_target",
                                                          "check_index_path", "has_index")},
    **{name: ("index.storage.loading", name) for name in ("DocInfo", "IndexData")},
    **{name: ("index.storage.manifest", name) for name in (
        "describe_sources", "read_manifest", "recorded_sources", "source_label")},
    "Purpose": ("index.modelling.threads", "Purpose"),
}
# ``evaluate`` is a module of its own (``from index import evaluate``).
_MODULES = {"evaluate": "index.evaluation.evaluate"}

__all__ = ["LINE_LIMIT", "Answer", "BuildResult", "BuildSources", "Conversation",
           "Conversations", "DataError", "DocInfo", "Engine", "EvalQuestion", "IndexData",
           "IndexLoadError", "Passage", "Purpose", "QabotError", "RebuildInProgress",
           "SourceError", "Unit", "UsageError", "bounded_lines", "build_sources",
           "check_build_target", "check_index_path", "default_embedder", "default_reranker",
           "describe_sources", "evaluate", "has_index", "has_words", "humanise",
           "normalise_question", "parse_json", "plural", "preflight", "read_manifest",
           "recorded_sources", "source_label", "unknown_document"]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'index' has no attribute {name!r}")
    module, attribute = where
    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
