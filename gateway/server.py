"""How the gateway is served: uvicorn with the edge protocol and the settings' limits."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

from gateway.edge import EdgeLimits, edge_protocol
from gateway.settings import Settings


def edge_limits(settings: Settings) -> EdgeLimits:
    """The per-client limits the server enforces while reading."""
    return EdgeLimits(
        max_head_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        max_body_bytes=settings.max_body_bytes,
        head_timeout=settings.head_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )


def server_config(app: ASGIApp, settings: Settings, **overrides: object) -> uvicorn.Config:
    """uvicorn's configuration for `app` (one process, one event loop)."""
    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "http": edge_protocol(edge_limits(settings)),
        "log_level": settings.log_level,
        "access_log": False,  # its lines carry query strings, where some providers put keys
        "server_header": False,
        "proxy_headers": False,  # the gateway does not use client addresses; trust no X-Forwarded-*
        "timeout_keep_alive": settings.keepalive_timeout,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "lifespan": "auto",
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)  # type: ignore[arg-type]
