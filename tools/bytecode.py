"""Ship Python as bytecode: the page stops compiling it on every boot.

npm's `python_stdlib.zip` holds `.py` sources only, and so does the page's own
archive (`web.zip`), so each boot compiled every module the page imports, in
WebAssembly (about half a second for the page's own modules alone). Both are
compiled at `make dist` with Pyodide's own Python (run under Node, which set-up
already has for npm) into unchecked hash-based `.pyc` files, which the import
system loads as they are: the standard library's replace its sources (zipimport
reads them), the page's sit in `__pycache__` beside theirs. Results are kept in
`.cache/bytecode/`, keyed by SHA-256, so only a new Pyodide or changed Python
costs the compiling again.
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
ARCHIVE_COMPILER = Path(__file__).resolve().parent / "static" / "compile_archive.mjs"
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


def use_compiled_archive(archive: Path, pyodide: Path, cache: Path = CACHE) -> None:
    """Add Pyodide's bytecode to the page's Python archive (`web.zip`), in place."""
    key = hashlib.sha256(archive.read_bytes())
    key.update((pyodide / "pyodide-lock.json").read_bytes())  # which Python compiles it
    target = cache / f"archive-{key.hexdigest()}.zip"
    if not target.exists():
        node = shutil.which("node")
        if node is None:
            raise SystemExit("build: Node is needed to compile the page's Python (make vendor)")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            out = Path(work) / archive.name
            command = [node, str(ARCHIVE_COMPILER), str(pyodide), str(archive), str(out)]
            subprocess.run(command, check=True, timeout=300)
            partial = target.with_suffix(".part")
            shutil.copyfile(out, partial)
            partial.replace(target)
    shutil.copyfile(target, archive)
