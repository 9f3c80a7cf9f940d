"""Serve the built page (`dist/`) on loopback: only its files, no directory listing.

`config.json` is answered from the environment at request time, so
LITELLM_GATEWAY_ENDPOINT takes effect without a rebuild.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import DIST, page_config


class NoCache:
    """Ask browsers to revalidate every file, so a rebuilt page is never stale."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"cache-control", b"no-cache"))
                headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(dist: Path = DIST) -> ASGIApp:
    """The page server: `config.json` from the environment, the rest from `dist`."""

    async def config(_request: object) -> JSONResponse:
        return JSONResponse(page_config(os.environ))

    app = Starlette(
        routes=[
            Route("/config.json", config),
            Mount("/", StaticFiles(directory=dist, html=True)),
        ]
    )
    return NoCache(app)


def main() -> None:
    if not (DIST / "index.html").exists():
        raise SystemExit("serve: dist/ is missing; run `make dist` first")
    host = os.environ.get("DETOUR_HOST", "127.0.0.1")
    port = int(os.environ.get("DETOUR_PORT", "8000"))
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    main()
