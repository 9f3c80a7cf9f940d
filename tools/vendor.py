"""Fetch the page's pinned browser runtime from npm into `vendor/` (never committed).

Each package is downloaded with `npm pack`, checked against its pinned sha512
integrity, and unpacked; a stamp file makes a second run a no-op.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "npm"
VENDOR = ROOT / "vendor"


@dataclass(frozen=True)
class Package:
    """One pinned npm package and the files of it the page serves."""

    name: str
    version: str
    integrity: str
    target: str
    keep: tuple[str, ...]  # path prefixes inside the tarball's `package/`
    strip: str = ""  # a leading folder dropped when unpacking
    ships: bool = True  # False: used by the tests only, left out of dist/


PACKAGES = (
    Package(
        "@pyscript/core",
        "0.7.31",
        "sha512-GqM1aonc1N4RTkNZ1zJ8jJk8+i2cqeztZslPsAiQtn+wHHkUX9Z1FgIg4HjCvhBylB68UKmbTVTzOobpgPIMVQ==",
        "pyscript",
        ("dist/",),
        strip="dist/",
    ),
    Package(
        "pyodide",
        "314.0.7",
        "sha512-0YvXxEhfEdpLfb/XkM2BFAeMROq0iMUX2bzzH9pOttyMcWkwq+HbE5uyuGD82LN7y2q+SNvi/6V5JEsOlD2R1A==",
        "pyodide",
        (
            "pyodide.mjs",
            "pyodide.asm.mjs",
            "pyodide.asm.wasm",
            "python_stdlib.zip",
            "pyodide-lock.json",
            "package.json",
        ),
    ),
    Package(
        "@picocss/pico",
        "2.1.1",
        "sha512-kIDugA7Ps4U+2BHxiNHmvgPIQDWPDU4IeU6TNRdvXQM1uZX+FibqDQT2xUOnnO2yq/LUHcwnGlu1hvf4KfXnMg==",
        "pico",
        ("css/pico.min.css",),
    ),
    Package(
        "axe-core",
        "4.14.1",
        "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        "axe",
        ("axe.min.js",),
        ships=False,
    ),
)

TEST_ONLY = tuple(p.target for p in PACKAGES if not p.ships)

STAMP = VENDOR / ".versions.json"
NPM_PACK = ("npm", "pack", "--loglevel=error")


def wanted() -> dict[str, str]:
    """What the stamp file records: each package's pinned version and integrity."""
    return {p.name: f"{p.version} {p.integrity}" for p in PACKAGES}


def tarball(package: Package) -> Path:
    """Download (or reuse) the package tarball and verify its integrity."""
    CACHE.mkdir(parents=True, exist_ok=True)
    name = package.name.lstrip("@").replace("/", "-")
    path = CACHE / f"{name}-{package.version}.tgz"
    if not path.exists():
        subprocess.run(
            [*NPM_PACK, f"{package.name}@{package.version}", "--pack-destination", str(CACHE)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    algo, _, expected = package.integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algo, path.read_bytes()).digest()).decode()
    if digest != expected:
        path.unlink()
        sys.exit(f"vendor: {package.name}@{package.version} failed its integrity check; try again")
    return path


def unpack(package: Package, archive: Path) -> None:
    target = VENDOR / package.target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            rel = member.name.removeprefix("package/")
            if not member.isfile() or rel.endswith(".map"):
                continue
            if not any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in package.keep):
                continue
            source = tar.extractfile(member)
            assert source is not None
            out = target / rel.removeprefix(package.strip)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(source.read())


def main() -> None:
    if STAMP.exists() and json.loads(STAMP.read_text()) == wanted():
        return
    if shutil.which("npm") is None:
        sys.exit("vendor: npm is needed to fetch the browser runtime (apt-get install -y npm)")
    for package in PACKAGES:
        unpack(package, tarball(package))
        print(f"vendor: {package.name}@{package.version} → vendor/{package.target}")
    STAMP.write_text(json.dumps(wanted(), indent=1))


if __name__ == "__main__":
    main()
