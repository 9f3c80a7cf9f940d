"""Stand-in providers and a server runner for tests: real HTTP on 127.0.0.1, no network.

Reusable from other suites (`from tests.gateway.standins import ...`):

- `serve(app)` runs any ASGI app under uvicorn on a free 127.0.0.1 port in a
  background thread and yields its base URL.
- `openai_standin(...)` behaves like an OpenAI-compatible provider: `/v1/models`,
  `/v1/chat/completions` (streamed or not), with options for CORS headers,
  a required key, slowness, flakiness and stream pace; plus test helpers
  (`/echo`, `/status/{code}`, `/redirect`, `/hang`, `/gzip`).
- `anthropic_standin(...)` speaks `/v1/messages` with typed SSE events.

Each app records what it received in `app.state.seen` (a list of dicts).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

DEFAULT_REPLY = "Hello from the stand-in. It streams in small pieces."


@contextmanager
def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run `app` on a loopback port (a free one by default) in a thread; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto")
    with serve_config(config, sock) as url:
        yield url


@contextmanager
def serve_config(config: uvicorn.Config, sock: socket.socket | None = None) -> Iterator[str]:
    """Run a uvicorn `config` on `sock` (a free loopback port by default); yield its URL."""
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("stand-in server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cors_headers(request: Request, cors: bool, max_age: int | None = None) -> dict[str, str]:
    if not cors:
        return {}
    headers = {
        "access-control-allow-origin": request.headers.get("origin", "*"),
        "access-control-allow-headers": "authorization, content-type",
        "access-control-allow-methods": "GET, POST, OPTIONS",
    }
    if max_age is not None:
        headers["access-control-max-age"] = str(max_age)  # the browser may reuse a preflight
    return headers


def _record(request: Request, seen: list[dict[str, Any]], body: bytes) -> None:
    seen.append(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": dict(request.headers),
            "body": body,
        }
    )


def openai_standin(
    *,
    cors: bool = False,
    api_key: str | None = None,
    models: tuple[str, ...] = ("standin-model",),
    reply: str = DEFAULT_REPLY,
    piece: int = 8,
    pace: float = 0.0,
    slow: float = 0.0,
    slow_models: float = 0.0,
    preflight_max_age: int | None = None,
    flaky: int = 0,
    break_after: int | None = None,
) -> Starlette:
    """An OpenAI-compatible provider.

    cors: send Access-Control-* headers (and answer preflights); api_key: require
    `Authorization: Bearer <api_key>` (401 otherwise, without CORS headers, like
    real providers); piece/pace: stream `piece` characters every `pace` seconds;
    slow: wait before answering; slow_models: wait before listing models;
    preflight_max_age: let the browser keep a preflight's answer that long;
    flaky: fail the first `flaky` chat calls with 500;
    break_after: drop the connection after that many streamed pieces.
    `app.state.streams` records how each stream ended: "complete" or "stopped".
    """
    seen: list[dict[str, Any]] = []
    streams: list[str] = []
    failures = {"left": flaky}

    def cors_headers(request: Request) -> dict[str, str]:
        return _cors_headers(request, cors, preflight_max_age)

    def refuse(request: Request) -> Response | None:
        if api_key is not None and request.headers.get("authorization") != f"Bearer {api_key}":
            return JSONResponse(
                {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                           "param": None, "code": "invalid_api_key"}},
                status_code=401,
            )  # fmt: skip
        return None

    async def list_models(request: Request) -> Response:
        _record(request, seen, b"")
        if request.method == "OPTIONS":
            return Response(status_code=204 if cors else 405, headers=cors_headers(request))
        denied = refuse(request)
        if denied is not None:
            return denied
        if slow_models:
            await asyncio.sleep(slow_models)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "standin"} for m in models]
        return JSONResponse({"object": "list", "data": data}, headers=cors_headers(request))

    async def chat(request: Request) -> Response:
        body = await request.body()
        _record(request, seen, body)
        if request.method == "OPTIONS":
            return Response(status_code=204 if cors else 405, headers=cors_headers(request))
        denied = refuse(request)
        if denied is not None:
            return denied
        if failures["left"] > 0:
            failures["left"] -= 1
            return JSONResponse(
                {"error": {"message": "flaky stand-in", "type": "server_error"}}, 500
            )
        if slow:
            await asyncio.sleep(slow)
        payload = json.loads(body or b"{}")
        model = payload.get("model", models[0])
        text = reply
        base = {"id": "chatcmpl-standin", "created": 0, "model": model}
        headers = cors_headers(request)
        if not payload.get("stream"):
            return JSONResponse(
                {**base, "object": "chat.completion",
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": text}}],
                 "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}},
                headers=headers,
            )  # fmt: skip

        async def events() -> AsyncIterator[bytes]:
            outcome = "stopped"
            try:
                async for event in pieces():
                    yield event
                outcome = "complete"
            finally:
                streams.append(outcome)

        async def pieces() -> AsyncIterator[bytes]:
            for number, start in enumerate(range(0, len(text), piece)):
                if break_after is not None and number >= break_after:
                    raise ConnectionAbortedError("stand-in drops the connection mid-stream")
                delta = {"content": text[start : start + piece]}
                if start == 0:
                    delta["role"] = "assistant"
                choice = {"index": 0, "delta": delta, "finish_reason": None}
                chunk = {**base, "object": "chat.completion.chunk", "choices": [choice]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                if pace:
                    await asyncio.sleep(pace)
            done = {**base, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
            yield f"data: {json.dumps(done)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def echo(request: Request) -> Response:
        body = await request.body()
        _record(request, seen, body)
        return JSONResponse(
            {"method": request.method, "path": request.url.path, "query": request.url.query,
             "headers": dict(request.headers), "body": body.decode("utf-8", "replace")},
            headers={"x-standin": "yes", "access-control-allow-origin": "*", "set-cookie": "a=b"},
        )  # fmt: skip

    async def status(request: Request) -> Response:
        _record(request, seen, b"")
        code = int(request.path_params["code"])
        return JSONResponse(
            {"error": {"message": f"stand-in says {code}", "type": "standin"}}, code
        )

    async def redirect(request: Request) -> Response:
        _record(request, seen, b"")
        target = request.query_params.get("to", "http://169.254.169.254/latest/meta-data/")
        return Response(status_code=302, headers={"location": target})

    async def hang(request: Request) -> Response:
        _record(request, seen, b"")
        await asyncio.sleep(3600)
        return Response()

    async def gzipped(request: Request) -> Response:
        _record(request, seen, b"")
        raw = gzip.compress(b'{"compressed": true}')
        return Response(
            raw, headers={"content-encoding": "gzip", "content-type": "application/json"}
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET", "OPTIONS"]),
            Route("/v1/chat/completions", chat, methods=["POST", "OPTIONS"]),
            Route("/chat/completions", chat, methods=["POST", "OPTIONS"]),
            Route("/echo/{rest:path}", echo, methods=methods),
            Route("/status/{code:int}", status, methods=methods),
            Route("/redirect", redirect, methods=methods),
            Route("/hang", hang, methods=methods),
            Route("/gzip", gzipped, methods=["GET"]),
        ]
    )
    app.state.seen = seen
    app.state.streams = streams
    return app


BROWSER_ACCESS = "anthropic-dangerous-direct-browser-access"


def anthropic_standin(
    *,
    api_key: str | None = None,
    cors: bool = False,
    reply: str = DEFAULT_REPLY,
    pace: float = 0.0,
    models: tuple[str, ...] = ("claude-standin",),
) -> Starlette:
    """An Anthropic-format provider: GET /v1/models, POST /v1/messages (typed SSE events).

    cors: behave as Anthropic does for browsers — CORS headers only for requests
    that carry `anthropic-dangerous-direct-browser-access: true` (and preflights
    that ask for it); everything else gets none, so the browser blocks it.
    """
    seen: list[dict[str, Any]] = []

    def cors_headers(request: Request) -> dict[str, str]:
        asked = request.headers.get("access-control-request-headers", "").lower()
        opted_in = request.headers.get(BROWSER_ACCESS) == "true" or BROWSER_ACCESS in asked
        if not (cors and opted_in):
            return {}
        return {
            "access-control-allow-origin": request.headers.get("origin", "*"),
            "access-control-allow-headers": (
                f"x-api-key, anthropic-version, content-type, {BROWSER_ACCESS}"
            ),
            "access-control-allow-methods": "GET, POST, OPTIONS",
        }

    def refused(request: Request, headers: dict[str, str]) -> Response | None:
        if api_key is not None and request.headers.get("x-api-key") != api_key:
            return JSONResponse(
                {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                },
                status_code=401,
                headers=headers,
            )
        return None

    async def list_models(request: Request) -> Response:
        _record(request, seen, b"")
        headers = cors_headers(request)
        if request.method == "OPTIONS":
            return Response(status_code=204 if headers else 405, headers=headers)
        denied = refused(request, headers)
        if denied is not None:
            return denied
        data = [{"type": "model", "id": m, "display_name": m} for m in models]
        return JSONResponse({"data": data, "has_more": False}, headers=headers)

    async def messages(request: Request) -> Response:
        body = await request.body()
        _record(request, seen, body)
        headers = cors_headers(request)
        if request.method == "OPTIONS":
            return Response(status_code=204 if headers else 405, headers=headers)
        denied = refused(request, headers)
        if denied is not None:
            return denied
        payload = json.loads(body or b"{}")
        model = payload.get("model", "claude-standin")
        usage = {"input_tokens": 3, "output_tokens": 0}
        message = {"id": "msg_standin", "type": "message", "role": "assistant", "model": model,
                   "content": [], "stop_reason": None, "usage": usage}  # fmt: skip
        if not payload.get("stream"):
            final = {
                **message,
                "content": [{"type": "text", "text": reply}],
                "stop_reason": "end_turn",
            }
            return JSONResponse(final, headers=headers)

        def event(kind: str, data: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            yield event("message_start", {"message": message})
            yield event(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            )
            for word in reply.split(" "):
                yield event(
                    "content_block_delta",
                    {"index": 0, "delta": {"type": "text_delta", "text": word + " "}},
                )
                if pace:
                    await asyncio.sleep(pace)
            yield event("content_block_stop", {"index": 0})
            yield event(
                "message_delta",
                {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
            )
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    app = Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET", "OPTIONS"]),
            Route("/v1/messages", messages, methods=["POST", "OPTIONS"]),
        ]
    )
    app.state.seen = seen
    return app
