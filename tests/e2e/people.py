"""What a person does on the page, as helpers the e2e tests share (roles and labels only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import PageGuard, open_app

PAGE_LOAD = 60_000


def add_provider(
    page: Page,
    *,
    name: str,
    base_url: str,
    key: str = "",
    route: str = "",
    template: str = "Custom (OpenAI-compatible)",
) -> None:
    """Add a provider through the dialog's template gallery, as a person would."""
    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("list", name="Provider templates").get_by_role(
        "button", name=template
    ).click()
    dialog.get_by_label("Name", exact=True).fill(name)
    dialog.get_by_label("Base URL").fill(base_url)
    dialog.get_by_label("API key").fill(key)
    if route:
        dialog.get_by_label(route, exact=True).check()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()


def provider_item(page: Page, name: str) -> Locator:
    """A provider's entry in the side panel's list."""
    listing = page.get_by_role("list", name="Provider list")
    return (
        listing.get_by_role("listitem")
        .filter(has=page.get_by_role("button", name=name, exact=False))
        .filter(has_text=name)
    )


def model_box(page: Page) -> Locator:
    return page.get_by_role("combobox", name="Model")


def pick_model(page: Page, model: str, *, provider: str = "") -> None:
    """Open the model picker and choose a model (from a provider's group)."""
    box = model_box(page)
    box.click()
    box.fill(model)
    options = page.get_by_role("listbox", name="Models")
    if provider:
        options = options.get_by_role("group", name=provider, exact=False)
    options.get_by_role("option", name=model, exact=True).first.click()
    expect(box).to_have_value(model)


def type_model(page: Page, model: str) -> None:
    """Type a model id that is not listed, and confirm it with Enter."""
    box = model_box(page)
    box.click()
    box.fill(model)
    box.press("Enter")
    expect(box).to_have_value(model)


def send(page: Page, text: str) -> Locator:
    """Write and send a message; the reply's article (maybe still arriving)."""
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    return page.get_by_role("article", name="Assistant").last


def chat(page: Page, text: str, model: str, *, type_it: bool = False) -> Locator:
    """Send a message to the chosen provider and wait for the reply to end.

    The model is the one discovery picked, or typed by hand with `type_it`.
    """
    if type_it:
        type_model(page, model)
    expect(model_box(page)).to_have_value(model, timeout=PAGE_LOAD)
    reply = send(page, text)
    expect(reply).to_have_attribute("data-done", "true", timeout=PAGE_LOAD)
    return page.get_by_role("article", name="Assistant").last


def open_settings(page: Page) -> Locator:
    page.get_by_role("button", name="Settings").click()
    return page.get_by_role("dialog", name="Settings")


@contextmanager
def own_page(browser: Browser, url: str, **context: Any) -> Iterator[tuple[Page, PageGuard]]:
    """A page of its own for a module's tests, with the same guard as every e2e test."""
    made = browser.new_context(viewport={"width": 1280, "height": 800}, **context)
    page = made.new_page()
    found = PageGuard()
    page.on("request", lambda request: found.on_request(request.url))
    page.on("console", found.on_console)
    page.on("pageerror", lambda error: found.errors.append(f"pageerror: {error}"))
    open_app(page, url)
    yield page, found
    made.close()
    assert found.outside == [], found.outside
    assert found.unexpected_errors() == [], found.unexpected_errors()
