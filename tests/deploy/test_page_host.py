"""The page on Debian's nginx with deploy/nginx/page.conf: types, cache headers, compression."""

from __future__ import annotations

import gzip
import http.client
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
    tag: str  # the runtime's versioned folder, vendor/<tag>/


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
def host() -> Iterator[PageHost]:
    with built_page("https://gateway.example.test") as dist:
        (tag,) = [folder.name for folder in (dist / "vendor").iterdir() if folder.is_dir()]
        port = free_port()
        with running_nginx([page_site(port, dist)], [port]):
            yield PageHost(port, dist, tag)


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


def url(host: PageHost, name: str) -> str:
    """A page file (`/index.html`) as it is, a runtime file (`pyodide/…`) under its version."""
    return name if name.startswith("/") else f"/vendor/{host.tag}/{name}"


def file_of(host: PageHost, name: str) -> Path:
    path = url(host, name).lstrip("/") or "index.html"
    return host.dist / path


PAGE_FILES = {
    "/": "text/html",
    "/index.html": "text/html",
    "/config.json": "application/json",
    "/web.zip": "application/zip",
    "/pyscript.toml": "application/toml",
}
RUNTIME_FILES = {
    "pyscript/core.js": "application/javascript",
    "pyscript/core.css": "text/css",
    "pyodide/pyodide.mjs": "text/javascript",
    "pyodide/pyodide.asm.mjs": "text/javascript",
    "pyodide/pyodide.asm.wasm": "application/wasm",
    "pyodide/pyodide-lock.json": "application/json",
    "pyodide/python_stdlib.zip": "application/zip",
}


@pytest.mark.parametrize(("name", "media_type"), {**PAGE_FILES, **RUNTIME_FILES}.items())
def test_every_page_file_has_the_type_the_browser_needs(
    host: PageHost, name: str, media_type: str
) -> None:
    answer = get(host, url(host, name))
    assert answer.status == 200
    assert answer.headers["content-type"].split(";")[0] == media_type
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.body == file_of(host, name).read_bytes()


@pytest.mark.parametrize("name", PAGE_FILES)
def test_every_page_file_is_revalidated_and_a_repeat_visit_costs_a_304(
    host: PageHost, name: str
) -> None:
    # Page files keep their names across releases, so nothing may be cached without asking.
    first = get(host, name)
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["etag"] and first.headers["last-modified"]
    again = get(host, name, **{"If-None-Match": first.headers["etag"]})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("name", RUNTIME_FILES)
def test_the_versioned_runtime_is_cached_for_a_year(host: PageHost, name: str) -> None:
    # A new runtime gets a new vendor/<tag>/, so its files never change under a URL.
    answer = get(host, url(host, name))
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_config_json_is_the_build_and_says_where_the_gateway_is(host: PageHost) -> None:
    answer = get(host, "/config.json")
    assert answer.body == b'{\n "gateway_url": "https://gateway.example.test"\n}\n'


def test_a_file_without_a_precompressed_sibling_is_compressed_on_the_fly(
    host: PageHost,
) -> None:
    extra = host.dist / "extra.css"
    extra.write_text("body { color: black; }\n" * 200)
    try:
        plain = get(host, "/extra.css")
        packed = get(host, "/extra.css", **{"Accept-Encoding": "gzip"})
    finally:
        extra.unlink()
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert len(packed.body) < len(plain.body) * 0.6
    assert gzip.decompress(packed.body) == plain.body
    assert packed.headers["cache-control"] == "no-cache"


def test_already_compressed_files_are_sent_as_they_are(host: PageHost) -> None:
    answer = get(host, "/icon-512.png", **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in answer.headers
    assert answer.body == (host.dist / "icon-512.png").read_bytes()


def test_the_python_archive_goes_compressed(host: PageHost) -> None:
    """web.zip is stored (sources and bytecode): compressed whole, as make dist wrote it."""
    answer = get(host, "/web.zip", **{"Accept-Encoding": "br, gzip"})
    assert answer.headers["content-encoding"] == "br"
    assert answer.body == (host.dist / "web.zip.br").read_bytes()


@pytest.mark.parametrize("name", ["pyodide/pyodide.asm.wasm", "pyodide/pyodide.asm.mjs"])
def test_the_builds_precompressed_siblings_are_sent_as_they_are(host: PageHost, name: str) -> None:
    source = file_of(host, name)
    as_gzip = get(host, url(host, name), **{"Accept-Encoding": "gzip"})
    as_brotli = get(host, url(host, name), **{"Accept-Encoding": "br, gzip"})
    assert as_gzip.headers["content-encoding"] == "gzip"
    assert as_gzip.body == source.with_name(source.name + ".gz").read_bytes()
    assert gzip.decompress(as_gzip.body) == source.read_bytes()
    assert as_brotli.headers["content-encoding"] == "br"
    assert as_brotli.body == source.with_name(source.name + ".br").read_bytes()
    assert as_brotli.headers["content-type"].split(";")[0] == RUNTIME_FILES[name]


def test_only_the_page_files_are_served(host: PageHost) -> None:
    (host.dist / ".env").write_text("SECRET=1\n")
    try:
        assert get(host, "/.env").status == 404
    finally:
        (host.dist / ".env").unlink()
    assert get(host, "/missing.js").status == 404
    assert get(host, f"/vendor/{host.tag}/pyodide/").status in (403, 404)  # no directory listing
    assert get(host, "/../README.md").status in (400, 404)
