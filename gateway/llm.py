"""The LiteLLM path: configured models served through `litellm.acompletion`.

LiteLLM is imported here and nowhere else, lazily and in a thread, after
switching off everything that would reach the network on its own (the price
map download, tokenizer fetches). Its retries, cooldowns (we use no Router)
and 6000 s timeout are replaced by the gateway's settings. Request fields that
would redirect a call or swap its key (`api_base`, `base_url`, `api_key`, ...)
are dropped: a model's endpoint and key come only from the operator's YAML.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from time import perf_counter
from types import ModuleType
from typing import Any, NoReturn

import httpx

from gateway.config import ModelEntry, ModelList
from gateway.errors import GatewayError, NotFound, Unreachable, UpstreamTimeout, openai_error
from gateway.timing import Timing

# LiteLLM reads these once, at its own import: no price-map download, no tokenizer fetch.
OFFLINE_ENVIRONMENT = {"LITELLM_OFFLINE_MODE": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

log = logging.getLogger("gateway.llm")

DROPPED_FIELDS = frozenset(
    {
        "api_base", "base_url", "api_key", "api_version", "custom_llm_provider", "organization",
        "extra_headers", "headers", "extra_query", "extra_body", "mock_response", "mock_tool_calls",
        "mock_delay", "metadata", "proxy_server_request", "model_list", "timeout", "num_retries",
        "max_retries", "user_config", "client", "acompletion", "input_cost_per_token",
        "output_cost_per_token", "model_info", "fallbacks", "context_window_fallbacks",
    }
)  # fmt: skip
DROPPED_PREFIXES = ("litellm_", "aws_", "vertex_", "azure_", "watsonx_", "api_", "mock_")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def load_litellm() -> ModuleType:
    """Import and quiet LiteLLM (blocking: a few seconds the first time).

    LiteLLM takes its offline switches only from the process environment, read when it is
    imported, so they are set here, on purpose, just before that import, and nowhere else.
    """
    os.environ.update(OFFLINE_ENVIRONMENT)
    import litellm

    litellm.suppress_debug_info = True
    litellm.num_retries = 0
    litellm.telemetry = False
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    return litellm


class UpstreamFailure(Exception):
    """An upstream's own error through LiteLLM: status kept, no `x-detour-error`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """The OpenAI error shape."""
        return openai_error(self.message, ERROR_TYPES.get(self.status, "api_error"), self.status)


def cause_chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (LiteLLM reports a refused connection as a 500)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 12:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def translate_error(exc: BaseException, model: str) -> GatewayError | UpstreamFailure:
    """Map a LiteLLM exception to the gateway's answer (status kept where the upstream gave one)."""
    import openai  # loaded with LiteLLM, which depends on it
    from litellm import exceptions as llm_errors

    message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    causes = cause_chain(exc)
    timeouts = (llm_errors.Timeout, openai.APITimeoutError, httpx.TimeoutException, TimeoutError)
    unreachable = (openai.APIConnectionError, httpx.TransportError, ConnectionError)
    if any(isinstance(c, timeouts) for c in causes):
        return UpstreamTimeout(
            f"model {model}: the upstream did not answer in time", code="upstream_timeout"
        )
    if any(isinstance(c, unreachable) for c in causes):
        return Unreachable(
            f"model {model}: the upstream is unreachable: {message}", code="upstream_unreachable"
        )
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return UpstreamFailure(status, str(message))
    log.exception("model %s failed unexpectedly", model)
    return UpstreamFailure(500, f"model {model}: unexpected error ({exc.__class__.__name__})")


def error_status_body(
    error: GatewayError | UpstreamFailure,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for an error answer."""
    if isinstance(error, GatewayError):
        return error.status, error.body(), {"x-detour-error": error.kind}
    return error.status, error.body(), {}


def call_arguments(
    body: dict[str, Any], entry: ModelEntry, models: ModelList, timeout: float
) -> dict[str, Any]:
    """The keyword arguments for `litellm.acompletion`: the client's params, the YAML's on top."""
    kwargs = {
        key: value
        for key, value in body.items()
        if key not in DROPPED_FIELDS and not key.startswith(DROPPED_PREFIXES)
    }
    kwargs.update(entry.params)
    kwargs["model"] = entry.litellm_model
    kwargs["timeout"] = timeout
    kwargs["num_retries"] = 0
    kwargs["max_retries"] = 0
    if models.drop_params:
        kwargs.setdefault("drop_params", True)
    return kwargs


def sse(data: Any) -> bytes:
    """One SSE event carrying JSON."""
    return b"data: " + (data if isinstance(data, bytes) else json.dumps(data).encode()) + b"\n\n"


def encode_chunk(chunk: Any) -> bytes:
    """A streamed chunk as an SSE event in the OpenAI format."""
    return sse(chunk.model_dump_json(exclude_none=True).encode())


class LiteLLMService:
    """Serves the configured models; LiteLLM itself is loaded in the background at start-up."""

    def __init__(self, models: ModelList, read_timeout: float) -> None:
        self.models = models
        self.read_timeout = read_timeout
        self._loading: asyncio.Future[ModuleType] | None = None

    def start_loading(self) -> None:
        """Begin importing LiteLLM in a thread so /health answers meanwhile."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load_and_warm())

    async def _load_and_warm(self) -> ModuleType:
        litellm = await asyncio.to_thread(load_litellm)
        try:  # the first call imports provider modules; pay that now, in-process, not on a user
            await litellm.acompletion(
                model="openai/detour-warmup",
                messages=[{"role": "user", "content": "warm up"}],
                mock_response="ok",
            )
        except Exception:  # a warm-up failure must not stop the gateway
            log.debug("LiteLLM warm-up failed", exc_info=True)
        return litellm

    async def litellm(self) -> ModuleType:
        """The LiteLLM module, once loaded."""
        self.start_loading()
        assert self._loading is not None
        return await asyncio.shield(self._loading)

    def entry(self, name: Any) -> ModelEntry:
        """The configured model, or NotFound listing the known ones."""
        entry = self.models.get(name) if isinstance(name, str) else None
        if entry is None:
            known = ", ".join(self.models.names) or "none"
            raise NotFound(
                f"model {name!r} is not configured on this gateway; known models: {known}",
                code="model_not_found",
            )
        return entry

    async def complete(self, body: dict[str, Any], timing: Timing) -> Any:
        """Non-streamed completion: the OpenAI response as a dict; raises mapped errors."""
        entry = self.entry(body.get("model"))
        litellm = await self.litellm()
        kwargs = call_arguments(body, entry, self.models, self.read_timeout)
        kwargs["stream"] = False
        started = perf_counter()
        try:
            response = await litellm.acompletion(**kwargs)
        except Exception as exc:
            raise_translated(exc, entry.name)
        finally:
            if not entry.is_mock:
                timing.upstream += perf_counter() - started
        return response.model_dump()

    async def stream(self, body: dict[str, Any], timing: Timing) -> AsyncIterator[bytes]:
        """Streamed completion: awaits the first chunk (earlier errors raise), then SSE bytes."""
        entry = self.entry(body.get("model"))
        litellm = await self.litellm()
        kwargs = call_arguments(body, entry, self.models, self.read_timeout)
        kwargs["stream"] = True
        started = perf_counter()
        first: Any = None
        try:
            response = await litellm.acompletion(**kwargs)
            chunks = response.__aiter__()
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                first = None
        except Exception as exc:
            raise_translated(exc, entry.name)
        finally:
            if not entry.is_mock:
                timing.upstream += perf_counter() - started
        return self._events(entry, first, chunks)

    async def _events(
        self, entry: ModelEntry, first: Any, chunks: AsyncIterator[Any]
    ) -> AsyncIterator[bytes]:
        delay = entry.stream_delay if entry.is_mock else 0.0
        try:
            if first is not None:
                yield encode_chunk(first)
                async for chunk in chunks:
                    if delay:
                        await asyncio.sleep(delay)
                    yield encode_chunk(chunk)
            yield b"data: [DONE]\n\n"
        except Exception as exc:
            log.warning("model %s stream broke: %s", entry.name, exc.__class__.__name__)
            yield sse(translate_error(exc, entry.name).body())


class UpstreamError(Exception):
    """Raised out of LiteLLMService with the mapped answer attached."""

    def __init__(self, error: GatewayError | UpstreamFailure) -> None:
        super().__init__(error.message)
        self.error = error


def raise_translated(exc: Exception, model: str) -> NoReturn:
    """Re-raise a LiteLLM exception as a GatewayError or UpstreamError."""
    error = translate_error(exc, model)
    if isinstance(error, GatewayError):
        raise error from None
    raise UpstreamError(error) from None
