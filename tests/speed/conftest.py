"""Speed and offline tests in real Chromium: the e2e suite's browser, gateway and guard.

Each test serves its own build of the page with the real page server
(`tools/serve.py`), so a test can publish a new build under the page's feet.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import (  # noqa: F401  (fixtures, used by name)
    ROOT,
    Detour,
    browser_type_launch_args,
    guard,
    start_detour,
    stop_detour,
)
from tests.gateway.standins import closed_port as free_port

sys.path.insert(0, str(ROOT / "tools"))
from build import build


@dataclass
class Site:
    """A build of the page in its own folder, served by the page server."""

    dist: Path
    url: str
    gateway_url: str
    process: subprocess.Popen[bytes]

    def publish(self, environ: dict[str, str]) -> None:
        """Build the page again into the folder being served, as a deploy would."""
        build(environ, self.dist)


@pytest.fixture(scope="module")
def page_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def gateway(page_port: int) -> Iterator[Detour]:
    """The real gateway (started as `make run` starts it), open to this module's page origin."""
    running = start_detour({"GATEWAY_ALLOWED_ORIGINS": f"http://127.0.0.1:{page_port}"})
    yield running
    stop_detour(running)


@pytest.fixture
def site(tmp_path: Path, page_port: int, gateway: Detour) -> Iterator[Site]:
    dist = build({}, tmp_path / "dist")
    env = {
        **os.environ,
        "DETOUR_DIST": str(dist),
        "DETOUR_PORT": str(page_port),
        "LITELLM_GATEWAY_ENDPOINT": gateway.gateway_url,
    }
    process = subprocess.Popen([sys.executable, str(ROOT / "tools" / "serve.py")], env=env)
    url = f"http://127.0.0.1:{page_port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the page server did not come up") from None
            time.sleep(0.2)
    yield Site(dist, url, gateway.gateway_url, process)
    process.terminate()
    process.wait(10)
