"""Finish a built page for speed: a versioned runtime, offline use, installability, compression.

What `make dist` adds after the page itself is built (tools/build.py calls
`finish_page`):

- The runtime moves to `vendor/<tag>/`, `<tag>` a hash of its files, and the
  page's references follow. A URL under it never changes content, so the page
  server (and any static host) may let browsers keep it for a year without
  asking again; a new runtime gets a new URL.
- `sw.js` (the service worker, which must sit at the page's own level),
  `manifest.webmanifest` and icons: the page boots offline and can be installed.
- `<meta name="detour-build">` in `index.html`: the build's identity, which the
  page's head script compares with the last visit's to say that Detour was updated.
- `.br` and `.gz` beside every file worth it (tools/compress.py).
- Pyodide's standard library as bytecode (tools/bytecode.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from bytecode import use_compiled_stdlib
from compress import precompress

STATIC = Path(__file__).resolve().parent / "static"
OFFLINE_FILES = ("manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png")
# Files that name runtime paths; `./vendor/…` in them becomes `./vendor/<tag>/…`.
REFERRING_FILES = ("index.html", "pyscript.toml")
VENDOR_REFERENCE = re.compile(r"""(?P<before>["'(=]\s*)(?P<dot>\./)?vendor/""")
TAG_LENGTH = 12
HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def digest(root: Path) -> str:
    """A short hash of every file under `root`: names and contents."""
    hasher = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        hasher.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()[:TAG_LENGTH]


def version_runtime(dist: Path) -> str:
    """Move `dist/vendor/*` under `dist/vendor/<tag>/` and point the page at it."""
    vendor = dist / "vendor"
    tag = digest(vendor)
    target = vendor / tag
    parts = list(vendor.iterdir())
    target.mkdir()
    for part in parts:
        part.rename(target / part.name)
    for name in REFERRING_FILES:
        path = dist / name
        text = path.read_text()
        path.write_text(
            VENDOR_REFERENCE.sub(lambda m: f"{m['before']}{m['dot'] or ''}vendor/{tag}/", text)
        )
    return tag


def mark_build(dist: Path, build: str) -> None:
    """Name the build first thing in the page's head, before any script reads it."""
    index = dist / "index.html"
    meta = f'<meta name="detour-build" content="{build}">'
    index.write_text(HEAD.sub(lambda m: f"{m[0]}\n  {meta}", index.read_text(), count=1))


def shell_files(dist: Path) -> list[str]:
    """What the service worker stores on install: the page's own top-level files."""
    names = sorted(
        p.name
        for p in dist.iterdir()
        if p.is_file() and p.name != "sw.js" and not p.name.endswith((".br", ".gz"))
    )
    return ["./", *names]


def add_offline(dist: Path, build: str, runtime: str) -> None:
    """Copy the manifest and icons, and write the service worker for this build."""
    for name in OFFLINE_FILES:
        shutil.copy2(STATIC / name, dist / name)
    worker = (STATIC / "sw.js").read_text()
    worker = worker.replace("__DETOUR_BUILD__", build).replace("__DETOUR_RUNTIME__", runtime)
    worker = worker.replace("__DETOUR_SHELL__", json.dumps(shell_files(dist)))
    (dist / "sw.js").write_text(worker)


def finish_page(dist: Path) -> str:
    """Bytecode stdlib, versioned runtime, offline files, precompression; return the build id."""
    use_compiled_stdlib(dist / "vendor" / "pyodide")
    runtime = version_runtime(dist)
    for name in OFFLINE_FILES:
        shutil.copy2(STATIC / name, dist / name)
    build = digest(dist)
    mark_build(dist, build)
    add_offline(dist, build, runtime)
    precompress(dist)
    return build
