"""Precompress the built page: `file.br` and `file.gz` beside each file worth it.

Static hosts serve these as they are (nginx `gzip_static` / `brotli_static`), and
so does `tools/serve.py`, so nothing is compressed per request. Brotli at its
best setting takes minutes on Pyodide's 9.6 MB wasm, so results are kept in
`.cache/precompressed/`, keyed by the file's SHA-256: only changed files cost time.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "precompressed"
ENCODINGS = {"br": ".br", "gzip": ".gz"}
# Smaller files gain nothing worth a second request header's bytes.
MIN_SIZE = 1024
# A variant is written only when it saves at least this share: zip archives are
# deflated inside and gain about 2 %, so they are served as they are.
MIN_SAVING = 0.05
SKIP_SUFFIXES = (".br", ".gz", ".zip", ".png", ".jpg", ".webp", ".woff2")


def brotli_bytes(data: bytes) -> bytes:
    return bytes(brotli.compress(data, quality=11))


def gzip_bytes(data: bytes) -> bytes:
    # mtime=0: the same input always gives the same bytes.
    return gzip.compress(data, compresslevel=9, mtime=0)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {".br": brotli_bytes, ".gz": gzip_bytes}


def cached(data: bytes, suffix: str, cache: Path) -> bytes:
    """`data` compressed for `suffix`, from the cache when it was done before."""
    key = cache / (hashlib.sha256(data).hexdigest() + suffix)
    if key.exists():
        return key.read_bytes()
    packed = COMPRESSORS[suffix](data)
    cache.mkdir(parents=True, exist_ok=True)
    partial = key.with_suffix(key.suffix + f".{os.getpid()}.part")
    partial.write_bytes(packed)
    partial.replace(key)
    return packed


def worth_compressing(path: Path) -> bool:
    return path.is_file() and not path.name.endswith(SKIP_SUFFIXES)


def precompress(dist: Path, cache: Path = CACHE) -> list[Path]:
    """Write `.br` and `.gz` beside each file in `dist` that shrinks; return what was written."""
    written: list[Path] = []
    for path in sorted(p for p in dist.rglob("*") if worth_compressing(p)):
        data = path.read_bytes()
        if len(data) < MIN_SIZE:
            continue
        for suffix in COMPRESSORS:
            packed = cached(data, suffix, cache)
            if len(packed) <= len(data) * (1 - MIN_SAVING):
                target = path.with_name(path.name + suffix)
                target.write_bytes(packed)
                written.append(target)
    return written
