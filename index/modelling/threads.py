"""How many CPU threads the models and FAISS use (``QABOT_THREADS``).

Unset, answering uses one thread: a single question is too small to gain from a second one
(4 ms to encode either way), and a second busy thread on a shared 2-core machine made p50 7×
slower while another process ran (docs/performance.md). A build encodes thousands of
sentences in batches and uses every core, and so does ``qabot ask --batch``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Literal

from index.wording import plural

if TYPE_CHECKING:
    from config import Settings

log = logging.getLogger(__name__)

Purpose = Literal["answer", "build"]


def thread_count(settings: Settings, purpose: Purpose = "answer") -> int:
    """The configured thread count, else the default for ``purpose``."""
    if settings.threads is not None:
        return settings.threads
    return 1 if purpose == "answer" else max(1, os.cpu_count() or 1)


_configured: list[int] = []  # the count apply_threads was given, for libraries loaded later


def apply_threads(count: int) -> None:
    """Use ``count`` threads in torch and FAISS: now if they are loaded, else when they are
    (the torch models and :func:`faiss_module` apply it). ONNX Runtime sessions take it when
    they are made."""
    _configured[:] = [count]
    faiss = sys.modules.get("faiss")
    if faiss is not None:
        faiss.omp_set_num_threads(count)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
    log.debug("using %s", plural(count, "CPU thread"))


def faiss_module() -> Any:
    """Import faiss (not before it is needed: 80 ms) with the configured thread count."""
    first = "faiss" not in sys.modules
    import faiss

    if first and _configured:
        faiss.omp_set_num_threads(_configured[0])
    return faiss
