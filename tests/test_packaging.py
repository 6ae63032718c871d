"""What the wheel holds, without building it (building zips 180 MB of models: ~25 s).

setuptools' own ``build_py`` lists the files it would copy, with the warnings a real build
prints; ``make wheel`` builds the real thing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LIST_WHEEL = """
import json, os, warnings
from setuptools.dist import Distribution
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    dist = Distribution({"script_name": "setup.py"})
    dist.parse_config_files()
    build = dist.get_command_obj("build_py")
    build.ensure_finalized()
    files = [os.path.relpath(f, build.build_lib).replace(os.sep, "/")
             for f in build.get_outputs(include_bytecode=False)]
print(json.dumps({"files": sorted(files), "warnings": [str(w.message) for w in caught]}))
"""


@pytest.fixture(scope="module")
def wheel() -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", LIST_WHEEL], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    listing: dict[str, list[str]] = json.loads(out.stdout)
    return listing


def test_the_wheel_installs_exactly_bot_index_and_config(wheel: dict[str, list[str]]) -> None:
    """The names qabot claims in site-packages; tests, benchmarks and training stay out."""
    assert {f.split("/")[0] for f in wheel["files"]} == {"bot", "config", "index"}


def test_building_the_wheel_gives_no_packaging_warning(wheel: dict[str, list[str]]) -> None:
    assert wheel["warnings"] == []


def _tracked(folder: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:  # not a git checkout (an unpacked sdist): every file counts
        return {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    return set(out.stdout.split())


@pytest.mark.parametrize("package", ["bot", "config", "index"])
def test_every_tracked_file_of_the_packages_is_in_the_wheel(
        wheel: dict[str, list[str]], package: str) -> None:
    """Every module, the models (package data: they answer offline) and the article."""
    assert _tracked(package) - set(wheel["files"]) == set()


def test_the_readme_files_are_in_the_wheel(wheel: dict[str, list[str]]) -> None:
    """`qabot eval` question sets and .env.example, reachable from an installed copy: real
    files in the package (one copy each; the root .env.example points at the shipped one)."""
    shipped = ["index/data/article_qa.jsonl", "index/data/article_qa_holdout.jsonl",
               "index/data/env.example"]
    assert set(shipped) <= set(wheel["files"])
    for name in shipped:
        assert (ROOT / name).is_file() and not (ROOT / name).is_symlink(), name
    assert (ROOT / ".env.example").resolve() == (ROOT / "index/data/env.example").resolve()


def test_the_bundled_models_are_package_data(wheel: dict[str, list[str]]) -> None:
    models = {f for f in wheel["files"] if f.startswith("index/models/")}
    for name in ("encoder-onnx/model.onnx", "reranker-onnx/model.onnx",
                 "reranker/model.safetensors", "reranker/calibration.json", "first-stage.json",
                 "pins.json"):
        assert f"index/models/{name}" in models


def test_the_license_is_declared_and_shipped() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
