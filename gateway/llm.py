"""The LiteLLM path: configured models served through LiteLLM's own Router.

LiteLLM is imported here and nowhere else, lazily and in a thread, after
switching off everything that would reach the network on its own (the price
map download, tokenizer fetches); the Router is built in that thread too and
then warmed (`gateway.warmup`) before the path reports ready. A request's
fields reach LiteLLM only through `gateway.wire.chat_arguments` (OpenAI chat
fields, never configuration), and every answer is cut to OpenAI's schema and
has the operator's secrets masked (`gateway.redaction`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from time import perf_counter
from types import ModuleType
from typing import Any, NoReturn

import httpx

from gateway.config import ModelList
from gateway.errors import GatewayError, NotFound, NotReady, Unreachable, UpstreamTimeout
from gateway.errors import openai_error as error_body
from gateway.redaction import Redactor
from gateway.routing import build_router, listed_models, routes
from gateway.timing import Timing
from gateway.warmup import warm
from gateway.wire import chat_arguments, chunk_body, chunks_of, completion_body, encode, sse

# LiteLLM reads these once, at its own import: no price-map download, no tokenizer fetch.
OFFLINE_ENVIRONMENT = {"LITELLM_OFFLINE_MODE": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

log = logging.getLogger("gateway.llm")

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

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def body(self) -> dict[str, Any]:
        """The OpenAI error shape (`code` is a string or null, as OpenAI's schema says)."""
        return error_body(self.message, ERROR_TYPES.get(self.status, "api_error"), self.code)


def cause_chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (LiteLLM reports a refused connection as a 500)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 12:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def translate_error(
    exc: BaseException, model: str, redactor: Redactor
) -> GatewayError | UpstreamFailure:
    """Map a LiteLLM exception to the gateway's answer (status kept where the upstream gave one)."""
    import openai  # loaded with LiteLLM, which depends on it
    from litellm import exceptions as llm_errors

    message = redactor.text(str(getattr(exc, "message", None) or exc or type(exc).__name__))
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
    code = getattr(exc, "code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return UpstreamFailure(status, message, code if isinstance(code, str) else None)
    log.error("model %s failed unexpectedly: %s", model, exc.__class__.__name__)
    return UpstreamFailure(500, f"model {model}: unexpected error ({exc.__class__.__name__})")


def error_status_body(
    error: GatewayError | UpstreamFailure,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for an error answer."""
    if isinstance(error, GatewayError):
        return error.status, error.body(), {"x-detour-error": error.kind}
    return error.status, error.body(), {}


class LiteLLMService:
    """Serves the configured models; LiteLLM and its Router load in the background at start-up."""

    def __init__(self, models: ModelList, read_timeout: float, redactor: Redactor) -> None:
        self.models = models
        self.read_timeout = read_timeout
        self.redactor = redactor
        self.ready = False
        self.failure: str | None = None
        self.cards: list[tuple[str, str]] = []
        self._loading: asyncio.Future[Any] | None = None

    def start_loading(self) -> None:
        """Import LiteLLM and build its Router in a thread; /health answers meanwhile."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load_and_warm())

    async def _load_and_warm(self) -> Any:
        started = perf_counter()
        litellm = await asyncio.to_thread(load_litellm)
        loaded = perf_counter()
        try:
            router = await asyncio.to_thread(build_router, litellm, self.models, self.read_timeout)
        except Exception as exc:
            self.failure = self.redactor.text(f"the model list cannot be served: {exc}")
            log.error("%s", self.failure)
            raise NotReady(self.failure) from None
        self.cards = listed_models(litellm, self.models)
        try:
            await warm(litellm)
        except Exception as exc:  # LiteLLM still serves; the first call pays what was not warmed
            log.warning("LiteLLM warm-up failed: %s", self.redactor.text(str(exc)))
        log.info(
            "LiteLLM ready: imported in %.1f s, Router built and warm in %.1f s",
            loaded - started,
            perf_counter() - loaded,
        )
        self.ready = True
        return router

    async def router(self) -> Any:
        """The Router, once LiteLLM is loaded (NotReady when the model list cannot be served)."""
        self.start_loading()
        assert self._loading is not None
        return await asyncio.shield(self._loading)

    async def model_cards(self) -> list[tuple[str, str]]:
        """(id, owned_by) of every model this gateway serves (wildcards need LiteLLM loaded)."""
        if not self.ready and not any("*" in name for name in self.models.names):
            return [(name, self.models.owner(name)) for name in self.models.names]
        await self.router()
        return self.cards

    async def routed(self, name: Any) -> Any:
        """The Router when it can route `name`, else NotFound listing the configured names."""
        router = await self.router()
        if not isinstance(name, str) or not routes(router, name):
            known = ", ".join(self.models.names) or "none"
            raise NotFound(
                f"model {name!r} is not configured on this gateway; known models: {known}",
                code="model_not_found",
            )
        return router

    async def complete(self, body: dict[str, Any], timing: Timing) -> bytes:
        """Non-streamed completion: the OpenAI response as JSON bytes; raises mapped errors."""
        return self.redactor.raw(encode(await self._complete(body, timing)))

    async def _complete(self, body: dict[str, Any], timing: Timing) -> dict[str, Any]:
        name = body.get("model")
        router = await self.routed(name)
        arguments = self.arguments(body)
        arguments["stream"] = False
        started = perf_counter()
        try:
            response = await router.acompletion(**arguments)
        except Exception as exc:
            raise_translated(exc, str(name), self.redactor)
        finally:
            timing.upstream += perf_counter() - started
        return completion_body(response)

    async def _whole_as_chunks(self, body: dict[str, Any], timing: Timing) -> AsyncIterator[bytes]:
        completion = await self._complete(body, timing)  # errors raise before any byte is sent
        options = body.get("stream_options")
        usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = [self.redactor.raw(sse(chunk)) for chunk in chunks_of(completion, usage)]

        async def events() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk
            yield b"data: [DONE]\n\n"

        return events()

    @staticmethod
    def arguments(body: dict[str, Any]) -> dict[str, Any]:
        """The Router's call arguments: OpenAI chat fields only, `user` passed on to the upstream.

        LiteLLM forwards `user` to OpenAI's own models only; `allowed_openai_params` (set
        here, never from the request) makes it reach any OpenAI-compatible upstream too.
        """
        arguments = chat_arguments(body)
        if "user" in arguments:
            arguments["allowed_openai_params"] = ["user"]
        return arguments

    async def stream(self, body: dict[str, Any], timing: Timing) -> AsyncIterator[bytes]:
        """Streamed completion: awaits the first chunk (earlier errors raise), then SSE bytes."""
        if isinstance(body.get("n"), int) and body["n"] > 1:
            return await self._whole_as_chunks(body, timing)
        name = str(body.get("model"))
        router = await self.routed(body.get("model"))
        arguments = self.arguments(body)
        arguments["stream"] = True
        started = perf_counter()
        first: Any = None
        try:
            response = await router.acompletion(**arguments)
            chunks = response.__aiter__()
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                first = None
        except Exception as exc:
            raise_translated(exc, name, self.redactor)
        finally:
            timing.upstream += perf_counter() - started
        return self._events(name, first, chunks)

    async def _events(
        self, name: str, first: Any, chunks: AsyncIterator[Any]
    ) -> AsyncIterator[bytes]:
        delay = self.models.stream_delay(name)
        redact = self.redactor.raw
        try:
            if first is not None:
                yield redact(sse(chunk_body(first)))
                async for chunk in chunks:
                    if delay:
                        await asyncio.sleep(delay)
                    yield redact(sse(chunk_body(chunk)))
            yield b"data: [DONE]\n\n"
        except Exception as exc:
            log.warning("model %s stream broke: %s", name, exc.__class__.__name__)
            yield sse(translate_error(exc, name, self.redactor).body())


class UpstreamError(Exception):
    """Raised out of LiteLLMService with the mapped answer attached."""

    def __init__(self, error: GatewayError | UpstreamFailure) -> None:
        super().__init__(error.message)
        self.error = error


def raise_translated(exc: Exception, model: str, redactor: Redactor) -> NoReturn:
    """Re-raise a LiteLLM exception as a GatewayError or UpstreamError."""
    error = translate_error(exc, model, redactor)
    if isinstance(error, GatewayError):
        raise error from None
    raise UpstreamError(error) from None
