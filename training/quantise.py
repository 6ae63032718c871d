"""Lighter-precision variants of an exported graph (issue 29), all made by ONNX Runtime's
quantisation tools (``onnxruntime.quantization``), none by hand.

The variants (``python -m training.export --precision NAME``):

- ``float32``: the graph as exported (the shipped one);
- ``dynamic-int8``: every matrix product with a weight quantised dynamically (weights int8
  per output channel, activations uint8 per tensor at run time): the naive one, measured
  before and not kept (ONNX Runtime leaves the attention's activation-by-activation
  products float32 anyway);
- ``dynamic-int8-excl``: as ``dynamic-int8``, but only the products of :data:`QUANTISED`
  (or ``--only``; or all but ``--keep-float``), chosen by their sensitivity on training
  pairs (``python -m benchmarks.precision --sensitivity cells``), the rest float32;
- ``static-int8``: QLinearMatMul, weights per channel and activations with fixed ranges
  (MinMax) calibrated on (question, sentence) pairs of the SQuAD 2.0 *training* subset of
  ``qa-train`` (:func:`training_pairs`), :data:`SENSITIVE` kept float32;
- ``fp16``: the weights and the arithmetic in float16, inputs and output float32.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
QA_TRAIN = ROOT.parent / "shared" / "data" / "qa-train"
TRAIN_FILE = "squad2-train-subset.json.gz"
PRECISIONS = ("float32", "dynamic-int8", "dynamic-int8-excl", "static-int8", "fp16")
# Groups of a BERT layer's matrix products, by the end of the node's name after its layer
# (``/model/bert/encoder/layer.N/...``).
GROUPS = {
    "qkv": r"attention/self/(query|key|value)/MatMul",
    "scores": r"attention/self/MatMul(_1)?",
    "attention-out": r"attention/output/dense/MatMul",
    "ffn-in": r"intermediate/dense/MatMul",
    "ffn-out": r"output/dense/MatMul",
}
# The groups kept float32 by ``static-int8`` (and ``dynamic-int8-excl --keep-float``
# unset with ``--only``): the one that moved the logits most when quantised alone, on
# training pairs (``python -m benchmarks.precision --sensitivity groups``).
SENSITIVE: tuple[str, ...] = ("ffn-out",)
# The products ``dynamic-int8-excl`` quantises: each (layer, group) quantised alone on 300
# training pairs (``--sensitivity cells``), taken in order of the logit it moves per
# multiply-add while the sum of those moves stays within 0.045 (docs/performance.md,
# "Lighter precision (issue 29)"). A third of the products' work, the least sensitive.
QUANTISED: tuple[str, ...] = (
    "layer.5/ffn-out", "layer.4/ffn-out", "layer.0/qkv", "layer.5/attention-out",
    "layer.5/ffn-in", "layer.5/qkv", "layer.4/attention-out", "layer.4/ffn-in")


def matmuls(path: Path) -> list[tuple[str, bool]]:
    """The graph's MatMul nodes: (name, whether its second input is a weight)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    return [(n.name, n.input[1] in weights) for n in model.graph.node if n.op_type == "MatMul"]


def group_pattern(group: str) -> re.Pattern[str]:
    """A key of :data:`GROUPS` (in every layer), ``layer.N`` (every product of layer N) or
    ``layer.N/GROUP`` (one group of layer N)."""
    layer, _, name = group.rpartition("/")
    if not layer and re.fullmatch(r"layer\.\d+", name):
        layer, name = name, ""
    if not (layer or name) or (name and name not in GROUPS) or \
            (layer and not re.fullmatch(r"layer\.\d+", layer)):
        raise ValueError(f"unknown group {group!r}: GROUP, layer.N or layer.N/GROUP, with "
                         f"GROUP one of {', '.join(GROUPS)}")
    head = re.escape(f"/{layer}/") if layer else r"/layer\.\d+/"
    return re.compile(head + (GROUPS[name] + "$" if name else ""))


def in_groups(path: Path, groups: Sequence[str]) -> list[str]:
    """The names of the MatMul nodes of ``groups`` (:func:`group_pattern`)."""
    patterns = [group_pattern(g) for g in groups]
    return [name for name, _ in matmuls(path) if any(p.search(name) for p in patterns)]


def weight_matmuls(path: Path, exclude: Sequence[str] = (),
                   only: Sequence[str] | None = None) -> list[str]:
    """The MatMuls with a weight, those of the groups ``exclude`` left out; with ``only``,
    just those of these groups."""
    excluded = set(in_groups(path, exclude))
    chosen = None if only is None else set(in_groups(path, only))
    return [name for name, weighted in matmuls(path) if weighted and name not in excluded
            and (chosen is None or name in chosen)]


def training_pairs(limit: int, *, data: Path = QA_TRAIN, seed: int = 29) -> list[tuple[str, str]]:
    """(question, "title: sentence") pairs from the SQuAD 2.0 training subset: each picked
    question with up to ten sentences of its own paragraph, as the reranker reads them."""
    from training.data import passage, read_squad

    questions = list(read_squad(data / TRAIN_FILE))
    rng = random.Random(seed)
    rng.shuffle(questions)
    pairs: list[tuple[str, str]] = []
    for q in questions:
        pairs += [(q.question, passage(q.title, s)) for s in q.sentences[:10]]
        if len(pairs) >= limit:
            break
    return pairs[:limit]


class _PairReader:
    """The calibration data for static quantisation: one pair a run, as the engine feeds
    them (no padding)."""

    def __init__(self, tokenizer_file: Path, pairs: Sequence[tuple[str, str]],
                 max_length: int) -> None:
        import numpy as np
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
        tokenizer.no_padding()
        self._feeds: Iterator[dict[str, Any]] = iter([
            {"input_ids": np.array([e.ids], dtype=np.int64),
             "attention_mask": np.ones((1, len(e.ids)), dtype=np.int64),
             "token_type_ids": np.array([e.type_ids], dtype=np.int64)}
            for e in tokenizer.encode_batch(list(pairs))])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


def quantise(path: Path, precision: str, *, tokenizer_file: Path, max_length: int,
             calibration_pairs: int = 200, exclude: Sequence[str] | None = None,
             only: Sequence[str] | None = None) -> None:
    """Replace the float32 graph at ``path`` by its ``precision`` variant."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    if precision == "float32":
        return
    out = path.with_name(f"model.{precision}.onnx")
    sensitive = SENSITIVE if exclude is None else tuple(exclude)
    if precision == "dynamic-int8":
        quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    elif precision == "dynamic-int8-excl":
        if only is None and exclude is None:
            only = QUANTISED
        nodes = weight_matmuls(path, tuple(exclude or ()) if only else sensitive, only)
        quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes,
                         extra_options={"MatMulConstBOnly": True})
    elif precision == "static-int8":
        pairs = training_pairs(calibration_pairs)
        reader = _PairReader(tokenizer_file, pairs, max_length)
        # QOperator (QLinearMatMul): QDQ with only the products quantised leaves float
        # MatMuls between DequantizeLinear nodes, 1.8x slower than float32 (measured).
        quantize_static(str(path), str(out), reader,
                        quant_format=QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["MatMul"],
                        nodes_to_quantize=weight_matmuls(path, sensitive),
                        calibrate_method=CalibrationMethod.MinMax)
        log.info("static int8 calibrated on %d training pairs", len(pairs))
    else:  # fp16
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True)
        onnx.save(model, str(out))
    out.replace(path)


def describe(precision: str, exclude: Sequence[str] | None = None,
             only: Sequence[str] | None = None) -> str:
    """What ``export.json`` records as the quantisation."""
    kept = ", ".join(SENSITIVE if exclude is None else exclude) or "nothing"
    if precision == "dynamic-int8-excl" and only is None and exclude is None:
        only = QUANTISED
    if only:
        kept = f"all but {', '.join(only)}"
    return {
        "float32": "none (float32)",
        "dynamic-int8": "dynamic int8 (weights per channel, every MatMul)",
        "dynamic-int8-excl": f"dynamic int8 (weights per channel, MatMuls with a weight; "
                             f"float32: {kept})",
        "static-int8": f"static int8 QOperator (weights per channel, activations uint8 "
                       f"MinMax, calibrated on SQuAD "
                       f"2.0 training pairs of qa-train; MatMuls with a weight; float32: "
                       f"{kept})",
        "fp16": "float16 (inputs and output float32)",
    }[precision]
