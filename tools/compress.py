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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "precompressed"
ENCODINGS = {"br": ".br", "gzip": ".gz"}
# Smaller files gain nothing worth a second request header's bytes.
MIN_SIZE = 1024
# A variant is written only when it saves at least this share: a deflated zip
# (web.zip) gains about 2 % and is served as it is; the stored bytecode stdlib
# (tools/bytecode.py) shrinks to about a quarter.
MIN_SAVING = 0.05
SKIP_SUFFIXES = (".br", ".gz", ".png", ".jpg", ".webp", ".woff2")


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
    jobs = [
        (path, suffix)
        for path in sorted(p for p in dist.rglob("*") if worth_compressing(p))
        if path.stat().st_size >= MIN_SIZE
        for suffix in COMPRESSORS
    ]
    # Brotli releases the GIL: the big files compress side by side on a first build.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        packed = list(pool.map(lambda job: cached(job[0].read_bytes(), job[1], cache), jobs))
    written: list[Path] = []
    for (path, suffix), data in zip(jobs, packed, strict=True):
        if len(data) <= path.stat().st_size * (1 - MIN_SAVING):
            target = path.with_name(path.name + suffix)
            target.write_bytes(data)
            written.append(target)
    return written
