"""The page on Debian's nginx with deploy/nginx/page.conf: types, cache headers, compression."""

from __future__ import annotations

import gzip
import http.client
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.nginx import page_site, running_nginx
from tests.deploy.servers import built_page, free_port


@dataclass(frozen=True)
class PageHost:
    port: int
    dist: Path


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
def host() -> Iterator[PageHost]:
    with built_page("https://gateway.example.test") as dist:
        port = free_port()
        with running_nginx([page_site(port, dist)], [port]):
            yield PageHost(port, dist)


def get(host: PageHost, path: str, **headers: str) -> Answer:
    """One GET, the body as sent (never decompressed)."""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


PAGE_FILES = {
    "/": "text/html",
    "/index.html": "text/html",
    "/config.json": "application/json",
    "/web.zip": "application/zip",
    "/pyscript.toml": "application/toml",
    "/vendor/pyscript/core.js": "application/javascript",
    "/vendor/pyscript/core.css": "text/css",
    "/vendor/pyodide/pyodide.mjs": "text/javascript",
    "/vendor/pyodide/pyodide.asm.mjs": "text/javascript",
    "/vendor/pyodide/pyodide.asm.wasm": "application/wasm",
    "/vendor/pyodide/pyodide-lock.json": "application/json",
    "/vendor/pyodide/python_stdlib.zip": "application/zip",
}


@pytest.mark.parametrize(("path", "media_type"), PAGE_FILES.items())
def test_every_page_file_has_the_type_the_browser_needs(
    host: PageHost, path: str, media_type: str
) -> None:
    answer = get(host, path)
    assert answer.status == 200
    assert answer.headers["content-type"].split(";")[0] == media_type
    assert answer.headers["x-content-type-options"] == "nosniff"
    name = "index.html" if path == "/" else path.lstrip("/")
    assert answer.body == (host.dist / name).read_bytes()


@pytest.mark.parametrize("path", PAGE_FILES)
def test_every_file_is_revalidated_and_a_repeat_visit_costs_a_304(
    host: PageHost, path: str
) -> None:
    # No file name carries a version, so nothing may be cached without asking.
    first = get(host, path)
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["etag"] and first.headers["last-modified"]
    again = get(host, path, **{"If-None-Match": first.headers["etag"]})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["cache-control"] == "no-cache"


def test_config_json_is_the_build_and_says_where_the_gateway_is(host: PageHost) -> None:
    answer = get(host, "/config.json")
    assert answer.body == b'{\n "gateway_url": "https://gateway.example.test"\n}\n'


@pytest.mark.parametrize(
    "path", ["/vendor/pyodide/pyodide.asm.wasm", "/vendor/pyodide/pyodide.asm.mjs", "/index.html"]
)
def test_text_and_wasm_are_compressed_on_the_fly_until_precompressed_files_exist(
    host: PageHost, path: str
) -> None:
    plain = get(host, path)
    packed = get(host, path, **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert len(packed.body) < len(plain.body) * 0.6
    assert gzip.decompress(packed.body) == plain.body
    assert packed.headers["cache-control"] == "no-cache"
    assert packed.headers["etag"].startswith('W/"')  # still a validator, weak once recompressed


def test_already_compressed_archives_are_sent_as_they_are(host: PageHost) -> None:
    answer = get(host, "/web.zip", **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in answer.headers
    assert answer.body == (host.dist / "web.zip").read_bytes()


def test_a_precompressed_sibling_is_sent_as_it_is(host: PageHost) -> None:
    source = host.dist / "vendor" / "pyodide" / "pyodide.mjs"
    packed = io.BytesIO()  # a header nginx never writes (a file name), so the bytes are ours
    with gzip.GzipFile("pyodide.mjs", "wb", 9, packed, mtime=0) as out:
        out.write(source.read_bytes())
    brotli = b"\x1b precompressed brotli stand-in"  # nginx sends .br files without reading them
    (source.parent / "pyodide.mjs.gz").write_bytes(packed.getvalue())
    (source.parent / "pyodide.mjs.br").write_bytes(brotli)
    try:
        as_gzip = get(host, "/vendor/pyodide/pyodide.mjs", **{"Accept-Encoding": "gzip"})
        as_brotli = get(host, "/vendor/pyodide/pyodide.mjs", **{"Accept-Encoding": "br, gzip"})
    finally:
        (source.parent / "pyodide.mjs.gz").unlink()
        (source.parent / "pyodide.mjs.br").unlink()
    assert as_gzip.headers["content-encoding"] == "gzip"
    assert as_gzip.body == packed.getvalue()
    assert as_gzip.headers["content-type"] == "text/javascript; charset=utf-8"
    assert as_brotli.headers["content-encoding"] == "br"
    assert as_brotli.body == brotli
    assert as_brotli.headers["cache-control"] == "no-cache"


def test_only_the_page_files_are_served(host: PageHost) -> None:
    (host.dist / ".env").write_text("SECRET=1\n")
    try:
        assert get(host, "/.env").status == 404
    finally:
        (host.dist / ".env").unlink()
    assert get(host, "/missing.js").status == 404
    assert get(host, "/vendor/pyodide/").status in (403, 404)  # no directory listing
    assert get(host, "/../README.md").status in (400, 404)
