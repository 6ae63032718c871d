"""Pin a model's sha256 in ``index/models/pins.json``: the one writer of that file
(``training.ship`` and ``training.export`` call it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from index.modelling.pins import MODELS, PINS_FILE, Model, read_pins


def pin(model: Model, digest: str, path: Path = PINS_FILE) -> None:
    """Record ``digest`` as the sha256 ``model`` is checked against (atomically)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}")
    pins = read_pins(path) if path.exists() else {}
    pins[model] = digest
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(json.dumps(dict(sorted(pins.items())), indent=2) + "\n", encoding="utf-8")
    read_pins(tmp)  # a digest that is not a sha256 is refused before it replaces the pins
    os.replace(tmp, path)
