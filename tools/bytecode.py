"""Ship Pyodide's standard library as bytecode: the page stops compiling it on every boot.

npm's `python_stdlib.zip` holds `.py` sources only, so each boot compiles every
standard module the page imports, in WebAssembly. This compiles them once, at
`make dist`, with Pyodide's own Python (run under Node, which set-up already
has for npm), into unchecked hash-based `.pyc` files that zipimport loads as
they are. The result is kept in `.cache/bytecode/`, keyed by the source zip's
SHA-256, so only a new Pyodide costs the minute it takes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bytecode"
COMPILER = Path(__file__).resolve().parent / "static" / "compile_stdlib.mjs"
STDLIB = "python_stdlib.zip"


def compiled_stdlib(pyodide: Path, cache: Path = CACHE) -> Path:
    """The bytecode version of `pyodide/python_stdlib.zip`, compiled once per source zip."""
    digest = hashlib.sha256((pyodide / STDLIB).read_bytes()).hexdigest()
    target = cache / f"{digest}.zip"
    if target.exists():
        return target
    node = shutil.which("node")
    if node is None:
        raise SystemExit("build: Node is needed to compile the standard library (make vendor)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / STDLIB
        subprocess.run([node, str(COMPILER), str(pyodide), str(out)], check=True, timeout=600)
        partial = target.with_suffix(".part")
        shutil.copyfile(out, partial)
        partial.replace(target)
    return target


def use_compiled_stdlib(pyodide: Path, cache: Path = CACHE) -> None:
    """Replace `python_stdlib.zip` in a built runtime folder by its bytecode version."""
    compiled = compiled_stdlib(pyodide, cache)
    stdlib = pyodide / STDLIB
    stdlib.unlink()  # a hard link to vendor/: never write through it
    shutil.copyfile(compiled, stdlib)
