"""What the code imports is declared in pyproject.toml, and what is declared is pinned in constraints.txt."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("triage", "features", "models", "training", "api")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"]}, {_name(r) for r in project["optional-dependencies"]["dev"]}


def _optional() -> set[str]:
    """The non-dev extras (e.g. `dask`) and what those distributions bring (distributed, fsspec)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {_name(r) for extra, reqs in extras.items() if extra != "dev" for r in reqs}
    return names | {_name(r) for n in names for r in (requires(n) or [])}


def _imported() -> dict[str, str]:
    """Top-level third-party modules our packages import → one file that does."""
    found: dict[str, str] = {}
    for package in OURS:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
                )
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OURS:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_module_the_code_imports_comes_from_a_declared_runtime_dependency():
    runtime, _dev = _declared()
    runtime |= _optional()  # imported only when the extra is installed (triage/engine.py)
    dists = packages_distributions()
    missing = {
        module: where for module, where in _imported().items()
        if not {d.lower().replace("_", "-") for d in dists.get(module, [module])} & runtime
    }
    assert not missing, f"imported but not declared in [project].dependencies: {missing}"


def test_httpx_is_only_a_dev_dependency_and_everything_declared_is_pinned_in_constraints():
    runtime, dev = _declared()
    assert "httpx" in dev and "httpx" not in runtime
    pinned = {
        _name(line): line.split("==", 1)[1]
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert runtime | dev <= set(pinned), sorted((runtime | dev) - set(pinned))
