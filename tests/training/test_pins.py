"""The model pins: one JSON file, read by the loaders, written by one training helper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import ModelError
from index.modelling.pins import MODELS, PINS_FILE, read_pins
from training.pins import pin


def test_the_shipped_pins_name_every_model_once() -> None:
    pins = read_pins()
    assert sorted(pins) == sorted(MODELS)
    assert len(set(pins.values())) == len(MODELS)


def test_pin_replaces_one_digest_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    path.write_bytes(PINS_FILE.read_bytes())
    before = read_pins(path)
    pin("reranker", "ab" * 32, path)
    after = read_pins(path)
    assert after["reranker"] == "ab" * 32
    assert {k: v for k, v in after.items() if k != "reranker"} == \
        {k: v for k, v in before.items() if k != "reranker"}
    assert not (tmp_path / "pins.json.new").exists()


def test_pin_refuses_what_is_not_a_sha256_and_leaves_the_pins(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    path.write_bytes(PINS_FILE.read_bytes())
    with pytest.raises(ModelError, match="malformed"):
        pin("encoder-onnx", "not a digest", path)
    assert path.read_bytes() == PINS_FILE.read_bytes()
    with pytest.raises(ValueError, match="unknown model"):
        pin("tokenizer", "ab" * 32, path)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["{", "[]", json.dumps({"encoder": "ABC"})])
def test_damaged_pins_are_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pins.json"
    path.write_text(text)
    with pytest.raises(ModelError) as err:
        read_pins(path)
    assert "\n" not in str(err.value) and "reinstall qabot" in str(err.value)
