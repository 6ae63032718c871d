"""Write requirements.txt: qabot's runtime dependencies pinned as installed, CPU torch.

A Heroku-style host installs with pip from requirements.txt, so the lock is a requirements
file: every package the runtime dependencies of pyproject.toml pull in (no dev or train
extras), at the version installed in this environment, then qabot itself (``.``). torch
comes from PyTorch's CPU index: on PyPI, Linux torch is a CUDA build of several GB.

Run it in a working venv (``make requirements``); it reads installed metadata only, with no
network. tests/test_deploy.py checks the file against pyproject.toml.
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
HEADER = f"""\
# qabot's runtime dependencies, pinned: `pip install -r requirements.txt` installs qabot.
# Heroku-style hosts read this file. Written by `make requirements` (scripts/lock.py) from
# a working venv; do not edit by hand. torch is the CPU build from PyTorch's index.
--extra-index-url {TORCH_INDEX}
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
    """The requirements file: the torch index, the pins (CPU torch), then qabot itself."""
    lines = [HEADER.rstrip("\n")]
    for name in sorted(pinned):
        version = pinned[name]
        if name == "torch" and "+" not in version:
            version += "+cpu"  # the CPU index names its builds so; PyPI's are CUDA
        lines.append(f"{name}=={version}")
    lines.append(".")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "requirements.txt")
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    try:
        pinned = closure([Requirement(r) for r in project["dependencies"]])
    except metadata.PackageNotFoundError as exc:
        print(f"lock: error: {exc.name} is not installed here: run it in qabot's venv",
              file=sys.stderr)
        return 1
    pinned.pop("qabot", None)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(render(pinned), encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out}: {len(pinned)} pinned packages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
