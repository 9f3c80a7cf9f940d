"""End-to-end fixtures: the servers `make run` starts, and a page that must stay offline.

Every browser request must stay on 127.0.0.1 and the console must stay free of
errors; a test that breaks either rule fails at teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.gateway.standins import closed_port as free_port

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
READY = "body[data-ready='true']"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, with the flags that keep it from reaching for the internet."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }


@dataclass
class Detour:
    """The running app: page URL, gateway URL and the launcher process."""

    page_url: str
    gateway_url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make run's launcher exited early ({process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def start_detour(extra_env: dict[str, str] | None = None) -> Detour:
    """Start `tools/run.py` — what `make run` runs — on free loopback ports."""
    page_port, gateway_port = free_port(), free_port()
    env = {
        **os.environ,
        "DETOUR_HOST": "127.0.0.1",
        "DETOUR_PORT": str(page_port),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(gateway_port),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "run.py")],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    detour = Detour(
        page_url=f"http://127.0.0.1:{page_port}/",
        gateway_url=f"http://127.0.0.1:{gateway_port}",
        process=process,
        env=env,
    )
    try:
        # Ready means LiteLLM is loaded and warm, which is what the launcher waits for too.
        _wait_for(detour.gateway_url + "/health/readiness", process, 240)
        _wait_for(detour.page_url, process)
    except BaseException:
        stop_detour(detour)
        raise
    return detour


def stop_detour(detour: Detour) -> int:
    """Stop the launcher as Ctrl-C would; return its exit code."""
    if detour.process.poll() is None:
        os.killpg(detour.process.pid, signal.SIGINT)
        try:
            detour.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(detour.process.pid, signal.SIGKILL)
            detour.process.wait()
    return detour.process.returncode


@pytest.fixture(scope="session")
def detour() -> Iterator[Detour]:
    running = start_detour()
    yield running
    stop_detour(running)


@dataclass
class PageGuard:
    """What the page did that a test must not allow: off-machine requests, console errors."""

    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected_errors: list[str] = field(default_factory=list)

    def on_request(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.hostname not in {h.strip("[]") for h in ALLOWED_HOSTS}:
            self.outside.append(url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(x in e for x in self.expected_errors)]


@pytest.fixture
def guard(page: Page) -> Iterator[PageGuard]:
    found = PageGuard()
    page.on("request", lambda request: found.on_request(request.url))
    page.on("console", found.on_console)
    page.on("pageerror", lambda error: found.errors.append(f"pageerror: {error}"))
    yield found
    assert found.outside == [], f"the page sent requests off this machine: {found.outside}"
    assert found.unexpected_errors() == [], f"console errors: {found.unexpected_errors()}"


def open_app(page: Page, url: str, *, timeout: float = 90_000) -> None:
    """Navigate to the page and wait for Detour's ready sentinel."""
    page.goto(url)
    page.wait_for_selector(READY, timeout=timeout)
