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
