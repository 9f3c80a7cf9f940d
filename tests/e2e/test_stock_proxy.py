"""A stock LiteLLM proxy as the page's gateway: its models are offered and chat streams.

The proxy is LiteLLM's own (`litellm --config gateway/demo.yaml`), installed into
`.cache/stock-proxy` from `tests/e2e/stock_proxy.lock` (hash-pinned, made with
`uv pip compile --generate-hashes tests/e2e/stock_proxy.in`; `litellm[proxy]` itself
cannot be installed, see bench/stock_proxy.py). uv's cache keeps a re-install cheap.
When it cannot be installed here, the test is skipped and says why.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Detour, PageGuard, open_app
from tests.e2e.people import pick_model, send
from tests.gateway.standins import closed_port

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".cache" / "stock-proxy"
LOCK = Path(__file__).parent / "stock_proxy.lock"
UV = ROOT / ".venv" / "bin" / "uv"
MASTER_KEY = "sk-detour-e2e-stock-4b1d"  # the stock proxy refuses sk-1234


def install() -> str | None:
    """Install the stock proxy from its lock; None when done, else why it could not be."""
    if (VENV / "bin" / "litellm").exists():
        return None
    steps = [
        [str(UV), "venv", "--quiet", "--python", str(ROOT / ".venv" / "bin" / "python"), str(VENV)],
        [str(UV), "pip", "install", "--quiet", "--require-hashes", "-r", str(LOCK),
         "--python", str(VENV / "bin" / "python")],
    ]  # fmt: skip
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            return f"{' '.join(step[:3])} failed: {result.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="module")
def stock_proxy() -> Iterator[str]:
    problem = install()
    if problem is not None:
        pytest.skip(f"the stock LiteLLM proxy could not be installed here: {problem}")
    port = closed_port()
    env = {**os.environ, "LITELLM_OFFLINE_MODE": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_MASTER_KEY": MASTER_KEY, "LITELLM_LOG": "ERROR"}  # fmt: skip
    command = [str(VENV / "bin" / "litellm"), "--config", str(ROOT / "gateway" / "demo.yaml"),
               "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=VENV
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError(f"the stock proxy did not start (exit {process.poll()})")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.timeout(720)  # two LiteLLMs start on a shared 2-core machine
def test_the_page_chats_through_a_stock_litellm_proxy(
    page: Page, detour: Detour, guard: PageGuard, stock_proxy: str
) -> None:
    # The page tells a stock proxy by its /health, which asks for the master key: a 401.
    guard.expected_errors.append("status of 401 (Unauthorized)")
    open_app(page, detour.page_url)
    page.get_by_role("button", name="Settings").click()
    settings = page.get_by_role("dialog", name="Settings")
    settings.get_by_label("Gateway URL").fill(stock_proxy)
    settings.get_by_label("Gateway token").fill(MASTER_KEY)
    settings.get_by_role("button", name="Save").click()
    expect(page.locator("#gateway-status")).to_have_text(
        "gateway: LiteLLM proxy (no relay)", timeout=30_000
    )
    settings.get_by_role("button", name="Close", exact=True).click()
    pick_model(page, "detour-demo")
    reply = send(page, "Hello, stock proxy")
    expect(reply).to_have_attribute("data-done", "true", timeout=60_000)
    assert reply.locator(".content").inner_text().startswith("Hello from Detour")
    assert int(reply.get_attribute("data-chunks") or 0) > 1
