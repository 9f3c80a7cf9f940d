"""Warming LiteLLM before the gateway says it is ready.

LiteLLM imports much of itself on first use: the first plain call, the first
stream and the first call through a provider's HTTP client each load modules,
and a module import holds the event loop. The warm-up makes those calls once,
before `/health/readiness` answers 200, through a Router like the gateway's, so
the first user's stream arrives at the upstream's pace and nobody else waits:
a mock call (plain and streamed) and an `openai/` call (plain and streamed) whose
HTTP client answers in memory, so nothing leaves the process.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx2

WARMUP_MODEL = "detour-warmup"
MESSAGES = [{"role": "user", "content": "warm up"}]
CHUNK = {
    "id": "chatcmpl-warmup", "object": "chat.completion.chunk", "created": 0,
    "model": WARMUP_MODEL,
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"},
                 "finish_reason": None}],
}  # fmt: skip
COMPLETION = {
    "id": "chatcmpl-warmup", "object": "chat.completion", "created": 0, "model": WARMUP_MODEL,
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}  # fmt: skip


async def answer(request: httpx2.Request) -> httpx2.Response:
    """The in-memory upstream: a completion, or a two-event stream when asked for one."""
    import httpx2

    if json.loads(request.content or b"{}").get("stream"):
        done = {**CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        body = f"data: {json.dumps(CHUNK)}\n\ndata: {json.dumps(done)}\n\ndata: [DONE]\n\n"
        return httpx2.Response(200, text=body, headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, json=COMPLETION)


# What a warm-up loads stays loaded for the process: a second gateway app in the same
# process (tests run several) has nothing left to warm.
WARMED: set[str] = set()


async def warm(litellm: ModuleType) -> None:
    """Make each kind of call once per process (raises if LiteLLM cannot answer even these)."""
    if litellm.__name__ in WARMED:
        return
    import httpx2  # LiteLLM's dependencies, loaded with it
    import openai  # the client LiteLLM's `openai/` models use (over httpx2)

    router = litellm.Router(
        model_list=[
            {"model_name": "mock", "litellm_params": {"model": f"openai/{WARMUP_MODEL}",
                                                      "mock_response": "ok"}},
            {"model_name": "http", "litellm_params": {"model": f"openai/{WARMUP_MODEL}",
                                                      "api_key": "warmup",
                                                      "api_base": "http://warmup.invalid/v1"}},
        ],
        num_retries=0,
        disable_cooldowns=True,
    )  # fmt: skip
    transport = httpx2.MockTransport(answer)
    async with httpx2.AsyncClient(transport=transport) as http:
        client = openai.AsyncOpenAI(
            api_key="warmup", base_url="http://warmup.invalid/v1", http_client=http, max_retries=0
        )
        for name, extra in (("mock", {}), ("http", {"client": client})):
            await router.acompletion(model=name, messages=MESSAGES, **extra)
            stream: Any = await router.acompletion(
                model=name, messages=MESSAGES, stream=True, **extra
            )
            async for _ in stream:
                pass
    WARMED.add(litellm.__name__)
