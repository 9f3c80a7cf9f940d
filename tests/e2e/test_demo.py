"""A new user's first minute: `make run`'s servers, an offline boot, the demo streaming."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.error
import urllib.request

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Detour, PageGuard, open_app, start_detour, stop_detour
from tests.e2e.people import model_box, provider_item


def test_page_boots_offline_and_shows_the_demo_provider(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    open_app(page, detour.page_url)
    expect(page.locator("#loading")).to_be_hidden()
    expect(provider_item(page, "Detour demo")).to_be_visible()
    expect(provider_item(page, "Detour demo")).to_have_attribute("aria-current", "true")
    expect(model_box(page)).to_have_value("detour-demo")
    expect(page.get_by_text("gateway: ready")).to_be_visible()


def test_demo_chat_streams_a_reply_in_pieces(page: Page, detour: Detour, guard: PageGuard) -> None:
    open_app(page, detour.page_url)
    expect(model_box(page)).to_have_value("detour-demo")
    page.get_by_label("Message").fill("Hello, Detour")
    page.get_by_role("button", name="Send").click()

    reply = page.get_by_role("article", name="Assistant").last
    # Seen part-way: some text has arrived while the reply is still streaming.
    page.wait_for_function(
        """() => {
            const a = [...document.querySelectorAll("article[data-role='assistant']")].pop();
            const text = a && a.querySelector('.content').textContent;
            return a && a.dataset.done !== "true" && text.length > 0;
        }""",
        timeout=30_000,
    )
    partial = reply.locator(".content").inner_text()
    expect(reply).to_have_attribute("data-done", "true", timeout=60_000)
    final = reply.locator(".content").inner_text()
    assert final.startswith("Hello from Detour")
    assert 0 < len(partial) < len(final)
    assert int(reply.get_attribute("data-chunks") or 0) > 1
    expect(reply).to_have_attribute("data-route", "gateway")
    expect(reply.locator("footer")).to_contain_text("via gateway")
    expect(page.get_by_label("You").last).to_contain_text("Hello, Detour")


def test_the_conversation_survives_a_reload(page: Page, detour: Detour, guard: PageGuard) -> None:
    open_app(page, detour.page_url)
    expect(model_box(page)).to_have_value("detour-demo")
    page.get_by_label("Message").fill("Remember me")
    page.get_by_label("Message").press("Enter")
    expect(page.get_by_role("article", name="Assistant").last).to_have_attribute(
        "data-done", "true", timeout=60_000
    )
    open_app(page, detour.page_url)
    expect(page.get_by_label("You").last).to_contain_text("Remember me")
    expect(page.get_by_label("Assistant").last).to_contain_text("Hello from Detour")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_page_server_serves_only_the_page(detour: Detour) -> None:
    assert _status(detour.page_url) == 200
    assert _status(detour.page_url + "config.json") == 200
    assert _status(detour.page_url + "web.zip") == 200
    for path in (".git/config", ".venv/pyvenv.cfg", "tests/e2e/conftest.py", "vendor/",
                 "Makefile", "gateway/demo.yaml", "../README.md"):  # fmt: skip
        assert _status(detour.page_url + path) == 404, path


def test_config_json_tells_the_page_where_the_gateway_is(detour: Detour) -> None:
    with urllib.request.urlopen(detour.page_url + "config.json", timeout=5) as response:
        body = response.read().decode()
    assert detour.gateway_url in body


def _port_open(url: str) -> bool:
    host, port = url.split("//")[1].strip("/").split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def test_ctrl_c_stops_both_servers_and_leaves_nothing_behind() -> None:
    running = start_detour()
    assert _port_open(running.page_url) and _port_open(running.gateway_url)
    code = stop_detour(running)
    assert code == 0
    assert not _port_open(running.page_url)
    assert not _port_open(running.gateway_url)
    try:  # the whole process group is gone
        os.killpg(running.process.pid, 0)
    except ProcessLookupError:
        pass
    else:
        os.killpg(running.process.pid, signal.SIGKILL)
        raise AssertionError("a process of make run's group was still alive")


def _gateway_pids(launcher: int) -> list[int]:
    """The gateway processes `make run` started (children of the launcher)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().split(b"\0")
        except OSError:
            continue
        if parent == launcher and b"gateway" in command:
            found.append(int(entry))
    return found


def test_a_gateway_that_exits_is_started_again_and_the_page_stays_up() -> None:
    running = start_detour()
    time.sleep(1.0)  # the launcher polls readiness too: let it reach its watch loop
    try:
        (first,) = _gateway_pids(running.process.pid)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = _gateway_pids(running.process.pid)
            try:
                answered = _status(running.gateway_url + "/health") == 200
            except OSError:
                answered = False
            if pids and pids != [first] and answered:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the gateway was not started again")
        assert running.process.poll() is None
        assert _status(running.page_url) == 200
    finally:
        assert stop_detour(running) == 0
