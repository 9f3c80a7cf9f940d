"""The page server answers as a static host should: precompressed files, cache rules, validators."""

from __future__ import annotations

import gzip
import random
import sys
from pathlib import Path

import brotli
import pytest
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from compress import precompress
from serve import IMMUTABLE, accepted_encodings, create_app

TAG = "0123456789ab"
WASM = f"/vendor/{TAG}/pyodide/pyodide.asm.wasm"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dist")
    runtime = root / "vendor" / TAG / "pyodide"
    runtime.mkdir(parents=True)
    (runtime / "pyodide.asm.wasm").write_bytes(b"\0asm" + bytes(range(256)) * 200)
    (runtime / "pyodide.mjs").write_text("export const x = 1;\n" * 200)
    (root / "index.html").write_text("<!doctype html><p>Detour</p>\n" * 100)
    (root / "web.zip").write_bytes(b"PK" + random.Random(15).randbytes(3000))  # deflated inside
    precompress(root, cache=tmp_path_factory.mktemp("cache"))
    return root


@pytest.fixture(scope="module")
def client(dist: Path) -> TestClient:
    return TestClient(create_app(dist))


Raw = tuple[int, dict[str, str], bytes]


def raw(client: TestClient, path: str, accept: str, **headers: str) -> Raw:
    """Status, headers and the body exactly as sent (no client-side decoding)."""
    with client.stream("GET", path, headers={"accept-encoding": accept, **headers}) as response:
        body = b"".join(response.iter_raw())
        return response.status_code, dict(response.headers), body


def test_brotli_when_accepted_decodes_to_the_file(client: TestClient, dist: Path) -> None:
    status, headers, body = raw(client, WASM, "gzip, deflate, br, zstd")
    assert status == 200
    assert headers["content-encoding"] == "br"
    assert headers["content-type"] == "application/wasm"
    assert "accept-encoding" in headers["vary"].lower()
    assert int(headers["content-length"]) == len(body)
    assert brotli.decompress(body) == (dist / WASM.lstrip("/")).read_bytes()


def test_gzip_when_brotli_is_not_accepted(client: TestClient, dist: Path) -> None:
    _, headers, body = raw(client, "/index.html", "gzip, deflate")
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"].startswith("text/html")
    assert gzip.decompress(body) == (dist / "index.html").read_bytes()


def test_the_file_as_it_is_when_nothing_or_only_br_q0_is_accepted(
    client: TestClient, dist: Path
) -> None:
    for accept in ("", "identity", "br;q=0, gzip;q=0"):
        _, headers, body = raw(client, WASM, accept)
        assert "content-encoding" not in headers, accept
        assert body == (dist / WASM.lstrip("/")).read_bytes()


def test_a_deflated_zip_has_no_variant_and_goes_as_it_is(client: TestClient) -> None:
    _, headers, _ = raw(client, "/web.zip", "gzip, deflate, br")
    assert "content-encoding" not in headers


def test_the_versioned_runtime_is_kept_for_a_year_without_asking(client: TestClient) -> None:
    for accept in ("br", ""):
        _, headers, _ = raw(client, WASM, accept)
        assert headers["cache-control"] == IMMUTABLE
    assert "immutable" in IMMUTABLE and "max-age=31536000" in IMMUTABLE


def test_the_rest_is_revalidated_and_unchanged_files_cost_a_304(client: TestClient) -> None:
    for path in ("/", "/index.html", "/web.zip", "/vendor/not-a-tag/x.js"):
        status, headers, _ = raw(client, path, "br")
        if status == 404:
            continue
        assert headers["cache-control"] == "no-cache", path
        assert headers["etag"] and headers["last-modified"], path
        again, headers_304, body = raw(client, path, "br", **{"if-none-match": headers["etag"]})
        assert (again, body) == (304, b""), path
        assert headers_304["cache-control"] == "no-cache"


def test_each_encoding_has_its_own_validator(client: TestClient) -> None:
    _, brotli_headers, _ = raw(client, WASM, "br")
    _, plain_headers, _ = raw(client, WASM, "")
    assert brotli_headers["etag"] != plain_headers["etag"]
    status, _, _ = raw(client, WASM, "", **{"if-none-match": brotli_headers["etag"]})
    assert status == 200


def test_config_json_stays_dynamic(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_GATEWAY_ENDPOINT", "http://127.0.0.1:4999")
    response = client.get("/config.json")
    assert response.json()["gateway_url"] == "http://127.0.0.1:4999"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_reference_mode_serves_as_before_compression_and_caching(dist: Path) -> None:
    plain = TestClient(create_app(dist, precompressed=False, long_cache=False))
    _, headers, body = raw(plain, WASM, "gzip, deflate, br")
    assert "content-encoding" not in headers
    assert headers["cache-control"] == "no-cache"
    assert body == (dist / WASM.lstrip("/")).read_bytes()


def test_no_listing_and_nothing_outside_dist(client: TestClient) -> None:
    for path in ("/vendor/", f"/vendor/{TAG}/", "/../README.md"):
        assert client.get(path).status_code == 404, path


def test_accept_encoding_parsing() -> None:
    assert accepted_encodings("gzip, deflate, br, zstd") == {"gzip", "deflate", "br", "zstd"}
    assert accepted_encodings("br;q=0, gzip;q=0.5") == {"gzip"}
    assert accepted_encodings("") == set()
