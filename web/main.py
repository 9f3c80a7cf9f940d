"""Where the page's one `App` is built, from the config the server provides.

The browser shell (`web.browser.boot`) calls `build_app` with the browser's
transport, storage and clock; tests call it with in-memory ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from web.app import App
from web.clock import Clock
from web.store import Storage
from web.transport import Transport

DEFAULT_HEALTH_INTERVAL = 60.0


def build_app(
    *,
    transport: Transport,
    storage: Storage,
    clock: Clock,
    random: Callable[[], float],
    origin: str,
    config: Mapping[str, Any],
    session_storage: Storage | None = None,
) -> App:
    """The app, configured by `config.json` (a missing or odd value means the default)."""
    gateway_url = config.get("gateway_url")
    return App(
        transport=transport,
        storage=storage,
        clock=clock,
        random=random,
        origin=origin,
        default_gateway_url=gateway_url if isinstance(gateway_url, str) else "",
        health_interval=seconds(config.get("health_interval"), DEFAULT_HEALTH_INTERVAL),
        session_storage=session_storage,
    )


def seconds(value: Any, default: float) -> float:
    """A positive number of seconds from JSON, else `default`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return default
    return float(value)
