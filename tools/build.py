"""Write the static page into `dist/`: HTML, config, runtime and the project's Python.

`dist/` is everything a static host needs; `make run` serves it too.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

import markdown_it
import mdurl
import yaml
from offline import finish_page

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bytecode import use_compiled_archive

from vendor import TEST_ONLY

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
PAGE_FILES = ("index.html", "pyscript.toml")


def gateway_endpoint(environ: Mapping[str, str]) -> str:
    """Where the page finds the gateway: LITELLM_GATEWAY_ENDPOINT, else GATEWAY_HOST:PORT."""
    explicit = environ.get("LITELLM_GATEWAY_ENDPOINT", "").strip()
    if explicit:
        return explicit.rstrip("/")
    host = environ.get("GATEWAY_HOST", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{environ.get('GATEWAY_PORT', '4000')}"


def page_config(environ: Mapping[str, str]) -> dict[str, object]:
    """The small config file the page reads at start (`config.json`)."""
    config: dict[str, object] = {"gateway_url": gateway_endpoint(environ)}
    interval = environ.get("DETOUR_HEALTH_INTERVAL", "").strip()
    if interval:
        try:
            config["health_interval"] = max(1.0, float(interval))
        except ValueError:
            raise SystemExit(f"DETOUR_HEALTH_INTERVAL must be seconds, not {interval!r}") from None
    return config


def python_archive(target: Path) -> None:
    """Zip the `web` package and the pure-Python libraries it uses in the page.

    PyYAML (its pure-Python half), markdown-it-py and mdurl: the vendored
    Pyodide installs no wheels, so their modules travel in the archive.
    """
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((ROOT / "web").rglob("*.py")):
            archive.write(path, path.relative_to(ROOT).as_posix())
        for package in (yaml, markdown_it, mdurl):
            folder = Path(package.__file__ or "").parent
            for path in sorted(folder.rglob("*.py")):
                archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")


def copy_tree(source: Path, target: Path) -> None:
    """Copy a folder, hard-linking files where the file system allows it."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)


def build(environ: Mapping[str, str] = os.environ, dist: Path = DIST) -> Path:
    """Build the static page into `dist` and return its path."""
    vendor = ROOT / "vendor"
    if not (vendor / ".versions.json").exists():
        raise SystemExit("build: the browser runtime is missing; run `make vendor` first")
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    for name in PAGE_FILES:
        shutil.copy2(ROOT / name, dist / name)
    copy_tree(vendor, dist / "vendor")
    (dist / "vendor" / ".versions.json").unlink()
    for name in TEST_ONLY:  # the accessibility checker is for the tests, not the page
        shutil.rmtree(dist / "vendor" / name, ignore_errors=True)
    python_archive(dist / "web.zip")
    use_compiled_archive(dist / "web.zip", vendor / "pyodide")
    (dist / "config.json").write_text(json.dumps(page_config(environ), indent=1) + "\n")
    finish_page(dist)
    return dist


if __name__ == "__main__":
    out = build()
    print(f"build: the page is in {out.relative_to(ROOT)}/ — serve it from any static host")
