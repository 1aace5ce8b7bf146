"""The import graph has no circles, at the level of single modules.

`lint-imports` (pyproject.toml `[tool.importlinter]`) checks the layers and the circles
between sibling modules and packages; a module importing its own package's `__init__`
while that `__init__` imports it (`triage.cli` ↔ `triage.cli.data`, once) is no sibling
circle, so this test walks the whole module graph, TYPE_CHECKING imports and imports
inside functions included, and names every circle it finds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

ROOTS = ("triage", "features", "models", "training", "api")


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    group.append(m)
                    if m == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def _graph_of(tmp_path: Path, files: dict[str, str]) -> grimp.ImportGraph:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sys.path.insert(0, str(tmp_path))
    try:
        return grimp.build_graph("pkg", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
        for m in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
            del sys.modules[m]


def test_the_project_has_no_import_circles():
    graph = grimp.build_graph(*ROOTS, cache_dir=None)
    assert circles(graph) == []


def test_a_circle_through_a_package_init_or_a_function_is_found(tmp_path):
    """Check that the walk sees what the sibling contract does not: a child importing its
    parent package, and an import made inside a function."""
    graph = _graph_of(tmp_path, {
        "pkg/__init__.py": "from pkg import child\n",
        "pkg/child.py": "def run():\n    from pkg import main\n",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": "def f():\n    import pkg.a\n",
        "pkg/leaf.py": "import pkg.a\n",
    })
    assert sorted(circles(graph)) == [["pkg", "pkg.child"], ["pkg.a", "pkg.b"]]
