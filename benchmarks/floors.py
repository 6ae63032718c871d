"""The floors qabot's figures are compared with: the models' own inference, with nothing of
qabot around it (ONNX Runtime and tokenizers called directly on the shipped graphs), in
this process or as a bare ``python -c``."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Load a graph and run it, as any user of ONNX Runtime would: no qabot code.
RAW = textwrap.dedent("""
    import json, sys, time
    import numpy as np, onnxruntime as ort
    from tokenizers import Tokenizer

    def load(folder, max_length, threads):
        tok = Tokenizer.from_file(folder + "/tokenizer.json")
        tok.enable_truncation(max_length=max_length)
        tok.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return tok, ort.InferenceSession(folder + "/model.onnx", options,
                                         providers=["CPUExecutionProvider"])

    def run(session, encodings):
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), np.int64)
        mask, types = np.zeros_like(ids), np.zeros_like(ids)
        for i, e in enumerate(encodings):
            ids[i, :len(e.ids)], mask[i, :len(e.ids)], types[i, :len(e.ids)] = e.ids, 1, e.type_ids
        return session.run(None, {"input_ids": ids, "attention_mask": mask,
                                  "token_type_ids": types})[0]
""")

# The cold floor: start Python, import ONNX Runtime and tokenizers, load the encoder (and the
# reranker when passages are given), encode the question once (and read it with each
# passage). argv: encoder folder, reranker folder, question, passages JSON file or "-".
COLD = RAW + textwrap.dedent("""
    encoder_dir, reranker_dir, question, passages = sys.argv[1:5]
    tok, session = load(encoder_dir, 256, 1)
    run(session, tok.encode_batch([question]))
    if passages != "-":
        texts = json.load(open(passages))
        rtok, rsession = load(reranker_dir, 128, 1)
        for e in rtok.encode_batch([(question, t) for t in texts]):
            run(rsession, [e])
""")


class RawModels:
    """The shipped encoder and reranker driven directly (in this process)."""

    def __init__(self, threads: int = 1) -> None:
        from index.modelling.onnx_runtime import ENCODER_EXPORT, RERANKER_EXPORT

        self.ns: dict[str, Any] = {}
        exec(RAW, self.ns)  # noqa: S102 - our own constant code, shared with the cold floor
        self.encoder = self.ns["load"](str(ENCODER_EXPORT), 256, threads)
        self.reranker = self.ns["load"](str(RERANKER_EXPORT), 128, threads)

    def encode(self, texts: Sequence[str]) -> Any:
        tok, session = self.encoder
        return self.ns["run"](session, tok.encode_batch(list(texts)))

    def score(self, question: str, passages: Sequence[str]) -> list[Any]:
        tok, session = self.reranker
        return [self.ns["run"](session, [e])
                for e in tok.encode_batch([(question, p) for p in passages])]


def cold_command(python: str, question: str, passages: Path | None) -> list[str]:
    from index.modelling.onnx_runtime import ENCODER_EXPORT, RERANKER_EXPORT

    return [python, "-c", COLD, str(ENCODER_EXPORT), str(RERANKER_EXPORT), question,
            str(passages) if passages else "-"]
