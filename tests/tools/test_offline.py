"""`make dist` finishes the page: versioned runtime, service worker, manifest, build id."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from build import build
from serve import VERSIONED


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(build({}, tmp_path_factory.mktemp("site") / "dist"))


def runtime_tag(dist: Path) -> str:
    (folder,) = (dist / "vendor").iterdir()
    return folder.name


def test_the_runtime_sits_under_a_tag_the_server_treats_as_versioned(dist: Path) -> None:
    tag = runtime_tag(dist)
    assert re.fullmatch(r"[0-9a-f]{12}", tag)
    assert VERSIONED.match(f"vendor/{tag}/pyodide/pyodide.asm.wasm")


def test_the_page_and_its_config_point_at_the_versioned_runtime(dist: Path) -> None:
    tag = runtime_tag(dist)
    html = (dist / "index.html").read_text()
    toml = (dist / "pyscript.toml").read_text()
    assert f'"./vendor/{tag}/pyscript/core.js"' in html
    assert f'interpreter = "./vendor/{tag}/pyodide/pyodide.mjs"' in toml
    assert not re.search(r"[\"']\./vendor/(?![0-9a-f]{12}/)", html + toml)
    for reference in re.findall(r"\./vendor/[^\"']+", html + toml):
        assert (dist / reference).is_file(), reference


def test_the_service_worker_knows_its_build_runtime_and_shell(dist: Path) -> None:
    worker = (dist / "sw.js").read_text()
    assert "__DETOUR_" not in worker
    build_id = re.search(r'<meta name="detour-build" content="([0-9a-f]{12})">',
                         (dist / "index.html").read_text())  # fmt: skip
    assert build_id and f'const BUILD = "{build_id[1]}";' in worker
    assert f'const RUNTIME = "{runtime_tag(dist)}";' in worker
    shell = json.loads(re.search(r"const SHELL = (\[.*\]);", worker)[1])  # type: ignore[index]
    assert {"./", "index.html", "web.zip", "pyscript.toml", "manifest.webmanifest"} <= set(shell)


def test_the_manifest_makes_the_page_installable(dist: Path) -> None:
    manifest = json.loads((dist / "manifest.webmanifest").read_text())
    assert manifest["name"] == "Detour" and manifest["display"] == "standalone"
    assert manifest["start_url"] == "./"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert (dist / icon["src"]).is_file()
    html = (dist / "index.html").read_text()
    assert '<link rel="manifest" href="./manifest.webmanifest">' in html


def test_a_changed_build_gets_a_new_id_and_the_same_build_the_same(tmp_path: Path) -> None:
    def build_id(env: dict[str, str], name: str) -> str:
        html = (build(env, tmp_path / name) / "index.html").read_text()
        found = re.search(r'name="detour-build" content="([0-9a-f]+)"', html)
        assert found
        return found[1]

    first = build_id({"DETOUR_HEALTH_INTERVAL": "30"}, "a")
    assert build_id({"DETOUR_HEALTH_INTERVAL": "30"}, "b") == first
    assert build_id({"DETOUR_HEALTH_INTERVAL": "31"}, "c") != first


def test_the_big_runtime_files_ship_precompressed(dist: Path) -> None:
    pyodide = dist / "vendor" / runtime_tag(dist) / "pyodide"
    for name in ("pyodide.asm.wasm", "pyodide.asm.mjs", "pyodide.mjs"):
        for suffix in (".br", ".gz"):
            assert (pyodide / (name + suffix)).is_file(), name + suffix
    wasm = (pyodide / "pyodide.asm.wasm").stat().st_size
    assert (pyodide / "pyodide.asm.wasm.br").stat().st_size < 0.4 * wasm
