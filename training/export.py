"""Export the bundled encoder and reranker to ONNX for the question path without torch.

    python -m training.export                 # both, into index/models/*-onnx, pinned
    python -m training.export --int8          # dynamic int8 quantisation (measured, see
                                              # docs/performance.md; not shipped)
    python -m training.export --what encoder --out DIR

Each export is the whole sentence-transformers pipeline in one graph (the encoder: the
transformer, mean pooling and normalisation; the reranker: the CrossEncoder's logit), made
with torch's exporter from the models the torch path loads. It is verified before it is
written: on the built-in article's sentences and the article question set, the encoder's
vectors must have a cosine of at least ``MIN_COSINE`` to the torch ones (the reranker's
logits: within ``MAX_LOGIT_DIFF``), else nothing is written. ``export.json`` records the
source weights' sha256, the graph's sha256 and what the check measured; the graph's sha256
is pinned in ``index/models/pins.json`` (:func:`training.pins.pin`) when the export goes to
the shipped place.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index.modelling.onnx_runtime import (
    ENCODER_EXPORT,
    EXPORT_FILE,
    MIN_COSINE,
    MODEL_FILE,
    RERANKER_EXPORT,
    TOKENIZER_FILE,
)
from index.modelling.pins import Model
from training.pins import pin

MAX_LOGIT_DIFF = 0.01
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
QUESTION_SET = Path(__file__).resolve().parents[1] / "index" / "data" / "article_qa.jsonl"


def sample_texts() -> tuple[list[str], list[tuple[str, str]]]:
    """The article's embedded sentences and questions, and (question, sentence) pairs."""
    from index.sources.documents import embed_text, load_sources

    docs = load_sources()
    sentences = [embed_text(u, d.title) for d in docs for u in d.units]
    questions = [json.loads(line)["question"]
                 for line in QUESTION_SET.read_text(encoding="utf-8").splitlines() if line]
    long_one = " ".join(sentences)  # longer than the maximum length: truncation is checked
    pairs = [(q, s) for q in questions[:12] for s in sentences[:10]] + [(questions[0], long_one)]
    return [*sentences, *questions, long_one, "x"], pairs


def _export_graph(module: Any, example: dict[str, Any], out: Path, output: str) -> None:
    import torch

    dynamic = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    dynamic[output] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(module, tuple(example[name] for name in INPUTS), str(out),
                          input_names=list(INPUTS), output_names=[output],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


def _quantise(path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantised = path.with_name("model.int8.onnx")
    # Only the matrix products, per output channel: the embeddings (Gather) stay float32.
    quantize_dynamic(str(path), str(quantised), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])
    quantised.replace(path)


def export_encoder(folder: Path, out: Path, *, int8: bool = False) -> dict[str, Any]:
    """Export the sentence-transformers model in ``folder`` into ``out``; return the check."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from index.modelling.onnx_runtime import OnnxEmbedder

    model = SentenceTransformer(str(folder), device="cpu").eval()

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask,
                               "token_type_ids": token_type_ids})["sentence_embedding"]

    example = model.tokenize(["a question", "a somewhat longer sentence to embed"])
    _export_graph(Pipeline().eval(), example, out / MODEL_FILE, "embedding")
    if int8:
        _quantise(out / MODEL_FILE)
    shutil.copyfile(folder / TOKENIZER_FILE, out / TOKENIZER_FILE)
    texts, _ = sample_texts()
    reference = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    _write_info(out, kind="encoder", folder=folder, max_length=int(model.max_seq_length or 512),
                dimension=int(reference.shape[1]), int8=int8)
    got = OnnxEmbedder(out, pinned="").encode(texts, batch_size=16)
    cosine = np.sum(got * reference, axis=1)
    return {"texts": len(texts), "min_cosine": float(cosine.min()),
            "mean_cosine": float(cosine.mean())}


def export_reranker(folder: Path, out: Path, *, int8: bool = False) -> dict[str, Any]:
    """Export the CrossEncoder in ``folder`` into ``out``; return the check."""
    import numpy as np
    import torch

    from index.modelling.calibration import OWN_SIGMOID
    from index.modelling.onnx_runtime import OnnxReranker
    from index.modelling.reranker import CrossEncoderReranker

    reference_model = CrossEncoderReranker(str(folder))
    model = reference_model._model.model.eval()
    tokenizer = reference_model._model.tokenizer

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    example = tokenizer(["a question", "another question"], ["a sentence", "a longer one here"],
                        padding=True, return_tensors="pt")
    _export_graph(Pipeline().eval(), example, out / MODEL_FILE, "logit")
    if int8:
        _quantise(out / MODEL_FILE)
    shutil.copyfile(folder / TOKENIZER_FILE, out / TOKENIZER_FILE)
    _write_info(out, kind="reranker", folder=folder,
                max_length=int(reference_model._model.max_length), dimension=1, int8=int8)
    _, pairs = sample_texts()
    onnx = OnnxReranker(out, calibration=OWN_SIGMOID, pinned="")
    reference, got = [], []
    for question in dict.fromkeys(q for q, _ in pairs):
        passages = [p for q, p in pairs if q == question]
        reference.append(reference_model.score(question, passages))
        got.append(onnx.score(question, passages))
    diff = np.abs(np.concatenate(reference) - np.concatenate(got))
    return {"pairs": len(pairs), "max_logit_diff": float(diff.max()),
            "mean_logit_diff": float(diff.mean())}


def _write_info(out: Path, *, kind: str, folder: Path, max_length: int, dimension: int,
                int8: bool) -> None:
    import onnxruntime
    import torch

    from index.files import sha256_file
    from index.modelling.embedder import local_fingerprint

    info = {
        "kind": kind,
        "source": {"name": "all-MiniLM-L6-v2" if kind == "encoder" else "bundled",
                   "folder": folder.name, "weights_sha256": local_fingerprint(folder)},
        "onnx_sha256": sha256_file(out / MODEL_FILE),
        "max_length": max_length,
        "dimension": dimension,
        "inputs": list(INPUTS),
        "quantisation": "dynamic int8 (weights)" if int8 else "none (float32)",
        "made_with": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                      "opset": OPSET, "exporter": "torch.onnx.export (TorchScript)"},
    }
    (out / EXPORT_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def _finish(out: Path, check: dict[str, Any], ok: bool) -> None:
    info = json.loads((out / EXPORT_FILE).read_text(encoding="utf-8"))
    info["check"] = check
    (out / EXPORT_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if not ok:
        raise SystemExit(f"export check failed, nothing written: {check}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--what", choices=["encoder", "reranker", "both"], default="both")
    parser.add_argument("--out", type=Path, help="Write here instead of the shipped place "
                        "(one of --what); nothing is pinned.")
    parser.add_argument("--int8", action="store_true", help="Quantise weights to int8.")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.out and args.what == "both":
        parser.error("--out needs --what encoder or --what reranker")
    from training.runtime import start

    base, _ = start(args.threads, 13)
    from index.modelling.reranker import BUNDLED_DIR

    jobs: list[tuple[str, Path, Path, Model]] = []
    if args.what in {"encoder", "both"}:
        jobs.append(("encoder", base, args.out or ENCODER_EXPORT, "encoder-onnx"))
    if args.what in {"reranker", "both"}:
        jobs.append(("reranker", BUNDLED_DIR, args.out or RERANKER_EXPORT, "reranker-onnx"))
    for kind, folder, out, model in jobs:
        started = time.perf_counter()
        tmp = out.with_name(out.name + ".new")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            if kind == "encoder":
                check = export_encoder(folder, tmp, int8=args.int8)
                ok = args.int8 or check["min_cosine"] >= MIN_COSINE
            else:
                check = export_reranker(folder, tmp, int8=args.int8)
                ok = args.int8 or check["max_logit_diff"] <= MAX_LOGIT_DIFF
            check["seconds"] = round(time.perf_counter() - started, 1)
            _finish(tmp, check, ok)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        digest = json.loads((out / EXPORT_FILE).read_text(encoding="utf-8"))["onnx_sha256"]
        if args.out is None:
            pin(model, digest)
        print(f"exported {kind} -> {out} ({check}; sha256 {digest})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
