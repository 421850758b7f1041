"""The package's layers point only down (issue #18): an import from a higher layer, or an import
cycle between modules, fails here. Layers, lowest first (docs/architecture.md):

    errors, bounds, units, provenance, loading, measurements  (foundations, data access)
    hardware -> workload -> perf -> bands -> estimate -> economics -> serve -> explore -> validate
    -> report -> api (the public Python API) -> ui (the local web page) -> cli

``fabless.report.format`` (number formatting, importing nothing of fabless) may be used from any
layer. Every ``*cli*`` module is the top layer (it may defer a command's imports).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "fabless"
ORDER = ["errors", "bounds", "callmod", "units", "provenance", "loading", "measurements", "hardware", "workload", "perf", "bands",
         "estimate", "economics", "serve", "explore", "validate", "report", "api", "ui", "cli"]
LEAVES = {"fabless.report.format"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(mod: str) -> str | None:
    parts = mod.split(".")
    if len(parts) < 2:
        return None
    if any(p == "cli" or p.endswith("_cli") for p in parts[1:]):
        return "cli"
    return parts[1]


def _imports(path: Path, mod: str):
    """(target module, line, at module level) of every fabless import in the file."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for t in names:
            if t.startswith("fabless"):
                yield t, node.lineno, id(node) in top


def _files():
    return [(p, _module(p)) for p in sorted(ROOT.rglob("*.py"))]


def test_no_import_points_up():
    bad = []
    for path, mod in _files():
        me = _layer(mod)
        for target, line, _ in _imports(path, mod):
            t = _layer(target)
            if any(target == leaf or target.startswith(leaf + ".") for leaf in LEAVES) or t is None or me is None or t not in ORDER or me not in ORDER:
                continue
            if ORDER.index(t) > ORDER.index(me):
                bad.append(f"{mod}:{line} imports {target} ({me} -> {t})")
    assert not bad, "imports pointing up the layers:\n" + "\n".join(sorted(set(bad)))


def test_every_package_has_a_layer():
    layers = {_layer(mod) for _, mod in _files()} - {None}
    assert layers <= set(ORDER), f"packages missing from ORDER: {sorted(layers - set(ORDER))}"


def test_no_import_cycle_at_module_level():
    mods = {mod for _, mod in _files()}
    graph = {mod: set() for mod in mods}
    for path, mod in _files():
        for target, _, top in _imports(path, mod):
            if top and target in mods and target != mod and not mod.startswith(target + "."):
                graph[mod].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                cyc = visit(n)
                if cyc:
                    return cyc
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(mods):
        if m not in state:
            cyc = visit(m)
            assert cyc is None, "import cycle: " + " -> ".join(cyc)
