"""`make dist` ships Pyodide's standard library as bytecode compiled by Pyodide's own Python."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from bytecode import ROOT, compiled_stdlib

PYODIDE = ROOT / "vendor" / "pyodide"


@pytest.fixture(scope="module")
def compiled() -> Path:
    return compiled_stdlib(PYODIDE)


def test_every_source_module_becomes_bytecode_and_nothing_else_changes(compiled: Path) -> None:
    with zipfile.ZipFile(PYODIDE / "python_stdlib.zip") as source:
        names = set(source.namelist())
    with zipfile.ZipFile(compiled) as out:
        built = set(out.namelist())
        assert all(info.compress_type == zipfile.ZIP_STORED for info in out.infolist())
    assert built == {n + "c" if n.endswith(".py") else n for n in names}


def test_the_bytecode_is_unchecked_and_for_pyodides_python_not_ours(compiled: Path) -> None:
    with zipfile.ZipFile(compiled) as out:
        header = out.read("json/__init__.pyc")[:16]
    flags = int.from_bytes(header[4:8], "little")
    assert flags == 0b01  # hash-based, not checked against a source: zipimport loads it as is
    # Pyodide 314 runs CPython 3.14; this test runs under the project's Python.
    if sys.version_info[:2] != (3, 14):
        assert header[:4] != importlib.util.MAGIC_NUMBER


def test_a_second_call_uses_the_cache(compiled: Path) -> None:
    before = compiled.stat().st_mtime_ns
    assert compiled_stdlib(PYODIDE) == compiled
    assert compiled.stat().st_mtime_ns == before


@pytest.fixture(scope="module")
def page_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page's own Python archive as `make dist` writes it."""
    from build import python_archive
    from bytecode import use_compiled_archive

    archive = tmp_path_factory.mktemp("archive") / "web.zip"
    python_archive(archive)
    use_compiled_archive(archive, PYODIDE)
    return archive


def test_every_module_of_the_page_ships_with_its_bytecode_beside_its_source(
    page_archive: Path,
) -> None:
    with zipfile.ZipFile(page_archive) as out:
        names = set(out.namelist())
        assert all(info.compress_type == zipfile.ZIP_STORED for info in out.infolist())
        sources = {n for n in names if n.endswith(".py")}
        assert "web/app.py" in sources and "markdown_it/main.py" in sources
        tag = next(n for n in names if n.startswith("web/__pycache__/app.")).split(".")[1]
        assert tag == "cpython-314"  # Pyodide's Python, whatever runs this test
        expected = {
            f"{path.rpartition('/')[0]}/__pycache__/{path.rpartition('/')[2][:-3]}.{tag}.pyc"
            if "/" in path
            else f"__pycache__/{path[:-3]}.{tag}.pyc"
            for path in sources
        }
        assert names == sources | expected
        header = out.read(f"web/__pycache__/app.{tag}.pyc")[:16]
        assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, never checked
        assert out.read("web/app.py") == (ROOT / "web" / "app.py").read_bytes()


def test_the_page_archive_is_compiled_once_per_content(page_archive: Path) -> None:
    from bytecode import CACHE

    cached = sorted(CACHE.glob("archive-*.zip"), key=lambda p: p.stat().st_mtime_ns)[-1]
    before = cached.stat().st_mtime_ns
    from build import python_archive
    from bytecode import use_compiled_archive

    again = page_archive.with_name("again.zip")
    python_archive(again)
    use_compiled_archive(again, PYODIDE)
    assert again.read_bytes() == page_archive.read_bytes()
    assert cached.stat().st_mtime_ns == before
