"""Importing the gateway's modules changes nothing in the process environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_MODULES = sorted(
    f"gateway.{path.stem}" for path in (ROOT / "gateway").glob("*.py") if path.stem != "__main__"
)


def test_importing_the_gateway_writes_no_environment_variable() -> None:
    script = (
        "import importlib, json, os, sys\n"
        "before = dict(os.environ)\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "after = dict(os.environ)\n"
        "print(json.dumps(sorted(k for k in after.keys() | before.keys()"
        " if after.get(k) != before.get(k))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *GATEWAY_MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    changed = json.loads(result.stdout.strip().splitlines()[-1])
    assert GATEWAY_MODULES, "no gateway module found"
    assert changed == []
