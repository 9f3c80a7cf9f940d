"""Serve the built page (`dist/`) on loopback: only its files, no directory listing.

`config.json` is answered from the environment at request time, so
LITELLM_GATEWAY_ENDPOINT takes effect without a rebuild.

It serves as a well-set static host does, so what is measured here is what
people get there:
- a file's precompressed `.br` or `.gz` (written by `make dist`) when the
  browser accepts that encoding, with `Content-Encoding` and `Vary: Accept-Encoding`;
- the versioned runtime (`vendor/<tag>/…`, whose content never changes at one
  URL) with `Cache-Control: public, max-age=31536000, immutable`;
- everything else with validators (`ETag`, `Last-Modified`) and `no-cache`, so
  a browser keeps it but asks, in a few hundred bytes, whether it changed.
"""

from __future__ import annotations

import mimetypes
import os
import re
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import NotModifiedResponse, PathLike, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import DIST, page_config

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
VERSIONED = re.compile(r"^vendor/[0-9a-f]{12}/")
# Preferred first: brotli is smaller than gzip for every file measured here.
PRECOMPRESSED = (("br", ".br"), ("gzip", ".gz"))


def accepted_encodings(header: str) -> set[str]:
    """Content codings an `Accept-Encoding` header allows (q=0 excluded)."""
    accepted: set[str] = set()
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        quality = params.strip().removeprefix("q=").strip() if params else "1"
        try:
            allowed = float(quality) > 0
        except ValueError:
            allowed = True
        if name and allowed:
            accepted.add(name.strip().lower())
    return accepted


def cache_control(relative: str) -> str:
    """Long-lived for the versioned runtime, revalidated for the rest."""
    return IMMUTABLE if VERSIONED.match(relative) else REVALIDATE


class PageFiles(StaticFiles):
    """Static files that serve precompressed variants and say how long to keep them."""

    def __init__(self, directory: Path, *, precompressed: bool = True, long_cache: bool = True):
        super().__init__(directory=directory, html=True)
        self.root = Path(directory).resolve()
        self.precompressed = precompressed
        self.long_cache = long_cache

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        request_headers = Headers(scope=scope)
        path = Path(full_path)
        relative = path.resolve().relative_to(self.root).as_posix()
        headers = {
            "cache-control": cache_control(relative) if self.long_cache else REVALIDATE,
            "vary": "Accept-Encoding",
        }
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        served, served_stat = path, stat_result
        if self.precompressed and not path.name.endswith((".br", ".gz")):
            accepted = accepted_encodings(request_headers.get("accept-encoding", ""))
            for coding, suffix in PRECOMPRESSED:
                variant = path.with_name(path.name + suffix)
                if coding in accepted and variant.is_file():
                    served, served_stat = variant, variant.stat()
                    headers["content-encoding"] = coding
                    break
        response = FileResponse(
            served,
            status_code=status_code,
            stat_result=served_stat,
            media_type=media_type,
            headers=headers,
        )
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response


class SafetyHeaders:
    """`nosniff` on every answer, and `no-cache` where a route set no caching rule."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", REVALIDATE.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    dist: Path = DIST, *, precompressed: bool = True, long_cache: bool = True
) -> ASGIApp:
    """The page server: `config.json` from the environment, the rest from `dist`.

    `precompressed=False, long_cache=False` serves as the page was served before
    either existed; the page benchmark uses it as its reference.
    """

    async def config(_request: object) -> JSONResponse:
        return JSONResponse(page_config(os.environ))

    files = PageFiles(dist, precompressed=precompressed, long_cache=long_cache)
    app = Starlette(routes=[Route("/config.json", config), Mount("/", files)])
    return SafetyHeaders(app)


def main() -> None:
    dist = Path(os.environ.get("DETOUR_DIST", DIST))
    if not (dist / "index.html").exists():
        raise SystemExit(f"serve: {dist}/ is missing; run `make dist` first")
    host = os.environ.get("DETOUR_HOST", "127.0.0.1")
    port = int(os.environ.get("DETOUR_PORT", "8000"))
    uvicorn.run(create_app(dist), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    main()
