"""The core stays pure: it runs under CPython in tests and under Pyodide in the page.

Every module of `web/` outside `web/browser/` imports only the
standard library, `web` itself, and `yaml` (pure Python, lazily, for LiteLLM
import); never `js`, `pyodide` or `pyscript`; and never blocks the page's one
thread with `time.sleep` or threads.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
CORE = sorted(p for p in WEB.rglob("*.py") if "browser" not in p.relative_to(WEB).parts)
BROWSER_ONLY = {"js", "pyodide", "pyscript"}
LAZY_ONLY = {"yaml"}
BUNDLED = {"markdown_it"}  # pure Python, shipped in the page's archive


def imports(tree: ast.Module, *, nested: bool = True) -> set[str]:
    """The top-level package of every absolute import in `tree` (or in its body only)."""
    roots: set[str] = set()
    for node in ast.walk(tree) if nested else tree.body:
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_core_is_found() -> None:
    names = {p.name for p in CORE}
    assert {"routing.py", "app.py", "store.py", "health.py"} <= names
    assert not any("browser" in p.parts for p in CORE)


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(WEB)))
def test_core_module_imports_no_browser_code(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = imports(tree)
    assert not roots & BROWSER_ONLY, roots
    assert roots <= set(sys.stdlib_module_names) | {"web"} | LAZY_ONLY | BUNDLED, roots
    top_level = imports(tree, nested=False)
    assert not (top_level & LAZY_ONLY), "import yaml inside the function that needs it"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(WEB)))
def test_core_module_never_blocks_the_page(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert "time.sleep" not in source
    assert "threading" not in imports(ast.parse(source))


def test_the_shell_is_where_browser_imports_live() -> None:
    shell = list((WEB / "browser").rglob("*.py"))
    assert any(imports(ast.parse(p.read_text())) & BROWSER_ONLY for p in shell)
