"""What the code imports is declared in pyproject.toml, and nothing declared goes unused."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
OUR_DIRS = ("web", "gateway", "tools", "bench", "tests")
# Modules that exist only in the page (Pyodide and PyScript provide them).
PAGE_RUNTIME = {"js", "pyodide", "pyscript"}
# Declared, but used by a tool rather than imported, each for its stated reason.
USED_WITHOUT_IMPORT = {
    "uv": "the installer tools/bootstrap.py runs",
    "ruff": "lint and format, run by make check",
    "mypy": "type check, run by make check",
    "pytest-asyncio": "a pytest plugin, loaded by pytest",
    "pytest-cov": "a pytest plugin, loaded by pytest",
    "pytest-timeout": "a pytest plugin, loaded by pytest",
    "pytest-playwright": "a pytest plugin, loaded by pytest",
    "types-pyyaml": "type stubs read by mypy",
    "httptools": "uvicorn's HTTP parser, chosen by uvicorn when installed",
}


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    return {normalise(Requirement(text).name) for text in requirements}


def local_modules() -> set[str]:
    """Our packages, and the scripts in tools/ and bench/ that import each other by name."""
    names = set(OUR_DIRS)
    for folder in ("tools", "bench"):
        names.update(path.stem for path in (ROOT / folder).glob("*.py"))
    return names


def imported_top_level() -> dict[str, str]:
    """Top-level module name -> one file importing it (absolute imports only)."""
    found: dict[str, str] = {}
    for folder in OUR_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def third_party_imports() -> dict[str, str]:
    ours = local_modules()
    return {
        name: where
        for name, where in imported_top_level().items()
        if name not in sys.stdlib_module_names and name not in ours and name not in PAGE_RUNTIME
    }


def test_every_imported_package_is_declared() -> None:
    owners = packages_distributions()
    imports = third_party_imports()
    assert imports, "found no third-party import at all"
    undeclared = {
        name: where
        for name, where in imports.items()
        if not {normalise(dist) for dist in owners.get(name, [name])} & declared()
    }
    assert undeclared == {}


def test_every_declared_package_is_used() -> None:
    owners = packages_distributions()
    imported_dists = {
        normalise(dist) for name in third_party_imports() for dist in owners.get(name, [name])
    }
    unused = declared() - imported_dists - set(USED_WITHOUT_IMPORT)
    assert unused == set()
