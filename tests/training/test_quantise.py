"""Which matrix products a lighter-precision variant quantises (training/quantise.py): the
groups name the right nodes of a BERT graph, and the shipped reranker's graph has them."""

from __future__ import annotations

import pytest

from training.quantise import GROUPS, QUANTISED, SENSITIVE, describe, group_pattern

LAYER = "/model/bert/encoder/layer.{}/"
NODES = {
    "qkv": ["attention/self/query/MatMul", "attention/self/key/MatMul",
            "attention/self/value/MatMul"],
    "scores": ["attention/self/MatMul", "attention/self/MatMul_1"],
    "attention-out": ["attention/output/dense/MatMul"],
    "ffn-in": ["intermediate/dense/MatMul"],
    "ffn-out": ["output/dense/MatMul"],
}


def _all(layers: range = range(6)) -> list[str]:
    return [LAYER.format(i) + tail for i in layers for tails in NODES.values() for tail in tails]


@pytest.mark.parametrize("group", list(GROUPS))
def test_each_group_names_its_own_nodes(group: str) -> None:
    hits = [n for n in _all() if group_pattern(group).search(n)]
    assert hits == [LAYER.format(i) + t for i in range(6) for t in NODES[group]]


def test_a_layer_and_a_layers_group() -> None:
    assert [n for n in _all() if group_pattern("layer.4").search(n)] == _all(range(4, 5))
    assert [n for n in _all() if group_pattern("layer.1/ffn-out").search(n)] == \
        [LAYER.format(1) + "output/dense/MatMul"]
    assert not group_pattern("layer.1").search(LAYER.format(11) + "output/dense/MatMul")


@pytest.mark.parametrize("bad", ["ffn", "layer.x", "layer.1/ffn", "layers.1/qkv", ""])
def test_an_unknown_group_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        group_pattern(bad)


def test_the_shipped_reranker_has_the_groups() -> None:
    from index.modelling.onnx_runtime import MODEL_FILE, RERANKER_EXPORT
    from training.quantise import in_groups, weight_matmuls

    graph = RERANKER_EXPORT / MODEL_FILE
    chosen = weight_matmuls(graph, only=QUANTISED)
    assert len(chosen) == 12  # Q/K/V count three each
    assert set(chosen) <= set(weight_matmuls(graph))
    assert not set(in_groups(graph, ["scores"])) & set(weight_matmuls(graph))
    rest = weight_matmuls(graph, SENSITIVE)
    assert len([n for n in rest if "/span/" not in n]) == 36 - 6
    assert len(rest) == 36 - 6 + 1  # and the span head's product (384 x 2)
    assert "all but layer.5/ffn-out" in describe("dynamic-int8-excl")
