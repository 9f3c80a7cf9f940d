"""`make dist`: everything a static host needs, and nothing it should not serve."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from build import build, gateway_endpoint, page_config

# Service worker, web app manifest and icons (tools/offline.py).
OFFLINE = {"sw.js", "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = {"LITELLM_GATEWAY_ENDPOINT": "https://gateway.example.test/"}
    return Path(build(env, tmp_path_factory.mktemp("site") / "dist"))


def test_dist_holds_the_page_its_config_runtime_and_python(dist: Path) -> None:
    for name in ("index.html", "pyscript.toml", "config.json", "web.zip"):
        assert (dist / name).is_file(), name
    (runtime_dir,) = (dist / "vendor").iterdir()
    for runtime in ("pyodide/pyodide.mjs", "pyodide/pyodide.asm.wasm", "pyscript/core.js",
                    "pico/css/pico.min.css"):  # fmt: skip
        assert (runtime_dir / runtime).is_file(), runtime
    config = json.loads((dist / "config.json").read_text())
    assert config == {"gateway_url": "https://gateway.example.test"}


def test_the_python_archive_has_the_page_code_and_pure_yaml_only(dist: Path) -> None:
    names = zipfile.ZipFile(dist / "web.zip").namelist()
    assert "web/app.py" in names and "web/browser/fetch.py" in names
    assert "yaml/__init__.py" in names
    assert "markdown_it/__init__.py" in names and "markdown_it/rules_block/table.py" in names
    assert "mdurl/__init__.py" in names
    assert not [n for n in names if n.endswith(".so") or n.startswith("tests/")]
    # Bytecode only as Pyodide's import system caches it, beside a source (tests/tools/
    # test_bytecode.py checks which Python compiled it).
    assert all("/__pycache__/" in n for n in names if n.endswith(".pyc"))


def test_the_test_only_accessibility_checker_is_not_shipped(dist: Path) -> None:
    assert not (dist / "vendor" / "axe").exists()


def test_nothing_outside_the_page_is_copied(dist: Path) -> None:
    top = {p.name for p in dist.iterdir() if not p.name.endswith((".br", ".gz"))}
    assert top == {"index.html", "pyscript.toml", "config.json", "web.zip", "vendor"} | OFFLINE


def test_the_gateway_endpoint_defaults_to_gateway_host_and_port() -> None:
    assert gateway_endpoint({}) == "http://127.0.0.1:4000"
    assert gateway_endpoint({"GATEWAY_HOST": "0.0.0.0", "GATEWAY_PORT": "4100"}) == (
        "http://127.0.0.1:4100"
    )
    assert gateway_endpoint({"GATEWAY_HOST": "::1"}) == "http://[::1]:4000"


def test_a_health_interval_reaches_the_page_and_a_bad_one_stops_the_build() -> None:
    assert page_config({"DETOUR_HEALTH_INTERVAL": "5"})["health_interval"] == 5.0
    with pytest.raises(SystemExit, match="DETOUR_HEALTH_INTERVAL"):
        page_config({"DETOUR_HEALTH_INTERVAL": "soon"})
