"""Every third-party package the source imports is declared, so a fresh clone's `make run` works."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# FastAPI is built on Starlette and pins its version; declaring it twice would only fight that pin.
PROVIDED_BY_DECLARED = {"starlette": "fastapi"}


def _imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"nokor"}


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def test_every_imported_package_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_normal(re.split(r"[<>=\[ ;!~]", dep)[0]) for dep in project["dependencies"]}
    distributions = metadata.packages_distributions()
    undeclared = []
    for module in sorted(_imported_top_level_modules()):
        if PROVIDED_BY_DECLARED.get(module) in declared:
            continue
        if not {_normal(d) for d in distributions.get(module, [])} & declared:
            undeclared.append(module)
    assert undeclared == [], f"imported but not in pyproject.toml dependencies: {undeclared}"
