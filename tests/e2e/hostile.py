"""Hostile OpenAI-compatible stand-ins: huge replies, silence, and answers that lie.

Each sends CORS headers, so the browser calls it directly, as it would a
provider that allows the page. `state.chats` counts chat requests and
`state.open` the ones still being served (an abandoned request that is not
aborted stays open).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def _cors(request: Request) -> dict[str, str]:
    return {
        "access-control-allow-origin": request.headers.get("origin", "*"),
        "access-control-allow-headers": "authorization, content-type",
        "access-control-allow-methods": "GET, POST, OPTIONS",
    }


def _chunk(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def _text(piece: str) -> bytes:
    return _chunk({"choices": [{"index": 0, "delta": {"content": piece}}]})


DONE = (
    _chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + b"data: [DONE]\n\n"
)


def hostile(kind: str, *, size: int = 0, piece: int = 4096, pace: float = 0.0) -> Starlette:
    """A provider whose chat answer is `kind`:

    long: `size` characters in `piece`-sized events (every `pace` s); hang: accepts
    the request and never answers; string_usage: text, then a usage block whose
    token count is a string; html: a captive portal's page with status 200;
    malformed: text, one line that is not JSON, more text, all in one network chunk.
    """
    state: dict[str, int] = {"chats": 0, "open": 0}

    async def models(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_cors(request))
        return JSONResponse({"data": [{"id": f"{kind}-model"}]}, headers=_cors(request))

    async def chat(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_cors(request))
        await request.body()
        state["chats"] += 1
        headers = _cors(request)
        if kind == "hang":  # held open until the browser lets go of the request
            return await _held_open(request, state)
        if kind == "html":
            page = "<html><body><h1>Welcome to Hotel Wi-Fi</h1>Please log in.</body></html>"
            return Response(page, media_type="text/html", headers=headers)
        body = _body(kind, size, piece, pace)
        return StreamingResponse(body, media_type="text/event-stream", headers=headers)

    app = Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET", "OPTIONS"]),
            Route("/v1/chat/completions", chat, methods=["POST", "OPTIONS"]),
        ]
    )
    app.state.counts = state
    return app


async def _held_open(request: Request, state: dict[str, int]) -> Response:
    """Answer nothing until the browser lets go of the request; `state["open"]` counts it."""
    state["open"] += 1
    try:
        while not await request.is_disconnected():
            await asyncio.sleep(0.05)
    finally:
        state["open"] -= 1
    return Response(status_code=499)


async def _body(kind: str, size: int, piece: int, pace: float) -> AsyncIterator[bytes]:
    if kind == "long":
        line = "All work and no play makes a long reply. "
        text = (line * (piece // len(line) + 1))[:piece]
        sent = 0
        while sent < size:
            yield _text(text[: min(piece, size - sent)])
            sent += piece
            if pace:
                await asyncio.sleep(pace)
    elif kind == "string_usage":
        yield _text("Counted in words, ")
        yield _text("not numbers.")
        yield _chunk({"choices": [], "usage": {"prompt_tokens": "3", "completion_tokens": "many"}})
    elif kind == "malformed":
        yield _text("Kept before, ") + b"data: {this is not json\n\n" + _text("kept after.")
    yield DONE


def cors_trap() -> Starlette:
    """One server, three providers on the same host and port.

    `/trap/v1` and `/drip/v1` list models with CORS, but answer a chat request's
    preflight without CORS headers (the browser blocks it). Then the page's
    `no-cors` probe is held open until the browser lets go: `trap` never answers
    it, `drip` sends its head and the start of a stylesheet (a type the browser
    hands to `no-cors` at once), and never ends the body
    (`state.counts["open"]` counts probes still held). `/fine/v1`: a healthy
    provider with CORS that replies "fine".
    """
    state: dict[str, int] = {"probes": 0, "open": 0, "fine": 0}

    async def dripping() -> AsyncIterator[bytes]:
        state["open"] += 1
        try:
            yield b"/* " + b"-" * 2048
            while True:
                await asyncio.sleep(0.05)
        finally:
            state["open"] -= 1

    async def models(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_cors(request))
        name = request.path_params["name"]
        return JSONResponse({"data": [{"id": f"{name}-model"}]}, headers=_cors(request))

    async def chat(request: Request) -> Response:
        name = request.path_params["name"]
        if name in ("trap", "drip"):
            if request.method == "OPTIONS":
                return Response(status_code=204)  # no CORS headers: the browser blocks
            state["probes"] += 1
            if name == "drip":
                return StreamingResponse(dripping(), media_type="text/css")
            return await _held_open(request, state)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_cors(request))
        await request.body()
        state["fine"] += 1
        body = _text("fine") + DONE
        return Response(body, media_type="text/event-stream", headers=_cors(request))

    app = Starlette(
        routes=[
            Route("/{name}/v1/models", models, methods=["GET", "OPTIONS"]),
            Route("/{name}/v1/chat/completions", chat, methods=["GET", "POST", "OPTIONS"]),
        ]
    )
    app.state.counts = state
    return app
