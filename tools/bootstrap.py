"""Build `.venv` from `requirements.lock` alone, with nothing but the interpreter's own tools.

Runs under any Python 3.11+ with its standard library only. The steps:

1. `python -m venv .venv` — the interpreter's own `venv`, with whatever pip it bundles.
2. That bundled pip installs exactly one package, the installer `uv`, at the version and
   hashes the lock gives it (`--no-deps --require-hashes`: uv is one self-contained wheel,
   so even an old pip reads this request correctly).
3. `uv pip sync --require-hashes` makes the venv match the lock exactly: every package at its
   pinned version, every file hash-checked, extras included, nothing else. It also compiles
   the bytecode (`--compile-bytecode`): where PYTHONDONTWRITEBYTECODE is set, Python never
   caches it, and every gateway process would compile LiteLLM again (14 s of CPU instead of 7).

Why not the bundled pip for the whole lock: pip 23.2 (bundled with Python 3.11.7) reads an
extra pulled in by a dependency (`coverage[toml]` from pytest-cov) as a requirement of its own
and refuses it under `--require-hashes` as soon as a newer release than the locked one is
published — the same lock then installs one week and fails the next. uv reads the lock the same
way whatever the day, and installs the ~400 MB tree several times faster.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
INSTALLER = "uv"


def lock_entry(lock_text: str, name: str) -> str:
    """The lock's block for one package (`name==version` and its `--hash` lines)."""
    pattern = re.compile(
        rf"^{re.escape(name)}==[^\s\\]+(?:\s*\\\n\s+--hash=sha256:[0-9a-f]{{64}})+",
        re.MULTILINE | re.IGNORECASE,
    )
    match = pattern.search(lock_text)
    if match is None:
        raise SystemExit(f"bootstrap: {LOCK.name} pins no {name} with hashes; regenerate it")
    return match.group(0) + "\n"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def run(*command: str | os.PathLike[str]) -> None:
    result = subprocess.run([os.fspath(part) for part in command], check=False)
    if result.returncode != 0:
        raise SystemExit(f"bootstrap: {Path(command[0]).name} failed (exit {result.returncode})")


def bootstrap(venv: Path, lock: Path = LOCK) -> None:
    """Create `venv` if needed and make it match `lock` exactly."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before the venv exists
        raise SystemExit("bootstrap: Detour needs Python 3.11 or newer")
    python = venv_python(venv)
    if not python.exists():
        run(sys.executable, "-m", "venv", venv)
    uv = venv / "bin" / INSTALLER
    entry = lock_entry(lock.read_text(encoding="utf-8"), INSTALLER)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as request:
        request.write(entry)
    try:
        run(
            python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--require-hashes", "-r", request.name,
        )  # fmt: skip
    finally:
        os.unlink(request.name)
    env_for_uv = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}
    sync = ["pip", "sync", "--quiet", "--require-hashes", "--compile-bytecode"]
    sync += ["--python", os.fspath(python)]
    result = subprocess.run([os.fspath(uv), *sync, os.fspath(lock)], env=env_for_uv, check=False)
    if result.returncode != 0:
        raise SystemExit(f"bootstrap: uv pip sync failed (exit {result.returncode})")


def main() -> int:
    venv = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".venv"
    bootstrap(venv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
