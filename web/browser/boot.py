"""Boot the page: read `config.json`, build the app with the browser's parts, wire the UI."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import traceback
from typing import Any

import js
from pyodide.http import pyfetch

from web.browser.fetch import FetchTransport
from web.browser.storage import LocalStorage
from web.browser.ui import Page
from web.clock import SystemClock
from web.main import build_app

_running: dict[str, Any] = {}  # keeps the app and its background task alive


async def page_config() -> dict[str, Any]:
    """The small `config.json` served beside the page; empty if it is missing."""
    try:
        response = await pyfetch("./config.json", cache="no-store")
        if response.ok:
            data = json.loads(await response.string())
            return data if isinstance(data, dict) else {}
    except Exception:
        js.console.warn("config.json could not be read; set the gateway in Settings")
    return {}


async def start() -> None:
    step = js.document.getElementById("loading-step")
    step.textContent = "Starting Detour…"
    config = await page_config()
    app = build_app(
        transport=FetchTransport(),
        storage=LocalStorage(),
        clock=SystemClock(),
        random=random.random,
        origin=str(js.location.origin),
        config=config,
        session_storage=LocalStorage(js.sessionStorage),
    )
    page = Page(app)
    page.wire()
    app.settle_choice()
    page.render_all()
    if app.problems:
        page.notice("Some saved settings could not be loaded: " + "; ".join(app.problems), "error")
    js.document.getElementById("loading").remove()  # its status line is not a second live region
    js.document.getElementById("app").hidden = False
    js.document.body.dataset.ready = "true"
    _running.update(app=app, page=page, task=asyncio.ensure_future(app.start()))
    js.window.detourPage = page_probe(page)


def page_probe(page: Page) -> Any:
    """Counters the tests read: renders done and proxies alive (a soak keeps both bounded)."""
    from pyodide.ffi import create_proxy

    def counts() -> str:
        gc.collect()
        objects = len(gc.get_objects())
        return json.dumps(
            {"renders": page.renders, "proxies": page.proxies.count, "objects": objects}
        )

    return create_proxy(counts)


async def start_or_report() -> None:
    """Start; if that fails, say so on the loading screen and in the console."""
    try:
        await start()
    except Exception as error:
        js.console.error("Detour failed to start:\n" + traceback.format_exc())
        js.document.getElementById("loading-step").textContent = (
            f"Detour failed to start: {error}. Reload the page; if it persists, "
            "clear this site's storage after exporting your providers."
        )


def boot() -> None:
    """Entry point called by the page's `<script type="py">`."""
    _running["boot"] = asyncio.ensure_future(start_or_report())
