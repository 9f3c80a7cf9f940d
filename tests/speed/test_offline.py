"""Offline and updates, in real Chromium: the service worker keeps the runtime and the app."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, Response

from tests.e2e.conftest import READY, PageGuard, open_app
from tests.speed.conftest import Site

pytestmark = pytest.mark.e2e
OFFLINE_READY = "html[data-offline='ready']"
# With the network off, the app's own calls to the gateway fail, as they should.
OFFLINE_ERRORS = ["ERR_INTERNET_DISCONNECTED", "Failed to fetch", "ERR_FAILED"]


def build_of(page: Page) -> str:
    return str(page.get_attribute("meta[name='detour-build']", "content"))


def test_a_second_visit_takes_the_runtime_from_the_worker_and_a_third_boots_offline(
    page: Page, guard: PageGuard, site: Site
) -> None:
    open_app(page, site.url)
    page.wait_for_selector(OFFLINE_READY, timeout=60_000)

    runtime: list[Response] = []
    page.on(
        "response",
        lambda r: runtime.append(r) if re.search(r"/vendor/[0-9a-f]{12}/", r.url) else None,
    )
    open_app(page, site.url)
    assert runtime, "the second visit loaded no runtime file"
    assert [r.url for r in runtime if not r.from_service_worker] == []

    guard.expected_errors.extend(OFFLINE_ERRORS)
    page.context.set_offline(True)
    try:
        open_app(page, site.url)
        assert page.locator("#app").count() == 1
    finally:
        page.context.set_offline(False)


def test_a_new_build_is_used_on_the_next_visit_and_said_so(
    page: Page, guard: PageGuard, site: Site
) -> None:
    infos: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "info":
            infos.append(message.text)

    page.on("console", on_console)
    open_app(page, site.url)
    page.wait_for_selector(OFFLINE_READY, timeout=60_000)
    first = build_of(page)
    assert page.get_attribute("html", "data-updated-from") is None

    site.publish({"DETOUR_HEALTH_INTERVAL": "31"})
    open_app(page, site.url)
    second = build_of(page)
    assert second != first
    assert page.get_attribute("html", "data-updated-from") == first
    assert any(f"build {first} → {second}" in text for text in infos), infos

    page.wait_for_function(
        """async (build) => {
            const registration = await navigator.serviceWorker.getRegistration();
            const worker = registration && registration.active;
            if (!worker) return false;
            const channel = new MessageChannel();
            const answer = new Promise((resolve) => {
                channel.port1.onmessage = (event) => resolve(event.data);
            });
            worker.postMessage({ type: "build" }, [channel.port2]);
            return (await answer).build === build;
        }""",
        arg=second,
        timeout=30_000,
    )
    open_app(page, site.url)
    assert page.get_attribute("html", "data-updated-from") is None
    assert page.locator(READY).count() == 1
