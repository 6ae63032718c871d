"""bot/installed.py: a foreign module named like one of qabot's is said in one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.installed import EXIT_USAGE, foreign_module
from config.exits import EXIT_USAGE as CONFIG_EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]


def test_the_exit_code_is_the_usage_code_defined_in_config() -> None:
    assert EXIT_USAGE == CONFIG_EXIT_USAGE


def test_this_checkout_has_no_foreign_module() -> None:
    assert foreign_module() is None


@pytest.mark.parametrize("entry", [["-m", "bot"], ["-c", "from bot.cli import main; main()"]])
@pytest.mark.parametrize("name", ["config", "index"])
def test_a_foreign_package_first_on_the_path_is_one_line_and_exit_2(
        tmp_path: Path, entry: list[str], name: str) -> None:
    foreign = tmp_path / "elsewhere" / name
    foreign.mkdir(parents=True)
    (foreign / "__init__.py").write_text('VALUE = "not qabot"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(foreign.parent), str(ROOT)])}
    # cwd elsewhere: ``python -m`` puts the working folder first on the path.
    out = subprocess.run([sys.executable, *entry, "ask", "hi"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr[-800:]
    assert out.stdout == ""
    [line] = out.stderr.splitlines()
    assert line.startswith(f"qabot: error: the module {name!r} ")
    assert str(foreign / "__init__.py") in line and "Traceback" not in out.stderr
