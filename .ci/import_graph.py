"""The package's import graph, measured: what issue 23 ("one core, two faces") counts.

Every import of an ``importer`` module is counted: top-level, inside functions, and under
``TYPE_CHECKING``. Prints, one figure a line:

- modules, and modules directly in ``importer/``;
- import circles (strongly connected components of more than one module), with their size;
- circles across sub-packages (the graph folded to ``importer.<first part>``);
- imports from the page (``importer.web``) of the command line (``importer.cli``);
- look-ups of a vendor by name outside ``importer/vendors/`` (and outside it, the command
  line and the page too) (``get_vendor(...)``,
  ``plugin(...)``, ``REGISTRY[...]``, ``REGISTRY.get(...)``);
- vendor names written in code outside ``importer/vendors/`` (string constants and names).

Usage: ``python .ci/import_graph.py [--json]``. Standard library only; it reads, never imports.
"""

from __future__ import annotations

import ast
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "importer"
#: Tokens that name a vendor (in strings or identifiers), for the "nothing outside vendors/
#: names a vendor" count.
VENDOR_TOKENS = ("360learning", "learning360", "zoho", "coursepath")
LOOKUPS = {"get_vendor", "plugin", "get_plugin"}


def module_name(path: Path) -> str:
    """``importer/a/b.py`` -> ``importer.a.b`` (``__init__`` is its package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The ``importer`` modules ``path`` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from pkg import mod`` imports the module ``pkg.mod``; ``from mod import name``
            # the module ``mod`` (a name that is not a module falls back to it below).
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("importer"):
                found.add(target)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found, key=len, reverse=True)


def room(module: str) -> str:
    """The sub-package a module lives in (``importer.store.sqlite`` -> ``importer.store``);
    a module directly in ``importer/`` is a room of its own."""
    parts = module.split(".")
    return ".".join(parts[:2])


def vendor_mentions(path: Path) -> tuple[int, int]:
    """(look-ups by name, vendor-name tokens) in one module's code (docstrings left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    lookups = tokens = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            owner = getattr(getattr(func, "value", None), "id", "")
            if called in LOOKUPS or (called == "get" and owner == "REGISTRY"):
                lookups += 1
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "REGISTRY":
            lookups += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and any(t in node.value.lower() for t in VENDOR_TOKENS):
                tokens += 1
        elif isinstance(node, ast.Name) and any(t in node.id.lower() for t in VENDOR_TOKENS):
            tokens += 1
    return lookups, tokens


def measure() -> dict[str, object]:
    """Every figure of the module docstring."""
    files = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    known = set(files)
    graph = {name: imports_of(path, name, known) for name, path in files.items()}
    folded: dict[str, set[str]] = defaultdict(set)
    for name, targets in graph.items():
        folded[room(name)] |= {room(t) for t in targets if room(t) != room(name)}
    web_to_cli = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("importer.web")
        for target in targets
        if target == "importer.cli" or target.startswith("importer.cli.")
    )
    lookups: dict[str, int] = {}
    tokens: dict[str, int] = {}
    for name, path in files.items():
        if name.startswith("importer.vendors"):
            continue
        found, named = vendor_mentions(path)
        if found:
            lookups[name] = found
        if named:
            tokens[name] = named
    direct = [n for n, p in files.items() if p.parent == PACKAGE and p.name != "__init__.py"]
    faces = ("importer.cli", "importer.web")
    inner = {n: k for n, k in lookups.items() if not n.startswith(faces)}
    return {
        "modules": len(files),
        "modules_directly_in_importer": len(direct),
        "circles": [len(c) for c in circles(graph)],
        "circles_across_subpackages": circles(dict(folded)),
        "web_imports_cli": web_to_cli,
        "vendor_lookups_outside_vendors": sum(lookups.values()),
        "vendor_lookups_outside_vendors_cli_web": sum(inner.values()),
        "vendor_lookups_by_module": lookups,
        "vendor_tokens_outside_vendors": sum(tokens.values()),
        "vendor_tokens_modules": len(tokens),
    }


def main() -> int:
    """Print the figures (``--json``: one JSON object)."""
    figures = measure()
    if "--json" in sys.argv[1:]:
        print(json.dumps(figures, indent=2))
        return 0
    for key, value in figures.items():
        if key == "vendor_lookups_by_module":
            continue
        if key == "circles_across_subpackages":
            value = [len(c) for c in value]  # type: ignore[attr-defined]
        shown = len(value) if key == "web_imports_cli" else value  # type: ignore[arg-type]
        print(f"{key}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
