"""Export the bundled encoder and reranker to ONNX for the question path without torch.

    python -m training.export                 # both, into index/models/*-onnx, pinned
    python -m training.export --what reranker --precision dynamic-int8-excl \
        --out build/precision/dynamic-int8-excl   # a lighter variant (training/quantise.py;
                                                  # measured in docs/performance.md)
    python -m training.export --what encoder --out DIR

Each export is the whole sentence-transformers pipeline in one graph (the encoder: the
transformer, mean pooling and normalisation; the reranker: the CrossEncoder's logit), made
with torch's exporter from the models the torch path loads. It is verified before it is
written: on the built-in article's sentences and the article question set, the encoder's
vectors must have a cosine of at least ``MIN_COSINE`` to the torch ones (the reranker's
logits: within ``MAX_LOGIT_DIFF``), else nothing is written. A lighter-precision variant
(``--precision``, :mod:`training.quantise`; only with ``--out``, never pinned) is checked
against the torch model on the same texts, the reranker's also by how many of its 12 lists
keep their best pair (``top1_agreement``), and written whatever it measures; whether it is
good enough is measured on the real question sets by ``python -m benchmarks.precision``.
``export.json`` records the source weights' sha256, the graph's sha256, the precision and
what the check measured; the graph's sha256 is pinned in ``index/models/pins.json``
(:func:`training.pins.pin`) when the export goes to the shipped place.
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
    SPAN_OUTPUTS,
    TOKENIZER_FILE,
)
from index.modelling.pins import Model
from training.pins import pin
from training.quantise import PRECISIONS, describe, quantise

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


def _export_graph(module: Any, example: dict[str, Any], out: Path, output: str,
                  per_token: Sequence[str] = ()) -> None:
    """Export ``module``: its ``output`` by batch row, and ``per_token`` outputs (a span
    head's) by batch row and token."""
    import torch

    dynamic = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, *per_token)}
    dynamic[output] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(module, tuple(example[name] for name in INPUTS), str(out),
                          input_names=list(INPUTS), output_names=[output, *per_token],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


def _quantise(out: Path, precision: str, folder: Path, max_length: int,
              keep_float: Sequence[str] | None, only: Sequence[str] | None = None) -> None:
    # Only matrix products (training/quantise.py): the embeddings (Gather) stay float32.
    quantise(out / MODEL_FILE, precision, tokenizer_file=folder / TOKENIZER_FILE,
             max_length=max_length, exclude=keep_float, only=only)


def export_encoder(folder: Path, out: Path, *, precision: str = "float32",
                    keep_float: Sequence[str] | None = None) -> dict[str, Any]:
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
    max_length = int(model.max_seq_length or 512)
    _quantise(out, precision, folder, max_length, keep_float)
    shutil.copyfile(folder / TOKENIZER_FILE, out / TOKENIZER_FILE)
    texts, _ = sample_texts()
    reference = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    _write_info(out, kind="encoder", folder=folder, max_length=max_length,
                dimension=int(reference.shape[1]), precision=precision,
                keep_float=keep_float)
    got = OnnxEmbedder(out, pinned="").encode(texts, batch_size=16)
    cosine = np.sum(got * reference, axis=1)
    return {"texts": len(texts), "min_cosine": float(cosine.min()),
            "mean_cosine": float(cosine.mean())}


def export_reranker(folder: Path, out: Path, *, precision: str = "float32",
                    keep_float: Sequence[str] | None = None,
                    only: Sequence[str] | None = None) -> dict[str, Any]:
    """Export the CrossEncoder in ``folder`` into ``out``; return the check."""
    import numpy as np
    import torch

    from index.modelling.calibration import OWN_SIGMOID
    from index.modelling.onnx_runtime import OnnxReranker
    from index.modelling.phrase import SPAN_HEAD
    from index.modelling.reranker import CrossEncoderReranker
    from training.span import build_module

    reference_model = CrossEncoderReranker(str(folder))
    model = reference_model._model.model.eval()
    tokenizer = reference_model._model.tokenizer
    spans = (folder / SPAN_HEAD).is_file()
    joint = build_module(folder).eval() if spans else None

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model if joint is None else joint

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            if joint is not None:  # the logit (as a [batch, 1] column) and the span logits
                logit, start, end = self.model(input_ids, attention_mask, token_type_ids)
                return logit.unsqueeze(-1), start, end
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    example = tokenizer(["a question", "another question"], ["a sentence", "a longer one here"],
                        padding=True, return_tensors="pt")
    _export_graph(Pipeline().eval(), example, out / MODEL_FILE, "logit",
                  SPAN_OUTPUTS if spans else ())
    max_length = int(reference_model._model.max_length)
    _quantise(out, precision, folder, max_length, keep_float, only)
    shutil.copyfile(folder / TOKENIZER_FILE, out / TOKENIZER_FILE)
    _write_info(out, kind="reranker", folder=folder, max_length=max_length, dimension=1,
                precision=precision, keep_float=keep_float, only=only,
                outputs=("logit", *SPAN_OUTPUTS) if spans else ("logit",))
    _, pairs = sample_texts()
    onnx = OnnxReranker(out, calibration=OWN_SIGMOID, pinned="")
    reference, got = [], []
    for question in dict.fromkeys(q for q, _ in pairs):
        passages = [p for q, p in pairs if q == question]
        reference.append(reference_model.score(question, passages))
        got.append(onnx.score(question, passages))
    diff = np.abs(np.concatenate(reference) - np.concatenate(got))
    same = [int(np.argmax(r)) == int(np.argmax(g)) for r, g in zip(reference, got, strict=True)
            if len(r) > 1]
    check = {"pairs": len(pairs), "max_logit_diff": float(diff.max()),
             "mean_logit_diff": float(diff.mean()), "lists": len(same),
             "top1_agreement": sum(same) / len(same)}
    if joint is not None:
        check["max_span_logit_diff"] = _span_diff(reference_model, onnx, pairs)
    return check


def _span_diff(reference: Any, onnx: Any, pairs: Sequence[tuple[str, str]]) -> float:
    """The largest difference of a passage token's start or end logit between the torch
    runtime's reading (``CrossEncoderReranker.score_spans``) and the export's, over
    ``pairs``."""
    import numpy as np

    worst = 0.0
    for question, text in pairs:
        (want,), (got,) = (m.score_spans(question, [text])[1] for m in (reference, onnx))
        mask = got.allowed
        for ref, out in ((want.start_logits, got.start_logits),
                         (want.end_logits, got.end_logits)):
            worst = max(worst, float(np.abs(ref[: len(mask)][mask] - out[mask]).max(
                initial=0.0)))
    return worst


def _write_info(out: Path, *, kind: str, folder: Path, max_length: int, dimension: int,
                precision: str, keep_float: Sequence[str] | None,
                only: Sequence[str] | None = None,
                outputs: Sequence[str] = ("logit",)) -> None:
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
        **({"outputs": list(outputs)} if kind == "reranker" else {}),
        "quantisation": describe(precision, keep_float, only),
        "precision": precision,
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
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="A lighter variant (training/quantise.py); only with --out.")
    parser.add_argument("--keep-float", type=lambda v: [g for g in v.split(",") if g],
                        help="Groups of matrix products kept float32 by static-int8 (default "
                        "SENSITIVE of training/quantise.py) or dynamic-int8-excl (instead of "
                        "its QUANTISED), comma-separated: qkv, attention-out, ffn-in, "
                        "ffn-out, layer.N or layer.N/GROUP.")
    parser.add_argument("--only", type=lambda v: [g for g in v.split(",") if g],
                        help="dynamic-int8-excl of the reranker: quantise just these groups "
                        "(e.g. layer.5/ffn-out,layer.4), every other product float32.")
    parser.add_argument("--int8", action="store_const", const="dynamic-int8",
                        dest="precision", help="The same as --precision dynamic-int8.")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.out and args.what == "both":
        parser.error("--out needs --what encoder or --what reranker")
    if args.precision != "float32" and not args.out:
        parser.error("a lighter --precision is written only with --out (it is not shipped)")
    from training.runtime import start

    base, _ = start(args.threads, 13)
    from index.modelling.reranker import BUNDLED_DIR

    jobs: list[tuple[str, Path, Path, Model]] = []
    if args.what in {"encoder", "both"}:
        jobs.append(("encoder", base, args.out or ENCODER_EXPORT, "encoder-onnx"))
    if args.what in {"reranker", "both"}:
        jobs.append(("reranker", BUNDLED_DIR, args.out or RERANKER_EXPORT, "reranker-onnx"))
    lighter = args.precision != "float32"
    for kind, folder, out, model in jobs:
        started = time.perf_counter()
        tmp = out.with_name(out.name + ".new")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            if kind == "encoder":
                check = export_encoder(folder, tmp, precision=args.precision,
                                       keep_float=args.keep_float)
                ok = lighter or check["min_cosine"] >= MIN_COSINE
            else:
                check = export_reranker(folder, tmp, precision=args.precision,
                                        keep_float=args.keep_float, only=args.only)
                ok = lighter or (check["max_logit_diff"] <= MAX_LOGIT_DIFF and
                                 check.get("max_span_logit_diff", 0.0) <= MAX_LOGIT_DIFF)
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
