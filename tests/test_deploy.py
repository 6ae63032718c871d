"""The Heroku-style deployment files: requirements.txt, .python-version, Procfile.

The host is not reachable from here (nor is PyTorch's CPU index): these check the files say
what the host needs, and agree with pyproject.toml.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from scripts import lock

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _requirements() -> tuple[list[str], dict[str, str]]:
    """(option and path lines, {name: pinned version}) of requirements.txt."""
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text(encoding="utf-8")
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
        assert name in pins, f"{name} is not pinned in requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_no_dev_or_training_tool_is_deployed() -> None:
    _, pins = _requirements()
    extras = PROJECT["optional-dependencies"]
    tools = {canonicalize_name(Requirement(r).name) for r in extras["dev"] + extras["train"]}
    # Also dependencies of the runtime: sentence-transformers imports scikit-learn, torch
    # needs setuptools, transformers packaging.
    needed_at_run_time = {"scikit-learn", "setuptools", "packaging"}
    assert set(pins) & tools <= needed_at_run_time


def test_requirements_install_qabot_itself_last() -> None:
    """`.` installs the package (its models, the `qabot` command of the Procfile)."""
    other, _ = _requirements()
    assert other[-1] == "."


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
