"""Routing as a person meets it: real page, real gateway, stand-in providers on loopback.

Stand-ins behave as real providers do for CORS: some send CORS headers, some
send none (the browser blocks them; the gateway's relay gets through), and a
refused key comes back without CORS headers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Detour, PageGuard, open_app, start_detour, stop_detour
from tests.e2e.people import PAGE_LOAD, add_provider, chat, model_box, provider_item
from tests.gateway.standins import anthropic_standin, closed_port, openai_standin, serve

CORS_ERRORS = ("CORS policy", "Failed to load resource", "net::ERR_FAILED")


@pytest.fixture(scope="module")
def fast() -> Iterator[Detour]:
    """`make run` with health checked every second, shared by the monitoring tests."""
    started = start_detour({"DETOUR_HEALTH_INTERVAL": "1"})
    yield started
    stop_detour(started)


@pytest.fixture
def with_cors() -> Iterator[tuple[str, object]]:
    app = openai_standin(cors=True, api_key="sk-good", models=("open-model",), pace=0.01)
    with serve(app) as url:
        yield url + "/v1", app


@pytest.fixture
def without_cors() -> Iterator[tuple[str, object]]:
    app = openai_standin(cors=False, api_key="sk-good", models=("closed-model",), pace=0.01)
    with serve(app) as url:
        yield url + "/v1", app


def test_auto_goes_direct_when_the_provider_allows_the_browser(
    page: Page, detour: Detour, guard: PageGuard, with_cors: tuple[str, object]
) -> None:
    base_url, standin = with_cors
    open_app(page, detour.page_url)
    add_provider(page, name="Open", base_url=base_url, key="sk-good")
    reply = chat(page, "hi", "open-model")
    expect(reply).to_have_attribute("data-route", "direct")
    expect(reply.locator(".content")).to_contain_text("stand-in")
    expect(provider_item(page, "Open")).to_contain_text("auto → direct")
    chats = [r for r in standin.state.seen if r["path"].endswith("chat/completions")]  # type: ignore[attr-defined]
    assert chats and chats[-1]["headers"].get("origin") == detour.page_url.rstrip("/")


def test_auto_takes_the_gateway_when_cors_blocks_and_says_so(
    page: Page, detour: Detour, guard: PageGuard, without_cors: tuple[str, object]
) -> None:
    guard.expected_errors.extend(CORS_ERRORS)
    base_url, standin = without_cors
    open_app(page, detour.page_url)
    add_provider(page, name="Closed", base_url=base_url, key="sk-good")
    reply = chat(page, "hi", "closed-model")
    expect(reply).to_have_attribute("data-route", "gateway")
    expect(reply.locator(".content")).to_contain_text("stand-in")
    page.get_by_text("Activity").click()
    expect(page.get_by_label("Activity log")).to_contain_text(
        "Closed: direct blocked by CORS → using gateway"
    )
    expect(provider_item(page, "Closed")).to_contain_text("auto → gateway")
    relayed = [r for r in standin.state.seen if r["path"].endswith("chat/completions")]  # type: ignore[attr-defined]
    assert relayed[-1]["headers"]["authorization"] == "Bearer sk-good"
    assert "x-detour-upstream" not in relayed[-1]["headers"]


def test_the_remembered_route_survives_a_reload(
    page: Page, detour: Detour, guard: PageGuard, without_cors: tuple[str, object]
) -> None:
    guard.expected_errors.extend(CORS_ERRORS)
    base_url, standin = without_cors
    open_app(page, detour.page_url)
    add_provider(page, name="Closed", base_url=base_url, key="sk-good")
    chat(page, "first", "closed-model")
    open_app(page, detour.page_url)
    seen_before = len(standin.state.seen)  # type: ignore[attr-defined]
    reply = chat(page, "second", "closed-model")
    expect(reply).to_have_attribute("data-route", "gateway")
    stored = json.loads(page.evaluate("localStorage.getItem('detour.state')"))
    provider_id = next(p["id"] for p in stored["providers"] if p["name"] == "Closed")
    assert stored["routes"][provider_id]["route"] == "gateway"
    # No direct attempt was made first: the stand-in saw no browser preflight after the reload.
    later = standin.state.seen[seen_before:]  # type: ignore[attr-defined]
    assert all(r["method"] != "OPTIONS" for r in later)


def test_direct_route_blocked_by_cors_names_the_fix(
    page: Page, detour: Detour, guard: PageGuard, without_cors: tuple[str, object]
) -> None:
    guard.expected_errors.extend(CORS_ERRORS)
    base_url, _ = without_cors
    open_app(page, detour.page_url)
    add_provider(page, name="Closed", base_url=base_url, key="sk-good", route="Direct")
    reply = chat(page, "hi", "closed-model", type_it=True)
    expect(reply).to_have_class(re.compile(r"\berror\b"))
    expect(reply).to_contain_text("blocked by CORS")
    expect(reply).to_contain_text("switch this provider to the gateway route")
    expect(reply).to_contain_text(
        f"sent no Access-Control-Allow-Origin for {detour.page_url.rstrip('/')}"
    )


def test_a_refused_key_hidden_by_cors_is_reported_as_an_auth_error(
    page: Page, detour: Detour, guard: PageGuard, without_cors: tuple[str, object]
) -> None:
    guard.expected_errors.extend(CORS_ERRORS)
    base_url, _ = without_cors
    open_app(page, detour.page_url)
    add_provider(page, name="Closed", base_url=base_url, key="sk-wrong")
    reply = chat(page, "hi", "closed-model", type_it=True)
    expect(reply).to_contain_text("refused the key")
    expect(reply).to_contain_text("carried no CORS headers")
    assert "sk-wrong" not in reply.inner_text()
    stored = json.loads(page.evaluate("localStorage.getItem('detour.state')"))
    assert stored["routes"] == {}
    page.get_by_text("Activity").click()
    expect(page.get_by_label("Activity log")).not_to_contain_text("using gateway")


def test_a_gateway_routed_provider_that_is_down_gets_a_clear_error(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    guard.expected_errors.append("502 (Bad Gateway)")
    open_app(page, detour.page_url)
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    add_provider(page, name="Dead", base_url=dead, key="sk", route="Gateway")
    reply = chat(page, "hi", "any-model", type_it=True)
    expect(reply).to_contain_text("unreachable from the gateway")


def test_zai_template_works_through_the_gateway_with_its_headers(
    page: Page, detour: Detour, guard: PageGuard, without_cors: tuple[str, object]
) -> None:
    base_url, standin = without_cors
    open_app(page, detour.page_url)
    add_provider(page, name="Z.ai", base_url=base_url, key="sk-good", template="Z.ai")
    reply = chat(page, "你好", "closed-model")
    expect(reply).to_have_attribute("data-route", "gateway")
    relayed = [r for r in standin.state.seen if r["path"].endswith("chat/completions")]  # type: ignore[attr-defined]
    assert relayed[-1]["headers"]["accept-language"] == "en-US,en"
    assert all(r["method"] != "OPTIONS" for r in standin.state.seen)  # type: ignore[attr-defined]


def test_legacy_saved_providers_load_untouched_and_route_as_auto(
    page: Page, detour: Detour, guard: PageGuard, with_cors: tuple[str, object]
) -> None:
    base_url, _ = with_cors
    old = {"id": "old", "name": "Old friend", "baseUrl": base_url, "apiKey": "sk-good"}
    legacy = json.dumps([{**old, "type": "openai", "color": "teal"}])
    open_app(page, detour.page_url)
    page.evaluate("value => localStorage.setItem('detour.providers', value)", legacy)
    open_app(page, detour.page_url)
    provider_item(page, "Old friend").get_by_role("button", name=re.compile("^Old friend,")).click()
    reply = chat(page, "still there?", "open-model")
    expect(reply).to_have_attribute("data-route", "direct")
    assert page.evaluate("localStorage.getItem('detour.providers')") == legacy
    saved = json.loads(page.evaluate("localStorage.getItem('detour.state')"))
    old = next(p for p in saved["providers"] if p["id"] == "old")
    assert old["routing"] == "auto" and old["color"] == "teal"


def test_corrupt_saved_state_is_kept_aside_and_reported(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    open_app(page, detour.page_url)
    page.evaluate("localStorage.setItem('detour.state', '{\"version\": 2, \"providers\": [')")
    open_app(page, detour.page_url)
    expect(page.get_by_role("main").get_by_text("could not be loaded")).to_be_visible()
    keys = page.evaluate("Object.keys(localStorage)")
    backups = [k for k in keys if k.startswith("detour.state.corrupt-")]
    assert backups, keys
    kept = page.evaluate("key => localStorage.getItem(key)", backups[0])
    assert kept == '{"version": 2, "providers": ['


def test_stop_keeps_the_partial_reply(page: Page, detour: Detour, guard: PageGuard) -> None:
    slow = openai_standin(cors=True, models=("slow-model",), piece=2, pace=0.2)
    with serve(slow) as url:
        open_app(page, detour.page_url)
        add_provider(page, name="Slow", base_url=url + "/v1")
        expect(model_box(page)).to_have_value("slow-model")
        page.get_by_label("Message").fill("tell me a story")
        page.get_by_role("button", name="Send").click()
        reply = page.get_by_role("article", name="Assistant").last
        expect(reply.locator(".content")).not_to_be_empty(timeout=PAGE_LOAD)
        page.get_by_role("button", name="Stop").click()
        expect(reply).to_have_attribute("data-done", "true")
        expect(reply.locator("footer")).to_contain_text("stopped")
        partial = reply.locator(".content").inner_text()
        assert partial
        page.wait_for_timeout(500)
        assert reply.locator(".content").inner_text() == partial


def test_health_marks_a_provider_down_after_repeated_failures_and_back_up(
    page: Page, guard: PageGuard, fast: Detour
) -> None:
    """Continuous monitoring, with the check interval shortened through the page's config."""
    guard.expected_errors.extend(("Failed to load resource", "ERR_CONNECTION_REFUSED"))
    port = closed_port()
    open_app(page, fast.page_url)
    with serve(openai_standin(cors=True, models=("m",)), port=port) as url:
        add_provider(page, name="Flaky", base_url=url + "/v1")
        item = provider_item(page, "Flaky")
        expect(item).to_contain_text("healthy", timeout=15_000)
    expect(item).to_contain_text("down", timeout=30_000)
    page.get_by_text("Activity").click()
    expect(page.get_by_label("Activity log")).to_contain_text("Flaky: healthy → down")
    with serve(openai_standin(cors=True, models=("m",)), port=port):
        expect(item).to_contain_text("healthy", timeout=60_000)


def test_anthropic_is_called_directly_with_its_browser_access_header(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    standin = anthropic_standin(cors=True, api_key="sk-ant", models=("claude-standin",))
    with serve(standin) as url:
        open_app(page, detour.page_url)
        add_provider(page, name="Claude", base_url=url + "/v1", key="sk-ant", template="Anthropic")
        reply = chat(page, "hello", "claude-standin")
        expect(reply).to_have_attribute("data-route", "direct")
        expect(reply.locator(".content")).to_contain_text("stand-in")
        sent = [r for r in standin.state.seen if r["path"] == "/v1/messages"]  # type: ignore[attr-defined]
        posted = [r for r in sent if r["method"] == "POST"][-1]
        assert posted["headers"]["anthropic-dangerous-direct-browser-access"] == "true"
        assert posted["headers"]["x-api-key"] == "sk-ant"
        assert "authorization" not in posted["headers"]


def test_code_in_a_reply_is_shown_as_a_code_block_and_never_as_html(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    reply_text = "Run this:\n```python\nprint('<b>hi</b>')\n```\n<img src=x onerror=alert(1)>"
    with serve(openai_standin(cors=True, models=("m",), reply=reply_text)) as url:
        open_app(page, detour.page_url)
        add_provider(page, name="Coder", base_url=url + "/v1")
        reply = chat(page, "code please", "m")
        code = reply.locator("pre code")
        expect(code).to_have_text("print('<b>hi</b>')")
        expect(code).to_have_attribute("data-language", "python")
        expect(reply.locator("img")).to_have_count(0)
        expect(reply.get_by_role("paragraph").last).to_have_text("<img src=x onerror=alert(1)>")
        open_app(page, detour.page_url)  # the saved conversation renders the same way
        expect(page.get_by_label("Assistant").last.locator("pre code")).to_have_text(
            "print('<b>hi</b>')"
        )


def test_the_gateway_going_away_and_coming_back_shows_within_two_intervals(
    page: Page, guard: PageGuard, fast: Detour
) -> None:
    """The gateway exits; `make run` starts it again; the badge follows both (interval 1 s)."""
    from tests.e2e.test_demo import _gateway_pids, _status

    guard.expected_errors.extend(("Failed to load resource", "ERR_CONNECTION_REFUSED"))
    open_app(page, fast.page_url)
    badge = page.locator("#gateway-status")
    expect(badge).to_have_text("gateway: ready", timeout=PAGE_LOAD)
    (gateway,) = _gateway_pids(fast.process.pid)
    os.kill(gateway, signal.SIGKILL)
    expect(badge).to_have_text("gateway: unreachable", timeout=2_000 + 3_000)  # 2 intervals
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _status(fast.gateway_url + "/health") == 200:
                break
        except OSError:
            time.sleep(0.2)
    expect(badge).to_have_text("gateway: ready", timeout=2_000 + 3_000)


def test_a_slow_provider_delays_no_other_check_and_a_check_redraws_only_its_row(
    page: Page, guard: PageGuard, fast: Detour
) -> None:
    """Each provider keeps its own schedule (interval 1 s), and a finished check
    replaces its own row in the list, not every row."""
    quick = openai_standin(cors=True, models=("m",))
    slow = openai_standin(cors=True, models=("m",), slow_models=4.0)
    with serve(quick) as quick_url, serve(slow) as slow_url:
        open_app(page, fast.page_url)
        add_provider(page, name="Slow", base_url=slow_url + "/v1")
        add_provider(page, name="Quick", base_url=quick_url + "/v1")
        expect(provider_item(page, "Quick")).to_contain_text("healthy", timeout=15_000)
        page.evaluate(
            """() => {
                window.__removed = [];
                new MutationObserver((records) => {
                    for (const r of records) window.__removed.push(...r.removedNodes);
                }).observe(document.getElementById("providers"), { childList: true });
            }"""
        )
        seen = quick.state.seen  # type: ignore[attr-defined]
        listed = lambda: sum(1 for r in seen if r["path"] == "/v1/models")  # noqa: E731
        before = listed()
        page.wait_for_timeout(5_000)
        checks = listed() - before
        assert checks >= 3, f"Quick was checked {checks} times in 5 s at a 1 s interval"
        removed, moved = page.evaluate(
            "[window.__removed.length, window.__removed.filter((n) => n.isConnected).length]"
        )
        assert removed, "no check redrew a row"
        assert moved == 0, f"{moved} unchanged rows were taken out and put back"


def test_a_chat_reuses_the_preflight_the_provider_lets_the_browser_keep(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    """Two chats with a key (so each needs a CORS preflight) to a provider whose
    preflight answer may be kept for 10 minutes: one preflight, not two."""
    app = openai_standin(cors=True, api_key="sk-good", models=("m",), preflight_max_age=600)
    with serve(app) as url:
        open_app(page, detour.page_url)
        add_provider(page, name="Kept", base_url=url + "/v1", key="sk-good", route="Direct")
        chat(page, "one", "m")
        chat(page, "two", "m")
        replies = page.get_by_role("article", name="Assistant")
        expect(replies).to_have_count(2)
        expect(replies.last).to_have_attribute("data-done", "true")
        seen = app.state.seen  # type: ignore[attr-defined]
        calls = [r["method"] for r in seen if r["path"] == "/v1/chat/completions"]
        assert calls.count("POST") == 2
        assert calls.count("OPTIONS") == 1, calls
