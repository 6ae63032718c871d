"""Ship a trained reranker inside the package: copy it to ``index/models/reranker`` and pin
the sha256 of its weights in ``index/models/pins.json`` (checked on every load).

    python -m training.ship build/reranker

The folder must hold a CrossEncoder (``python -m training.reranker``), its ``card.json`` and
its ``calibration.json`` (``python -m training.calibrate``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from index.files import sha256_file
from index.modelling.calibration import Calibration
from index.modelling.phrase import SPAN_HEAD
from index.modelling.reranker import BUNDLED_DIR, BUNDLED_WEIGHTS, CALIBRATION
from training.pins import pin

SHIPPED = ("config.json", "config_sentence_transformers.json", "modules.json",
           "sentence_bert_config.json", "tokenizer.json", "tokenizer_config.json",
           BUNDLED_WEIGHTS, CALIBRATION, "card.json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.ship", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="the trained, calibrated reranker folder")
    p.add_argument("--eval", type=Path, action="append", default=[], metavar="JSON",
                   help="output of `qabot eval --json` with this reranker, recorded in the "
                   "model card (repeatable)")
    args = p.parse_args(argv)
    missing = [n for n in SHIPPED if not (args.model / n).is_file()]
    if missing:
        print(f"ship: {args.model} lacks {', '.join(missing)}", file=sys.stderr)
        return 1
    Calibration.load(args.model / CALIBRATION)  # refuse a malformed one now
    card = json.loads((args.model / "card.json").read_text(encoding="utf-8"))
    calibration = json.loads((args.model / CALIBRATION).read_text(encoding="utf-8"))
    card["evaluation"] = {
        "calibration data, cross-validated": {
            "data": calibration.get("fitted_on"),
            "figures": calibration.get("cross_validated")},
        **{str(json.loads(f.read_text())["file"]): json.loads(f.read_text())["metrics"]
           for f in args.eval},
    }
    digest = sha256_file(args.model / BUNDLED_WEIGHTS, follow_links=True)
    tmp = BUNDLED_DIR.with_name(BUNDLED_DIR.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in SHIPPED:
        shutil.copyfile(args.model / name, tmp / name)
    if (args.model / SPAN_HEAD).is_file():  # the phrase head (training/span.py)
        shutil.copyfile(args.model / SPAN_HEAD, tmp / SPAN_HEAD)
    (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(BUNDLED_DIR, ignore_errors=True)
    tmp.rename(BUNDLED_DIR)
    pin("reranker", digest)
    if (BUNDLED_DIR / SPAN_HEAD).is_file():
        pin("reranker-span", sha256_file(BUNDLED_DIR / SPAN_HEAD))
    print(f"shipped {args.model} -> {BUNDLED_DIR} (weights sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
