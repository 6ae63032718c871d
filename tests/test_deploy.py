"""The Heroku-style deployment files: the slim requirements.txt the host reads, the full
requirements-full.txt, deploy/, .slugignore, .python-version, Procfile.

The host is not reachable from here (nor is PyTorch's CPU index): these check the files say
what the host needs, and agree with pyproject.toml. tests/test_slim_deploy.py installs the
slim deploy and runs it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from scripts import lock, slug_size

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
FULL = "requirements-full.txt"
SLIM = "requirements.txt"


def _requirements(name: str = FULL) -> tuple[list[str], dict[str, str]]:
    """(option and path lines, {name: pinned version}) of a requirements file."""
    lines = [ln.strip() for ln in (ROOT / name).read_text(encoding="utf-8")
             .splitlines() if ln.strip() and not ln.startswith("#")]
    pins: dict[str, str] = {}
    other: list[str] = []
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line)
        if match is None:
            other.append(line)
            continue
        name = canonicalize_name(match[1])
        assert name not in pins, f"{name} pinned twice"
        pins[name] = match[2]
    return other, pins


def test_torch_is_the_pinned_cpu_build_from_pytorchs_index() -> None:
    other, pins = _requirements()
    assert other[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert Version(pins["torch"]).local == "cpu"


def test_every_runtime_dependency_is_pinned_within_pyproject() -> None:
    _, pins = _requirements()
    for spec in PROJECT["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is not pinned in {FULL}"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_slim_lock_pins_every_runtime_dependency_but_the_torch_ones() -> None:
    other, pins = _requirements(SLIM)
    for spec in PROJECT["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name in lock.TORCH_ONLY:
            continue
        assert name in pins, f"{name} is not pinned in {SLIM}"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    assert not set(pins) & lock.TORCH_STACK
    assert not [o for o in other if o.startswith("--")]  # nothing from PyTorch's index


def test_the_two_locks_pin_the_same_versions() -> None:
    _, full = _requirements(FULL)
    _, slim = _requirements(SLIM)
    assert set(slim) < set(full)
    assert {n: full[n] for n in slim} == slim


@pytest.mark.parametrize("name", [FULL, SLIM])
def test_no_dev_or_training_tool_is_deployed(name: str) -> None:
    _, pins = _requirements(name)
    extras = PROJECT["optional-dependencies"]
    tools = {canonicalize_name(Requirement(r).name) for r in extras["dev"] + extras["train"]}
    # Also dependencies of the runtime: sentence-transformers imports scikit-learn, torch
    # needs setuptools, transformers and huggingface-hub packaging.
    needed_at_run_time = {"scikit-learn", "setuptools", "packaging"}
    assert set(pins) & tools <= needed_at_run_time


def test_requirements_install_qabot_itself_last() -> None:
    """`.` installs the package (its models, the `qabot` command of the Procfile)."""
    other, _ = _requirements(FULL)
    assert other[-1] == "."


def test_the_slim_lock_installs_the_command_alone_last() -> None:
    """`./deploy` installs the `qabot` command and nothing else; the checkout is the code."""
    other, _ = _requirements(SLIM)
    assert other[-1] == "./deploy"
    deploy = tomllib.loads((ROOT / "deploy" / "pyproject.toml").read_text(encoding="utf-8"))
    assert deploy["project"]["dependencies"] == []
    assert deploy["project"]["name"] != PROJECT["name"]
    assert set(deploy["project"]["scripts"]) == set(PROJECT["scripts"])
    assert deploy["project"]["requires-python"] == PROJECT["requires-python"]


def test_the_slugignore_drops_the_torch_reranker_and_nothing_the_onnx_path_reads() -> None:
    patterns = slug_size.read_slugignore(ROOT)
    models = ROOT / "index" / "models"
    assert slug_size.ignored("index/models/reranker/model.safetensors", patterns)
    kept = [p for p in models.rglob("*") if p.is_file() and p.name != "model.safetensors"]
    assert any(p.parent.name == "encoder-onnx" for p in kept)
    for path in kept:
        assert not slug_size.ignored(path.relative_to(ROOT).as_posix(), patterns), path
    for code in ("bot/cli.py", "index/answering/engine.py", "config/settings.py", "Procfile"):
        assert not slug_size.ignored(code, patterns)


@pytest.mark.parametrize(("path", "pattern", "hit"), [
    ("a/b/c.bin", "/a/b/c.bin", True),
    ("x/a/b/c.bin", "/a/b/c.bin", False),
    ("x/y/c.bin", "*.bin", True),
    ("docs/results/app.json", "docs/", True),
    ("docs", "docs/", False),  # a file named like a folder pattern stays
    ("x/docs/a.md", "/docs", False),
    ("x/docs/a.md", "docs", True),
])
def test_slugignore_patterns_read_as_the_host_reads_them(path: str, pattern: str,
                                                         hit: bool) -> None:
    assert slug_size.ignored(path, [pattern]) is hit


def test_the_python_version_is_declared_for_the_host() -> None:
    declared = (ROOT / ".python-version").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"3\.\d+", declared)
    assert SpecifierSet(PROJECT["requires-python"]).contains(f"{declared}.0")
    assert declared == tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["mypy"]["python_version"]


def test_the_procfile_runs_the_bot_through_the_installed_command() -> None:
    from bot.cli import cli

    procs = dict(line.split(":", 1) for line in
                 (ROOT / "Procfile").read_text(encoding="utf-8").splitlines() if line.strip())
    command = procs["worker"].split()
    assert command[0] in PROJECT["scripts"] and command[1] in cli.commands


def test_the_lock_writer_pins_cpu_torch_and_ends_with_the_project() -> None:
    text = lock.render({"torch": "2.13.0", "numpy": "2.4.6"})
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines == ["--extra-index-url https://download.pytorch.org/whl/cpu",
                     "numpy==2.4.6", "torch==2.13.0+cpu", "."]


def test_the_slim_lock_writer_ends_with_the_command_and_refuses_torch() -> None:
    text = lock.render_slim({"onnxruntime": "1.32.0", "numpy": "2.4.6"})
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines == ["numpy==2.4.6", "onnxruntime==1.32.0", "./deploy"]
    with pytest.raises(ValueError, match="transformers"):
        lock.render_slim({"numpy": "2.4.6", "transformers": "5.24.0"})


def test_the_lock_writer_follows_dependencies_with_their_markers() -> None:
    pinned = lock.closure([Requirement("pydantic-settings"),
                           Requirement("nothing-at-all; python_version < '3'")])
    assert {"pydantic-settings", "pydantic", "pydantic-core", "python-dotenv"} <= set(pinned)
    assert "nothing-at-all" not in pinned


def test_the_lock_writer_leaves_extras_nobody_asked_for_out() -> None:
    """sentence-transformers' `train` extra (datasets, accelerate) is not for the host."""
    pinned = lock.closure([Requirement("sentence-transformers")])
    assert "transformers" in pinned and "torch" in pinned
    assert not {"datasets", "accelerate"} & set(pinned)
