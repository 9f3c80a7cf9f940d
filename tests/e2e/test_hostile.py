"""The page under hostile input and at scale: it never freezes and never loses what it had.

Hostile stand-ins on loopback (tests/e2e/hostile.py); responsiveness is measured in
the page, as the delay from a real key press to its first listener while a reply streams.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Detour, PageGuard, open_app
from tests.e2e.hostile import cors_trap, hostile
from tests.e2e.people import PAGE_LOAD, add_provider, chat, model_box, own_page, pick_model, send
from tests.gateway.standins import serve

INPUT_WATCH = """() => {
  window.watch = {delays: [], tasks: []};
  addEventListener("keydown", (e) => watch.delays.push(performance.now() - e.timeStamp), true);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) watch.tasks.push(Math.round(e.duration));
  }).observe({type: "longtask"});
}"""
STOP_AND_TIME = """() => new Promise(resolve => {
  const reply = [...document.querySelectorAll("article[aria-label='Assistant']")].pop();
  const start = performance.now();
  new MutationObserver((_, observer) => {
    if (reply.dataset.done !== "true") return;
    observer.disconnect();
    resolve(performance.now() - start);
  }).observe(reply, {attributes: true});
  document.getElementById("stop").click();
})"""
# The targets: Stop honoured, and a key press handled, within 100 ms. Before: a 600 KB
# reply froze the page for 35 s, and at 2 MB Stop could not be clicked within 200 s.
# The page's own work is held to the target: no main-thread task over 100 ms. A key's
# wait also includes the machine (other processes, the test's own servers): most keys
# must meet the target and none may wait more than 250 ms.
STOP_BOUND_MS = 100
TASK_BOUND_MS = 100
INPUT_BOUND_MS = 100
INPUT_WORST_MS = 250
FILL_STORAGE = """() => {
  let size = 1 << 20, n = 0;
  while (size > 64) {
    try { localStorage.setItem("filler." + n++, "x".repeat(size)); }
    catch (e) { size = size >> 1; }
  }
}"""
FREE_STORAGE = """() => Object.keys(localStorage).filter(k => k.startsWith("filler."))
  .forEach(k => localStorage.removeItem(k))"""


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[dict[str, tuple[str, object]]]:
    apps = {
        "long": hostile("long", size=5_000_000, piece=4096, pace=0.002),
        "slow": hostile("long", size=2_000_000, piece=512, pace=0.002),
        "hang": hostile("hang"),
        "string_usage": hostile("string_usage"),
        "html": hostile("html"),
        "malformed": hostile("malformed"),
    }
    with ExitStack() as stack:
        yield {k: (stack.enter_context(serve(app)) + "/v1", app) for k, app in apps.items()}


@pytest.fixture(scope="module")
def shared(
    browser: Browser, detour: Detour, stand_ins: dict[str, tuple[str, object]]
) -> Iterator[tuple[Page, PageGuard]]:
    with own_page(browser, detour.page_url) as (page, found):
        found.expected_errors.extend(("Failed to load resource", "ERR_", "QuotaExceeded"))
        for kind, (url, _app) in stand_ins.items():
            add_provider(page, name=kind.replace("_", " ").title(), base_url=url)
            model = "long-model" if kind == "slow" else f"{kind}-model"
            expect(model_box(page)).to_have_value(model, timeout=PAGE_LOAD)
        yield page, found


@pytest.fixture
def page_(shared: tuple[Page, PageGuard]) -> Page:
    page = shared[0]
    page.evaluate(FREE_STORAGE)
    page.get_by_role("button", name="+ New chat").click()
    return page


def test_a_5_mb_reply_streams_whole_with_the_page_responsive(page_: Page) -> None:
    """Keys typed into the message box while 5 MB stream in are handled promptly (the
    delay from the key press to its first listener, in the page's clock), and no
    main-thread task (Long Tasks API) runs over 100 ms."""
    page = page_
    pick_model(page, "long-model", provider="Long")
    page.evaluate(INPUT_WATCH)
    reply = send(page, "write a lot")
    prompt = page.get_by_label("Message")
    prompt.click()
    while reply.get_attribute("data-done") != "true":
        prompt.press("a")
        page.wait_for_timeout(20)
    expect(reply).to_have_attribute("data-done", "true", timeout=120_000)
    delays, tasks = page.evaluate("[watch.delays, watch.tasks]")
    prompt.fill("")
    print(f"5 MB: {len(delays)} keys, slowest handled after {max(delays):.0f} ms; "
          f"main-thread tasks over 50 ms: {tasks}")  # fmt: skip
    length = page.evaluate(
        "[...document.querySelectorAll(\"article[aria-label='Assistant']\")].pop()"
        ".querySelector('.content').textContent.length"
    )
    assert length == 5_000_000
    assert len(delays) >= 5, "too few keys were pressed while the reply streamed"
    assert max(tasks, default=0) < TASK_BOUND_MS, f"main-thread tasks over 50 ms: {tasks}"
    waits = sorted(delays)
    assert waits[len(waits) * 9 // 10 - 1] < INPUT_BOUND_MS, f"keys waited (ms): {waits}"
    assert waits[-1] < INPUT_WORST_MS, f"keys waited (ms): {waits}"


def test_stop_is_honoured_promptly_mid_stream(page_: Page) -> None:
    page = page_
    pick_model(page, "long-model", provider="Slow")
    reply = send(page, "go on and on")
    expect(reply.locator(".content")).not_to_be_empty(timeout=PAGE_LOAD)
    took = page.evaluate(STOP_AND_TIME)
    print(f"stop honoured in {took:.0f} ms")
    assert took < STOP_BOUND_MS, f"Stop took {took:.0f} ms"
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_stop_before_the_first_byte_aborts_the_request(
    page_: Page, stand_ins: dict[str, tuple[str, object]]
) -> None:
    page = page_
    app = stand_ins["hang"][1]
    pick_model(page, "hang-model")
    send(page, "anyone there?")
    deadline = time.monotonic() + 10
    while app.state.counts["open"] < 1 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    took = page.evaluate(STOP_AND_TIME)
    print(f"stop honoured in {took:.0f} ms")
    assert took < STOP_BOUND_MS, f"Stop took {took:.0f} ms"
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    deadline = time.monotonic() + 10
    while app.state.counts["open"] and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    assert app.state.counts["open"] == 0  # type: ignore[attr-defined]  # the browser let go


def test_the_cors_probe_is_let_go_of_and_the_host_keeps_answering(
    browser: Browser, detour: Detour
) -> None:
    """A chat blocked by CORS is followed by a `no-cors` probe, which the host holds:
    - unanswered: Stop lets go of it at once;
    - answered with a body that never ends: the block is reported, and the probe
      let go of without Stop.
    Eight times each (a browser keeps six connections per host and port), and a
    healthy provider on the same host and port then still answers."""
    trap = cors_trap()
    with serve(trap) as url, own_page(browser, detour.page_url) as (page, found):
        found.expected_errors.extend(("CORS policy", "Failed to load resource", "ERR_"))
        counts = trap.state.counts  # type: ignore[attr-defined]

        def probed(count: int) -> None:
            deadline = time.monotonic() + 15
            while counts["probes"] < count and time.monotonic() < deadline:
                time.sleep(0.05)
            assert counts["probes"] == count, "the page sent no probe"

        def let_go() -> None:
            deadline = time.monotonic() + 10
            while counts["open"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert counts["open"] == 0, "an abandoned probe still holds its connection"

        for name in ("Fine", "Trap", "Drip"):
            add_provider(page, name=name, base_url=f"{url}/{name.lower()}/v1", route="Direct")
        pick_model(page, "trap-model", provider="Trap")
        for round_ in range(8):
            reply = send(page, f"knock {round_}")
            probed(round_ + 1)
            took = page.evaluate(STOP_AND_TIME)
            assert took < STOP_BOUND_MS, f"Stop took {took:.0f} ms while the probe hung"
            let_go()
        pick_model(page, "drip-model", provider="Drip")
        for round_ in range(8):
            reply = send(page, f"drip {round_}")
            expect(reply).to_have_attribute("data-done", "true", timeout=15_000)
            expect(reply.locator(".error")).to_contain_text("without CORS headers")
            probed(8 + round_ + 1)
            let_go()
        pick_model(page, "fine-model", provider="Fine")
        reply = send(page, "still there?")
        expect(reply).to_have_attribute("data-done", "true", timeout=10_000)
        expect(reply.locator(".content")).to_have_text("fine")
        assert counts["fine"] == 1


def test_a_token_count_sent_as_a_string_loses_nothing(page_: Page, detour: Detour) -> None:
    page = page_
    pick_model(page, "string_usage-model")
    reply = chat(page, "count?", "string_usage-model")
    expect(reply).to_contain_text("Counted in words, not numbers.")
    expect(reply.locator(".error")).to_be_hidden()
    open_app(page, detour.page_url)
    expect(page.get_by_role("article", name="Assistant").last).to_contain_text("not numbers.")


def test_a_web_page_instead_of_a_reply_is_reported_in_place(page_: Page) -> None:
    page = page_
    pick_model(page, "html-model")
    reply = chat(page, "hello?", "html-model")
    expect(reply).to_contain_text("answered with a web page (text/html)")
    expect(reply).to_contain_text("captive portal")


def test_a_malformed_line_keeps_the_text_around_it_and_says_so(page_: Page) -> None:
    page = page_
    pick_model(page, "malformed-model")
    reply = chat(page, "hello?", "malformed-model")
    expect(reply.locator(".content")).to_have_text("Kept before, kept after.")
    expect(reply).to_contain_text("1 malformed stream event(s), skipped")


def test_full_storage_refuses_a_new_provider_in_the_dialog_and_keeps_nothing(
    page_: Page, detour: Detour
) -> None:
    page = page_
    page.evaluate(FILL_STORAGE)
    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Custom (OpenAI-compatible)").click()
    dialog.get_by_label("Name", exact=True).fill("Too many")
    dialog.get_by_label("Base URL").fill("http://127.0.0.1:9/v1")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_contain_text("refused to save")
    expect(dialog).to_contain_text("delete old conversations")
    dialog.get_by_role("button", name="Cancel").click()
    lists = page.get_by_role("list", name="Provider list")
    expect(lists.get_by_role("button", name="Too many", exact=False)).to_have_count(0)
    page.evaluate(FREE_STORAGE)
    open_app(page, detour.page_url)
    expect(lists.get_by_role("button", name="Std", exact=False)).to_have_count(0)
    state = page.evaluate("localStorage.getItem('detour.state')")
    assert "Too many" not in state


def test_full_storage_still_chats_and_says_the_reply_is_not_saved(page_: Page) -> None:
    page = page_
    pick_model(page, "malformed-model")
    page.evaluate(FILL_STORAGE)
    reply = chat(page, "with a full disk", "malformed-model")
    expect(reply.locator(".content")).to_have_text("Kept before, kept after.")
    expect(page.get_by_role("main").get_by_text("Not saved")).to_be_visible()
    expect(page.get_by_role("main").get_by_text("delete old conversations")).to_be_visible()
    page.evaluate(FREE_STORAGE)


def test_markup_in_names_and_replies_is_shown_as_text(page_: Page) -> None:
    page = page_
    pick_model(page, "html-model")
    page.get_by_role("list", name="Provider list").get_by_role("button", name="Edit Html").click()
    page.get_by_role("dialog").get_by_label("Name", exact=True).fill("<img src=x onerror=boom()>")
    page.get_by_role("dialog").get_by_role("button", name="Save").click()
    reply = chat(page, "<b>bold?</b>", "html-model")
    expect(page.get_by_role("article", name="You").last).to_contain_text("<b>bold?</b>")
    expect(reply).to_contain_text("<img src=x onerror=boom()>")
    assert page.locator("img, b").count() == 0
    saved = json.loads(page.evaluate("localStorage.getItem('detour.state')"))
    assert any(p["name"] == "<img src=x onerror=boom()>" for p in saved["providers"])


SEED_SCALE = """() => {
  const providers = [];
  for (let i = 0; i < 1000; i++) {
    const models = i < 50 ? Array.from({length: 1000}, (_, m) => `model-${i}-${m}`) : [];
    providers.push({id: `p${i}`, name: `Provider ${i}`, base_url: "http://127.0.0.1:9/v1",
                    enabled: i < 50, routing: "direct", models});
  }
  localStorage.setItem("detour.state", JSON.stringify({version: 2, providers,
    settings: {active_provider: "p0", active_model: "model-0-0"}}));
}"""


def test_1000_providers_and_50000_models_keep_the_page_quick(
    browser: Browser, detour: Detour
) -> None:
    with own_page(browser, detour.page_url) as (page, found):
        found.expected_errors.extend(("Failed to load resource", "ERR_"))
        page.evaluate(SEED_SCALE)
        open_app(page, detour.page_url, timeout=120_000)
        settings = page.get_by_role("dialog", name="Settings")
        page.get_by_role("button", name="Settings").click()  # first: while the page starts
        expect(settings).to_be_visible(timeout=30_000)
        settings.get_by_role("button", name="Close").first.click()
        start = time.monotonic()
        page.get_by_role("button", name="Settings").click()
        expect(settings).to_be_visible(timeout=10_000)
        opened = time.monotonic() - start
        page.get_by_role("dialog", name="Settings").get_by_role(
            "button", name="Close"
        ).first.click()
        start = time.monotonic()
        box = model_box(page)
        box.click()
        box.fill("model-49-999")
        page.get_by_role("option", name="model-49-999").click()
        expect(box).to_have_value("model-49-999")
        picked = time.monotonic() - start
        print(f"settings opened in {opened:.2f} s, a model picked in {picked:.2f} s")
        assert opened < 2 and picked < 4, (opened, picked)
        state = page.evaluate("localStorage.getItem('detour.state')")
        assert len(state) < 400_000  # the long model lists live apart
