"""Set-up from a fresh clone: the interpreter's own venv and bundled pip, then the lock alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
sys.path.insert(0, str(ROOT / "tools"))
import bootstrap  # noqa: E402


def locked_versions() -> dict[str, str]:
    """name -> version for every lock entry that applies on every platform."""
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+) \\$", LOCK.read_text(), re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def test_the_installer_comes_from_the_lock_with_its_hashes() -> None:
    entry = bootstrap.lock_entry(LOCK.read_text(), "uv")
    assert entry.startswith("uv==")
    assert "--hash=sha256:" in entry
    assert "\n# " not in entry and "via" not in entry


def test_a_lock_without_the_installer_stops_with_one_line() -> None:
    with pytest.raises(SystemExit, match="pins no uv with hashes"):
        bootstrap.lock_entry("pip==26.3 \\\n    --hash=sha256:" + "0" * 64 + "\n", "uv")


def test_make_install_builds_a_fresh_venv_from_the_lock_alone(tmp_path: Path) -> None:
    base_python = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "--no-print-directory", "install", f"VENV={venv}", f"PYTHON={base_python}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    listed = subprocess.run(
        [str(venv / "bin" / "uv"), "pip", "list", "--format", "json", "--python", str(venv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    installed = {
        row["name"].lower().replace("_", "-"): row["version"] for row in json.loads(listed.stdout)
    }
    wanted = locked_versions()
    assert len(wanted) > 50
    assert {name: installed.get(name) for name in wanted} == wanted
