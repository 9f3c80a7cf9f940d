"""`make dist` writes `.br` and `.gz` beside the files that shrink, byte-identical once decoded."""

from __future__ import annotations

import gzip
import random
import sys
from pathlib import Path

import brotli
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from compress import precompress


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "vendor").mkdir(parents=True)
    (root / "index.html").write_text("<p>Detour</p>\n" * 400)
    (root / "vendor" / "runtime.wasm").write_bytes(bytes(range(256)) * 64)
    (root / "tiny.css").write_text("p{}")
    (root / "web.zip").write_bytes(b"PK" + random.Random(13).randbytes(4000))
    (root / "noise.bin").write_bytes(random.Random(15).randbytes(5000))
    return root


def test_each_variant_decodes_to_the_original_bytes(site: Path, tmp_path: Path) -> None:
    written = precompress(site, cache=tmp_path / "cache")
    assert written
    for variant in written:
        original = variant.with_suffix("").read_bytes()
        packed = variant.read_bytes()
        decoded = brotli.decompress(packed) if variant.suffix == ".br" else gzip.decompress(packed)
        assert decoded == original, variant


def test_variants_have_the_standard_names_static_hosts_look_for(site: Path, tmp_path: Path) -> None:
    precompress(site, cache=tmp_path / "cache")
    for name in ("index.html", "vendor/runtime.wasm"):
        assert (site / f"{name}.br").is_file() and (site / f"{name}.gz").is_file(), name


def test_small_files_and_what_does_not_shrink_are_left_alone(site: Path, tmp_path: Path) -> None:
    precompress(site, cache=tmp_path / "cache")
    for name in ("tiny.css", "web.zip"):
        assert not list(site.glob(f"{name}.*")), name
    assert not (site / "noise.bin.gz").exists()


def test_a_second_build_reuses_the_cache_and_gives_the_same_bytes(
    site: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = {p: p.read_bytes() for p in precompress(site, cache=cache)}
    entries = sorted(cache.iterdir())
    for variant in first:
        variant.unlink()
    second = {p: p.read_bytes() for p in precompress(site, cache=cache)}
    assert second == first
    assert sorted(cache.iterdir()) == entries
