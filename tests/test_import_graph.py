"""The project's modules import each other without a circle (issue 22): an import cycle
makes the order modules load in matter, and a newcomer cannot read one module before the
other. Every ``import``/``from … import`` counts, lazy and typing-only ones too.

And index/'s rooms (issue 31) import one way: sources and modelling, then storage, then
answering, then evaluation; outside index/, the front ends import only ``index`` itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "config", "index", "training", "scripts", "benchmarks")


def module_names() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
                graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_project_has_no_import_cycle() -> None:
    modules = module_names()
    assert {"index.answering.engine", "bot.cli", "config"} <= set(modules)
    assert cycles(import_graph(modules)) == []


# --- the rooms of index/ (issue 31) ------------------------------------------------------
# Imports between rooms go one way: a room imports only the rooms of a lower rank (and
# itself); sources and modelling are peers at the bottom and do not import each other.
ROOMS = {"sources": 0, "modelling": 0, "storage": 1, "answering": 2, "evaluation": 3}
# The small modules every room may import, which import no room: directly in index/.
SHARED = {"index.errors", "index.wording", "index.files", "index.json_input"}
# Outside index/: the front ends and the configuration import only the public surface,
# ``index`` itself. The tools that train, export and measure the engine's parts may also
# import a room's modules (or a shared one), but only their public names (no leading "_").
SURFACE_ONLY = ("bot", "config")
TOOLS = ("training", "benchmarks", "scripts")


def room_of(module: str) -> str | None:
    """The room of an ``index.<room>…`` module; None for ``index`` and the shared ones."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "index" and parts[1] in ROOMS else None


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Every import inside index/ against the rooms' direction, as "importer -> imported"."""
    found = []
    for name in sorted(graph):
        if name == "index" or not name.startswith("index."):
            continue  # index/__init__.py is the surface over all the rooms (lazily)
        room = room_of(name)
        if room is None and name not in SHARED:
            found.append(f"{name}: neither in a room nor shared")
            continue
        for target in sorted(graph[name]):
            if target in SHARED or not target.startswith("index"):
                continue
            other = room_of(target)
            allowed = room is not None and other is not None and (
                other == room or ROOMS[other] < ROOMS[room])
            if not allowed:
                found.append(f"{name} -> {target}")
    return found


def outside_imports(modules: dict[str, Path]) -> list[str]:
    """Every import from outside index/ that the rule above does not allow."""
    found = []
    for name, path in sorted(modules.items()):
        package = name.split(".")[0]
        if package == "index":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [(a.name, []) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [(node.module, [a.name for a in node.names])]
            else:
                continue
            for target, names in targets:
                if not target.startswith("index."):
                    continue  # not index/, or ``index`` itself: always allowed
                tool_may = package in TOOLS and (target in SHARED or room_of(target))
                private = [n for n in names if n.startswith("_")]
                if not tool_may or private:
                    found.append(f"{name} -> {target} {private or ''}".rstrip())
    return found


def test_the_direction_check_sees_a_wrong_way_import() -> None:
    graph = {
        "index": {"index.answering.engine"},
        "index.errors": set(),
        "index.sources.splitter": {"index.errors"},
        "index.modelling.lexical": {"index.json_input"},
        "index.storage.build": {"index.sources.splitter", "index.modelling.lexical"},
        "index.answering.engine": {"index.storage.build", "index.answering.ranking"},
        "index.answering.ranking": set(),
        "index.evaluation.evaluate": {"index.answering.engine"},
    }
    assert wrong_way(graph) == []
    graph["index.sources.splitter"].add("index.answering.ranking")  # upward
    graph["index.modelling.lexical"].add("index.sources.splitter")  # between the peers
    graph["index.storage.build"].add("index")  # the surface, from inside
    graph["index.errors"].add("index.storage.build")  # a shared module importing a room
    graph["index.helpers"] = set()  # a new module directly in index/
    assert wrong_way(graph) == [
        "index.errors -> index.storage.build",
        "index.helpers: neither in a room nor shared",
        "index.modelling.lexical -> index.sources.splitter",
        "index.sources.splitter -> index.answering.ranking",
        "index.storage.build -> index",
    ]


def test_the_rooms_import_one_way() -> None:
    modules = module_names()
    assert {"index.sources.documents", "index.modelling.embedder", "index.storage.build",
            "index.answering.engine", "index.evaluation.evaluate"} <= set(modules)
    assert SHARED <= set(modules)
    assert wrong_way(import_graph(modules)) == []


def test_outside_index_only_the_surface_and_the_rooms_public_names() -> None:
    assert outside_imports(module_names()) == []
