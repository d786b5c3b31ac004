"""The import rules of ARCHITECTURE.md, enforced: no cycles (lazy imports count), the runtime never imports
``ghostscore.training``, each layer imports only the layers below it, and no module grows past 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ghostscore"
MAX_LINES = 500

# layer -> the layers it may import (besides itself and the leaves). Mirrors the table in ARCHITECTURE.md.
LEAVES = {"errors", "jsonsafe", "lazy", "textkey"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(), "jsonsafe": set(), "lazy": set(), "textkey": set(),
    "results": {"jsonsafe"},
    "document": {"errors"},
    "backbones": {"errors", "lazy"},
    "features": {"document", "results", "backbones", "errors", "textkey"},
    "classifiers": {"backbones", "errors", "lazy"},
    "detector": {"classifiers", "features", "backbones", "document", "results", "errors"},
    "auth": set(),
    "tabular": {"detector", "batch", "errors"},
    "batch": {"detector", "classifiers", "document", "errors", "jsonsafe"},
    "report": {"detector", "classifiers", "document", "results", "errors", "auth"},
    "service": {"detector", "report", "classifiers", "document", "results", "errors", "auth", "jsonsafe", "lazy"},
    "distributed": {"detector", "batch", "classifiers", "errors", "jsonsafe", "document"},
    "training": {"document", "features", "classifiers", "backbones", "detector", "results", "errors", "textkey",
                 "jsonsafe", "lazy"},
    "cli": {"*"},
    "__init__": {"detector", "document", "errors", "results"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every ghostscore module this one imports, at any depth of the file (lazy imports included)."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = base[: len(base) - (node.level - 1)]
                mod = ".".join(prefix + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("ghostscore"):
                while t not in known and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t != name:
                    out.add(t)
    return out


def layer(mod: str) -> str:
    parts = mod.split(".")
    if len(parts) == 1:
        return "__init__"
    return {"server": "service"}.get(parts[1], parts[1])


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports_of(m, p, known) for m, p in mods.items()}


def test_every_module_has_a_layer() -> None:
    unknown = sorted({layer(m) for m in modules()} - set(ALLOWED))
    assert not unknown, f"modules outside the ARCHITECTURE.md map: {unknown}"


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    # edges into a package's __init__ from its own submodules are Python's implicit parent import: skip them
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_runtime_never_imports_training(graph: dict[str, set[str]]) -> None:
    bad = sorted((m, t) for m, ts in graph.items() for t in ts
                 if t.startswith("ghostscore.training") and layer(m) not in ("training", "cli"))
    assert not bad, f"runtime modules importing ghostscore.training: {bad}"


def test_layers_import_only_what_the_map_allows(graph: dict[str, set[str]]) -> None:
    bad = []
    for m, ts in graph.items():
        allowed = ALLOWED[layer(m)]
        if "*" in allowed:
            continue
        for t in ts:
            lt = layer(t)
            if lt != layer(m) and lt not in allowed and lt not in LEAVES:
                bad.append(f"{m} -> {t}")
    assert not bad, "imports the map forbids:\n" + "\n".join(sorted(bad))


def test_no_module_over_500_lines() -> None:
    big = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_the_import_scanner_sees_lazy_and_relative_imports() -> None:
    """The rules above are only as good as the scanner: check it on a module with known imports."""
    known = set(modules())
    got = imports_of("ghostscore.features.lm", SRC / "features" / "lm.py", known)
    assert "ghostscore.features.base" in got and "ghostscore.document" in got
    assert "ghostscore.backbones" in got  # imported inside a method
