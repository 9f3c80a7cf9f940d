"""The page from Debian's nginx, its gateway behind nginx: the deployment README describes.

`make dist` is served with deploy/nginx/page.conf on one origin; a gateway replica
sits behind deploy/nginx/gateway.conf on another, allowing only the page's origin
and requiring a token. The page boots offline from nginx and chats through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.deploy.nginx import Nginx, gateway_site, page_site, running_nginx
from tests.deploy.servers import (
    ROOT,
    TOKEN,
    Replica,
    built_page,
    free_port,
    replica_environment,
    running_replicas,
)
from tests.e2e.conftest import PageGuard, open_app
from tests.e2e.people import send

pytestmark = pytest.mark.timeout(420)  # a replica loads LiteLLM, the page boots Pyodide


@dataclass(frozen=True)
class Deployment:
    page_url: str
    gateway_url: str
    nginx: Nginx
    replica: Replica


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    page_port, gateway_port = free_port(), free_port()
    page_url, gateway_url = f"http://127.0.0.1:{page_port}", f"http://127.0.0.1:{gateway_port}"
    env = replica_environment(ROOT / "gateway" / "demo.yaml", page_url, {"GATEWAY_NAME": "Team"})
    with (
        running_replicas(1, env) as (replica,),
        built_page(gateway_url) as dist,
        running_nginx(
            [page_site(page_port, dist), gateway_site(gateway_port, [replica.port])],
            [page_port, gateway_port],
        ) as nginx,
    ):
        yield Deployment(f"{page_url}/", gateway_url, nginx, replica)


def test_the_page_boots_from_nginx_and_chats_through_the_gateway_behind_nginx(
    page: Page, deployment: Deployment, guard: PageGuard
) -> None:
    # Until the person enters the token, the gateway refuses its model list (the page says so).
    guard.expected_errors.append("status of 401 (Unauthorized)")
    open_app(page, deployment.page_url)
    page.get_by_role("button", name="Settings").click()
    settings = page.get_by_role("dialog", name="Settings")
    expect(settings.get_by_label("Gateway URL")).to_have_value(deployment.gateway_url)
    settings.get_by_label("Gateway token").fill(TOKEN)
    settings.get_by_role("button", name="Save").click()
    expect(page.locator("#gateway-status")).to_have_text("gateway: ready", timeout=30_000)
    settings.get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_role("combobox", name="Model", exact=True)).to_have_value("detour-demo")

    reply = send(page, "Hello from the static host")
    expect(reply).to_have_attribute("data-done", "true", timeout=60_000)
    assert reply.locator(".content").inner_text().startswith("Hello from Detour")
    assert int(reply.get_attribute("data-chunks") or 0) > 1
    expect(reply).to_have_attribute("data-route", "gateway")

    served = [entry.request for entry in deployment.nginx.access_log()]
    assert any(re.fullmatch(r"GET /vendor/[0-9a-f]+/pyodide/pyodide\.asm\.wasm", r) for r in served)
    assert "POST /v1/chat/completions" in served
