"""Stand-ins for the LiteLLM path's tests: a leaky upstream, an `n`-choice upstream, a canary.

- `leaky_standin()` answers every chat with 401 and echoes the `Authorization` header it got
  in the error message (as some providers and proxies do), plain or streamed.
- `choices_standin()` honours `n`: each choice streams its own pieces and ends with its own
  `finish_reason`, in chunks that carry `finish_reason: null` until then, as OpenAI does.
- `canary()` records any request at all; a test that passes it configuration expects nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def leaky_standin() -> Starlette:
    """A provider whose 401 quotes the key it was sent."""

    async def chat(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        error = {"error": {"message": f"Invalid credentials: {given}", "type": "auth_error",
                           "param": None, "code": "invalid_api_key"}}  # fmt: skip
        return JSONResponse(error, status_code=401)

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def choices_standin() -> Starlette:
    """An OpenAI-compatible provider that honours `n` (streamed or not) and records bodies."""
    seen: list[dict[str, Any]] = []

    async def chat(request: Request) -> Response:
        payload = json.loads(await request.body())
        seen.append(payload)
        count = int(payload.get("n") or 1)
        base = {"id": "chatcmpl-n", "created": 1, "model": payload.get("model", "m")}
        if not payload.get("stream"):
            choices = [{"index": i, "finish_reason": "stop", "logprobs": None,
                        "message": {"role": "assistant", "content": f"answer {i}",
                                    "refusal": None}} for i in range(count)]  # fmt: skip
            usage = {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
            return JSONResponse(
                {**base, "object": "chat.completion", "choices": choices, "usage": usage}
            )

        def chunk(choices: list[dict[str, Any]]) -> bytes:
            body = {**base, "object": "chat.completion.chunk", "choices": choices}
            return f"data: {json.dumps(body)}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            for i in range(count):
                delta = {"role": "assistant", "content": f"answer {i}"}
                yield chunk([{"index": i, "delta": delta, "finish_reason": None}])
            for i in range(count):
                yield chunk([{"index": i, "delta": {}, "finish_reason": "stop"}])
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    app.state.seen = seen
    return app


def canary() -> Starlette:
    """Records every request it gets, on any path; it should get none."""
    hits: list[str] = []

    async def anything(request: Request) -> Response:
        hits.append(f"{request.method} {request.url.path}")
        return JSONResponse({})

    app = Starlette(routes=[Route("/{path:path}", anything, methods=ANY_METHOD)])
    app.state.hits = hits
    return app
