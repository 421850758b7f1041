"""The package's layers point only down (issue #18): an import from a higher layer, or an import
cycle between modules, fails here. Layers, lowest first (docs/architecture.md):

    errors, bounds, units, provenance, loading, params, measurements  (foundations, data access)
    hardware -> workload -> perf -> bands -> estimate -> economics -> serve -> explore -> validate
    -> report -> api (the public Python API) -> ui (the local web page) -> cli

``fabless.report.format`` (number formatting, importing nothing of fabless) may be used from any
layer. Every ``*cli*`` module is the top layer (it may defer a command's imports).

Library modules import at their top: an import inside a function (or class) of a module that is
not a CLI module fails here unless it brings a heavy optional extra (``OPTIONAL_EXTRAS``), which
is imported when it is used so that a bare install and the CLI's start-up do not pay for it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "fabless"
ORDER = ["errors", "bounds", "callmod", "units", "provenance", "loading", "params", "measurements", "hardware", "workload", "perf", "bands",
         "estimate", "economics", "serve", "explore", "validate", "report", "api", "ui", "cli"]
LEAVES = {"fabless.report.format"}
#: Heavy optional extras (pyproject's optional dependencies) a library module may import inside
#: the function that needs them.
OPTIONAL_EXTRAS = {"torch", "ray", "duckdb", "matplotlib", "plotly", "optuna", "scipy", "fastapi", "uvicorn"}


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


def _is_cli(path: Path) -> bool:
    return path.name == "cli.py" or path.name.endswith("_cli.py")


def _deferred_imports(source: str):
    """(line, imported module) of every import inside a function or class body of ``source``."""
    found = []

    def walk(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and inside:
                if isinstance(child, ast.ImportFrom):
                    mods = ["." * child.level + (child.module or "")]
                else:
                    mods = [a.name for a in child.names]
                found.extend((child.lineno, m) for m in mods)
            walk(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)))

    walk(ast.parse(source), False)
    return found


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


def test_deferred_import_detector_sees_nested_imports():
    src = ("import os\nif os.name:\n    import sys\n\ndef f():\n    from fabless import units\n"
           "    if True:\n        import torch\n\nclass C:\n    def g(self):\n        from . import x\n")
    assert _deferred_imports(src) == [(6, "fabless"), (8, "torch"), (12, ".")]


def test_library_modules_import_at_their_top():
    bad = []
    for path, mod in _files():
        if _is_cli(path):
            continue
        for line, target in _deferred_imports(path.read_text()):
            if target.split(".")[0] not in OPTIONAL_EXTRAS:
                bad.append(f"{mod}:{line} imports {target} inside a function")
    assert not bad, ("library modules import at their top (only a heavy optional extra may be deferred: "
                     "OPTIONAL_EXTRAS):\n" + "\n".join(bad))
