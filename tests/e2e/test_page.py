"""The page a person lives in: conversations, readable replies, compare, providers, layout.

One browser page is shared by the module's tests (a Pyodide boot costs seconds);
each test starts from a fresh conversation. Stand-ins on loopback play the providers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Detour, PageGuard, open_app
from tests.e2e.people import (
    PAGE_LOAD,
    add_provider,
    chat,
    model_box,
    pick_model,
    provider_item,
    send,
    type_model,
)
from tests.gateway.standins import closed_port, openai_standin, serve

MARKDOWN = (
    "# Plan\n\nSome *emphasis*, **strong** and `inline`.\n\n"
    "- one\n- two\n\n"
    "| a | b |\n|---|--:|\n| 1 | 2 |\n\n"
    "[docs](http://127.0.0.1:9/docs) and [bad](javascript:alert(1))\n\n"
    "```python\nprint('<b>hi</b>')\n```\n"
)


@pytest.fixture(scope="module")
def standin_url() -> Iterator[str]:
    app = openai_standin(cors=True, models=("md-model", "md-other"), reply=MARKDOWN, pace=0.002)
    with serve(app) as url:
        yield url + "/v1"


@pytest.fixture(scope="module")
def shared(browser: Browser, detour: Detour, standin_url: str) -> Iterator[tuple[Page, PageGuard]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    found = PageGuard()
    page.on("request", lambda request: found.on_request(request.url))
    page.on("console", found.on_console)
    page.on("pageerror", lambda error: found.errors.append(f"pageerror: {error}"))
    open_app(page, detour.page_url)
    add_provider(page, name="Std", base_url=standin_url)
    expect(model_box(page)).to_have_value("md-model", timeout=PAGE_LOAD)
    yield page, found
    context.close()
    assert found.outside == [], found.outside
    assert found.unexpected_errors() == [], found.unexpected_errors()


@pytest.fixture
def page_(shared: tuple[Page, PageGuard]) -> Page:
    """The shared page, on a new conversation with the markdown stand-in chosen."""
    page = shared[0]
    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(color_scheme="light")
    if page.get_by_role("button", name="Compare").get_attribute("aria-pressed") == "true":
        page.get_by_role("button", name="Compare").click()
    page.get_by_role("button", name="+ New chat").click()
    pick_model(page, "md-model", provider="Std")
    return page


# --- conversations -------------------------------------------------------------------


def test_conversations_keep_their_messages_and_model_across_a_reload(
    page_: Page, detour: Detour
) -> None:
    page = page_
    chat(page, "first topic", "md-model")
    page.get_by_role("button", name="+ New chat").click()
    pick_model(page, "md-other")
    chat(page, "second topic", "md-other")
    open_app(page, detour.page_url)
    listing = page.get_by_role("list", name="Conversation list")
    listing.get_by_role("button", name="first topic", exact=True).click()
    expect(page.get_by_role("article", name="You").last).to_contain_text("first topic")
    expect(model_box(page)).to_have_value("md-model")
    listing.get_by_role("button", name="second topic", exact=True).click()
    expect(page.get_by_role("article", name="You").last).to_contain_text("second topic")
    expect(model_box(page)).to_have_value("md-other")


def test_a_conversation_can_be_renamed(page_: Page) -> None:
    page = page_
    chat(page, "to rename", "md-model")
    listing = page.get_by_role("list", name="Conversation list")
    listing.get_by_role("button", name="Rename to rename").click()
    title = listing.get_by_label("Conversation title")
    title.fill("Renamed chat")
    title.press("Enter")
    expect(listing.get_by_role("button", name="Renamed chat", exact=True)).to_be_visible()


def test_a_deleted_conversation_comes_back_with_undo(page_: Page) -> None:
    page = page_
    chat(page, "doomed", "md-model")
    listing = page.get_by_role("list", name="Conversation list")
    listing.get_by_role("button", name="Delete doomed").click()
    expect(listing.get_by_role("button", name="doomed", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(listing.get_by_role("button", name="doomed", exact=True)).to_be_visible()
    expect(page.get_by_role("article", name="You").last).to_contain_text("doomed")


# --- replies ---------------------------------------------------------------------------


def test_a_reply_names_provider_model_road_and_speed(page_: Page) -> None:
    reply = chat(page_, "stats?", "md-model")
    expect(reply).to_contain_text("Std · md-model")
    footer = reply.get_by_role("contentinfo").or_(reply.locator("footer"))
    expect(footer.first).to_contain_text(re.compile(r"via direct · \d+ ms to first token"))
    expect(footer.first).to_contain_text("tok/s")


def test_markdown_is_rendered_as_elements_with_safe_links_and_copyable_code(
    page_: Page,
) -> None:
    page = page_
    reply = chat(page, "format please", "md-model")
    expect(reply.get_by_role("heading", name="Plan")).to_be_visible()
    expect(reply.get_by_role("listitem")).to_have_count(2)
    expect(reply.locator("em")).to_have_text("emphasis")
    expect(reply.get_by_role("table")).to_contain_text("1")
    expect(reply.get_by_role("link", name="docs")).to_have_attribute(
        "href", "http://127.0.0.1:9/docs"
    )
    expect(reply.get_by_role("link", name="bad")).to_have_count(0)
    expect(reply.locator("code", has_text="print")).to_have_text("print('<b>hi</b>')")
    expect(reply.locator("b")).to_have_count(0)
    expect(reply.get_by_text("python", exact=True)).to_be_visible()
    reply.get_by_role("button", name="Copy code").click()
    expect(page.locator("#announcer")).to_have_text("Code copied.")
    assert page.evaluate("navigator.clipboard.readText()") == "print('<b>hi</b>')"


def test_copy_puts_the_whole_reply_on_the_clipboard(page_: Page) -> None:
    reply = chat(page_, "copy me", "md-model")
    reply.get_by_role("button", name="Copy", exact=True).click()
    expect(page_.locator("#announcer")).to_have_text("Reply copied.")
    assert page_.evaluate("navigator.clipboard.readText()") == MARKDOWN


def test_regenerate_asks_again_in_place(page_: Page) -> None:
    page = page_
    chat(page, "again please", "md-model")
    page.get_by_role("article", name="Assistant").last.get_by_role(
        "button", name="Regenerate"
    ).click()
    expect(page.get_by_role("article", name="Assistant").last).to_have_attribute(
        "data-done", "true", timeout=PAGE_LOAD
    )
    expect(page.get_by_role("article", name="You")).to_have_count(1)
    expect(page.get_by_role("article", name="Assistant")).to_have_count(1)


def test_the_last_message_can_be_edited_and_sent_again(page_: Page) -> None:
    page = page_
    chat(page, "typo mesage", "md-model")
    page.get_by_role("article", name="You").last.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Message")).to_have_value("typo mesage")
    page.get_by_label("Message").fill("fixed message")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("article", name="Assistant").last).to_have_attribute(
        "data-done", "true", timeout=PAGE_LOAD
    )
    expect(page.get_by_role("article", name="You")).to_have_count(1)
    expect(page.get_by_role("article", name="You")).to_contain_text("fixed message")


def test_a_failed_reply_shows_its_whole_error_in_place_and_in_view(
    page_: Page, shared: tuple[Page, PageGuard]
) -> None:
    page = page_
    shared[1].expected_errors.extend(("401 (Unauthorized)", "CORS policy", "net::ERR_FAILED"))
    refusing = openai_standin(cors=True, api_key="sk-right", models=("m",))
    with serve(refusing) as url:
        add_provider(page, name="Refuser", base_url=url + "/v1", key="sk-wrong")
        type_model(page, "m")
        reply = send(page, "hello?")
        expect(reply).to_have_attribute("data-done", "true", timeout=PAGE_LOAD)
        error = reply.get_by_text(re.compile("refused the key"))
        expect(error).to_be_in_viewport()
        expect(error).to_contain_text("check the API key in this provider's settings")
    remove_provider(page, "Refuser")


def test_a_refused_message_keeps_what_was_typed(
    page_: Page, shared: tuple[Page, PageGuard]
) -> None:
    page = page_
    shared[1].expected_errors.extend(("ERR_CONNECTION_REFUSED", "Failed to load resource"))
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    add_provider(page, name="Nomodel", base_url=dead, route="Direct")
    expect(model_box(page)).to_have_value("")
    page.get_by_label("Message").fill("do not lose me")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("main").get_by_text("Choose a model for Nomodel")).to_be_visible()
    expect(page.get_by_label("Message")).to_have_value("do not lose me")
    remove_provider(page, "Nomodel")


# --- compare ---------------------------------------------------------------------------


def test_compare_sends_one_message_to_two_models_side_by_side(page_: Page) -> None:
    page = page_
    page.get_by_role("button", name="Compare").click()
    page.get_by_label("Model for column 1").select_option(label="md-model")
    page.get_by_label("Model for column 2").select_option(label="detour-demo")
    page.get_by_label("Message").fill("compare us")
    page.get_by_role("button", name="Send").click()
    region = page.get_by_role("region", name="Compare models")
    first = region.get_by_role("article", name="Std · md-model")
    second = region.get_by_role("article", name="Detour demo · detour-demo")
    for column, road in ((first, "via direct"), (second, "via gateway")):
        expect(column).to_have_attribute("data-done", "true", timeout=PAGE_LOAD)
        expect(column).to_contain_text(re.compile(road + r" · \d+ ms to first token"))
        expect(column).to_contain_text("tok/s")
    box_one, box_two = first.bounding_box(), second.bounding_box()
    assert box_one and box_two and box_one["x"] < box_two["x"]  # side by side
    assert abs(box_one["y"] - box_two["y"]) < 5


# --- providers ---------------------------------------------------------------------------


def remove_provider(page: Page, name: str) -> None:
    provider_item(page, name).get_by_role("button", name=f"Edit {name}").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(provider_item(page, name)).to_have_count(0)


def test_the_provider_dialog_starts_from_a_gallery_and_keeps_its_actions_in_view(
    page_: Page,
) -> None:
    page = page_
    page.set_viewport_size({"width": 1280, "height": 520})
    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_role("dialog", name="Add provider")
    gallery = dialog.get_by_role("list", name="Provider templates")
    expect(gallery.get_by_role("button", name=re.compile("^Custom"))).to_be_visible()
    gallery.get_by_role("button", name=re.compile("^OpenAI")).click()
    expect(dialog.get_by_role("link", name=re.compile(r"^https:\S+"))).to_be_visible()
    expect(dialog.get_by_label("Dialect")).to_be_hidden()  # the template decides it
    expect(dialog.get_by_role("button", name="Save")).to_be_in_viewport()
    dialog.get_by_label("API key").fill("sk-should-not-stay")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.getElementById('pf-api-key').value") == ""


def test_disable_enable_and_remove_with_undo(page_: Page) -> None:
    page = page_
    item = provider_item(page, "Std")
    item.get_by_role("button", name="Disable Std").click()
    expect(item).to_contain_text("disabled")
    model_box(page).click()
    expect(page.get_by_role("group", name=re.compile("^Std"))).to_have_count(0)
    page.keyboard.press("Escape")
    item.get_by_role("button", name="Enable Std").click()
    expect(item).not_to_contain_text("disabled")
    remove_provider(page, "Std")
    page.get_by_role("button", name="Undo").click()
    expect(provider_item(page, "Std")).to_be_visible()


def test_the_model_picker_groups_by_provider_searches_and_works_by_keyboard(
    page_: Page,
) -> None:
    page = page_
    box = model_box(page)
    box.click()
    listbox = page.get_by_role("listbox", name="Models")
    expect(listbox.get_by_role("group", name=re.compile(r"^Std · \w+"))).to_be_visible()
    expect(listbox.get_by_role("group", name=re.compile(r"^Detour demo"))).to_be_visible()
    box.fill("other")
    expect(listbox.get_by_role("option")).to_have_count(1)
    box.press("ArrowDown")
    box.press("Enter")
    expect(box).to_have_value("md-other")
    expect(listbox).to_be_hidden()


def test_the_provider_list_works_by_keyboard(page_: Page) -> None:
    page = page_
    demo = provider_item(page, "Detour demo").get_by_role("button", name=re.compile("^Detour"))
    demo.focus()
    page.keyboard.press("Enter")
    expect(demo).to_have_attribute("aria-pressed", "true")
    expect(model_box(page)).to_have_value("detour-demo")
    page.keyboard.press("Tab")  # on to the next control, never trapped in the list
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"


def test_activity_lines_carry_their_time(page_: Page) -> None:
    page = page_
    page.get_by_text("Activity").click()
    lines = page.get_by_role("list", name="Activity log").get_by_role("listitem")
    expect(lines.first.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    times = lines.locator("time").all_inner_texts()
    assert 1 < len(times) <= 50 and times == sorted(times, reverse=True)  # newest first
    page.get_by_text("Activity").click()


# --- layout and accessibility --------------------------------------------------------------


def test_at_phone_width_the_chat_comes_first_and_providers_open_from_a_button(
    page_: Page,
) -> None:
    page = page_
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_label("Message")).to_be_in_viewport()
    expect(page.get_by_role("list", name="Provider list")).not_to_be_in_viewport()
    opener = page.get_by_role("button", name="Providers and conversations")
    opener.click()
    expect(opener).to_have_attribute("aria-expanded", "true")
    expect(provider_item(page, "Std")).to_be_in_viewport()
    page.get_by_role("button", name="Close the side panel").click()
    expect(page.get_by_role("list", name="Provider list")).not_to_be_in_viewport()


def test_one_polite_live_region_announces_the_finished_reply_only(page_: Page) -> None:
    page = page_
    live = page.locator("[aria-live], [role=status], [role=alert], [role=log]")
    expect(live).to_have_count(1)
    expect(live).to_have_attribute("aria-live", "polite")
    chat(page, "announce", "md-model")
    expect(live).to_have_text("Reply from Std finished.")


# --- soak ---------------------------------------------------------------------------------


def counts(page: Page) -> dict[str, int]:
    return dict(json.loads(page.evaluate("window.detourPage()")))


TOGGLE = """async (rounds) => {
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  for (let i = 0; i < rounds; i++) {
    const item = [...document.querySelectorAll("#providers li")]
      .find(li => li.textContent.includes("Std"));
    item.querySelector("[data-action='toggle']").click();
    await frame();
    document.querySelector("#providers [data-action='pick']").click();
    await frame();
  }
}"""


def test_hundreds_of_renders_leave_heap_and_proxies_flat(page_: Page) -> None:
    page = page_
    page.set_viewport_size({"width": 1280, "height": 800})
    cdp = page.context.new_cdp_session(page)

    def heap() -> int:
        cdp.send("HeapProfiler.collectGarbage")
        return int(cdp.send("Runtime.getHeapUsage")["usedSize"])

    page.evaluate(TOGGLE, 40)  # warm up: caches, lazily built nodes
    before, heap_before = counts(page), heap()
    page.evaluate(TOGGLE, 300)
    after, heap_after = counts(page), heap()
    assert after["renders"] - before["renders"] >= 300
    assert after["proxies"] == before["proxies"]
    assert after["objects"] - before["objects"] < 2_000, (before, after)
    assert heap_after - heap_before < 2_000_000, (heap_before, heap_after)
    pick_model(page, "md-model")
