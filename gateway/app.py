"""The gateway application: `create_app(settings)` wires routes, middleware and the relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import SERVICE, __version__
from gateway.auth import AuthMiddleware
from gateway.config import ModelList, load_model_list
from gateway.cors import CORSMiddleware
from gateway.errors import BadRequest, GatewayError, NotFound, Unreachable
from gateway.llm import LiteLLMService, UpstreamError, error_status_body
from gateway.llm_docs import (
    CHAT_RESPONSES,
    MODELS_RESPONSES,
    ChatRequest,
    Readiness,
    validation_errors_as_answered,
)
from gateway.pinning import relay_client, timeouts
from gateway.policy import (
    CachingResolver,
    Resolver,
    UpstreamPolicy,
    check_upstream,
    system_resolver,
)
from gateway.probe import ProbeRequest, ProbeResult, probe_cors
from gateway.probe import unreachable as probe_unreachable
from gateway.redaction import Redactor, redact_logs
from gateway.relay import Relay
from gateway.settings import Settings
from gateway.timing import TimingMiddleware, timing_of
from gateway.upstream import UpstreamTransport


class Health(BaseModel):
    """What /health says: cheap, no upstream call."""

    status: str = "ok"
    service: str = SERVICE
    version: str = __version__
    name: str
    relay: bool = True
    auth_required: bool
    models: int


class ModelCard(BaseModel):
    """One entry of /v1/models."""

    id: str
    object: str = "model"
    created: int = 0
    owned_by: str


class ModelCards(BaseModel):
    """The OpenAI model list."""

    object: str = "list"
    data: list[ModelCard]


class GatewayApp(FastAPI):
    """FastAPI, with `/relay/` requests handed straight to the relay's own middleware chain.

    The relay is plain ASGI and answers its own errors; going around FastAPI's
    per-request layers (error and telemetry wrappers, router, exception
    middleware) keeps the detour's added latency small. The relay route stays
    registered too, for the OpenAPI schema.
    """

    relay_chain: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.relay_chain is not None
            and scope["type"] == "http"
            and scope["path"].startswith("/relay/")
        ):
            await self.relay_chain(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> JSONResponse:
    """A GatewayError as an HTTP answer."""
    return JSONResponse(
        error.body(),
        status_code=error.status,
        headers={**(headers or {}), "x-detour-error": error.kind},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves in the OpenAI shape."""

    async def on_gateway_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        return error_response(exc)

    async def on_upstream_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UpstreamError)
        status, body, headers = error_status_body(exc.error)
        return JSONResponse(body, status_code=status, headers=headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return error_response(
            BadRequest(f"invalid request: {where}: {first.get('msg', 'invalid')}", status=422)
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(
                NotFound("no such route on the Detour gateway", code="route_not_found")
            )
        return error_response(
            BadRequest(str(exc.detail), code="http_error", status=exc.status_code),
            headers=dict(exc.headers or {}),  # `Allow` on a 405
        )

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(UpstreamError, on_upstream_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


RELAY_DOC: dict[str, Any] = {
    "summary": "Relay a provider request (the CORS detour)",
    "description": (
        "Forwards the request to `X-Detour-Upstream` + `/{path}` (+ query) and streams the "
        "answer back unchanged: status (redirects are not followed), headers minus hop-by-hop "
        "and `access-control-*`, raw body bytes and SSE events as they arrive. `Authorization`, "
        "`x-api-key`, `anthropic-*` and other provider headers are forwarded; `Host`, `Origin`, "
        "`Referer`, `Cookie`, `sec-*` and `x-detour-*` are not. The upstream must pass the "
        "policy (http/https, public address after DNS, optional allowlist); refusals are 403 "
        "with `x-detour-error: policy`. Unreachable 502, timeout 504, too large 413/431."
    ),
    "parameters": [
        {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "X-Detour-Upstream",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "example": "https://api.z.ai/api/paas/v4"},
            "description": "Provider base URL",
        },
        {
            "name": "X-Detour-Token",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "Gateway token, if set (Authorization is the provider key here)",
        },
    ],
    "responses": {
        "200": {"description": "The upstream's answer, passed through"},
        "403": {"description": "Refused by policy (`x-detour-error: policy`)"},
        "502": {"description": "Upstream unreachable (`x-detour-error: unreachable`)"},
        "504": {"description": "Upstream timeout (`x-detour-error: timeout`)"},
    },
    "tags": ["relay"],
}


def create_app(
    settings: Settings,
    *,
    models: ModelList | None = None,
    resolver: Resolver | None = None,
) -> FastAPI:
    """Build the gateway for `settings` (models from its config file unless given)."""
    model_list = models if models is not None else load_model_list(settings.config_path)
    policy = UpstreamPolicy(
        allow_private=settings.allow_private_upstreams, allowlist=settings.allowlist
    )
    upstream_resolver = resolver or CachingResolver(system_resolver)
    transport = UpstreamTransport()
    timeout = timeouts(settings.connect_timeout, settings.read_timeout)
    client = relay_client(transport, timeout)
    gateway_token = settings.token.get_secret_value() if settings.token else ""
    redactor = Redactor({*model_list.secrets, gateway_token})
    redact_logs(redactor)
    llm = LiteLLMService(model_list, settings.read_timeout, redactor)
    auth_required = settings.token is not None or model_list.master_key is not None
    health = Health(name=settings.name, auth_required=auth_required, models=len(model_list.names))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        llm.start_loading()
        try:
            yield
        finally:
            await client.aclose()

    app = GatewayApp(
        title="Detour gateway",
        version=__version__,
        description="Relay and LiteLLM-backed OpenAI-compatible API for the Detour page.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.llm = llm
    app.state.client = client
    install_error_handlers(app)

    @app.get("/health", tags=["gateway"])
    async def get_health() -> Health:
        """Liveness and what this gateway offers; no auth, no upstream call."""
        return health

    @app.get("/health/liveliness", tags=["gateway"])
    async def get_liveliness() -> str:
        """Stock-LiteLLM-compatible liveness check."""
        return "I'm alive!"

    @app.get(
        "/health/readiness",
        tags=["gateway"],
        responses={
            200: {"model": Readiness, "description": "LiteLLM is loaded and warm"},
            503: {"model": Readiness, "description": "LiteLLM is still loading"},
        },
    )
    async def get_readiness() -> JSONResponse:
        """200 once LiteLLM is loaded and warm (plain and streamed calls); 503 until then."""
        if llm.ready:
            return JSONResponse(Readiness(status="ready").model_dump())
        state = (
            Readiness(status="failed", detail=llm.failure)
            if llm.failure
            else Readiness(status="loading")
        )
        return JSONResponse(state.model_dump(), 503)

    @app.get("/v1/models", tags=["litellm"], responses=MODELS_RESPONSES)
    @app.get("/models", tags=["litellm"], include_in_schema=False)
    async def list_models() -> ModelCards:
        """The configured models (wildcards expanded as LiteLLM's proxy does), OpenAI format."""
        cards = await llm.model_cards()
        return ModelCards(data=[ModelCard(id=i, owned_by=owner) for i, owner in cards])

    @app.post(
        "/v1/chat/completions", tags=["litellm"], response_model=None, responses=CHAT_RESPONSES
    )
    @app.post("/chat/completions", tags=["litellm"], include_in_schema=False, response_model=None)
    async def chat_completions(body: ChatRequest, request: Request) -> Response:
        """OpenAI chat completions through LiteLLM, streamed (SSE) or not."""
        payload = body.model_dump(exclude_unset=True)
        timing = timing_of(request.scope)
        if body.stream:
            events = await llm.stream(payload, timing)
            return StreamingResponse(
                events,
                media_type="text/event-stream",
                headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
            )
        return Response(await llm.complete(payload, timing), media_type="application/json")

    @app.post("/probe", tags=["gateway"])
    async def probe(
        body: ProbeRequest, origin: Annotated[str | None, Header(include_in_schema=False)] = None
    ) -> ProbeResult:
        """Send one CORS preflight to an upstream (relay policy) and report its answer."""
        page_origin = body.origin or origin or next(iter(sorted(settings.origins)), "null")
        try:
            checked = await check_upstream(body.url, policy, upstream_resolver)
        except Unreachable as error:  # a name that does not resolve: an answer, not a failure
            return probe_unreachable(body.url, page_origin, error.message)
        return await probe_cors(client, checked, page_origin)

    relay = Relay(
        transport,
        timeout,
        policy,
        upstream_resolver,
        settings.max_body_bytes,
        settings.max_header_bytes,
    )
    app.router.routes.append(Route("/relay/{path:path}", endpoint=relay, methods=None))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            methods = ("get", "post", "put", "patch", "delete")
            schema["paths"]["/relay/{path}"] = {
                m: {**RELAY_DOC, "operationId": f"relay_{m}"} for m in methods
            }
            app.openapi_schema = validation_errors_as_answered(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(AuthMiddleware, token=settings.token, master_key=model_list.master_key)
    app.add_middleware(CORSMiddleware, origins=settings.origins)
    app.add_middleware(TimingMiddleware)
    app.relay_chain = TimingMiddleware(
        CORSMiddleware(
            AuthMiddleware(relay, token=settings.token, master_key=model_list.master_key),
            origins=settings.origins,
        )
    )
    return app
