"""index/__init__.py: the engine's public surface, loaded lazily."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import index

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_name_resolves_to_what_its_module_defines() -> None:
    for name in index.__all__:
        value = getattr(index, name)
        if name == "evaluate":
            assert isinstance(value, types.ModuleType)
            continue
        # A submodule named like a public name would shadow it once imported.
        assert not isinstance(value, types.ModuleType), name
        module, attribute = index._WHERE[name]
        assert value is getattr(sys.modules[module], attribute), name


def test_importing_the_package_imports_none_of_its_modules() -> None:
    code = ("import sys, index; print(__import__('json').dumps(sorted(m for m in sys.modules "
            "if m.startswith('index.') or m in ('numpy', 'faiss', 'torch', 'pydantic'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert json.loads(out.stdout) == []


def test_the_front_ends_import_only_the_package() -> None:
    import ast

    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    "index."):
                offenders.append(f"{path.relative_to(ROOT)}: {node.module}")
    assert offenders == []
