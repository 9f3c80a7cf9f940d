"""How the page looks and holds up: axe-core in light and dark, screenshots, a soak.

Screenshots go to test-screens/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ROOT, Detour, PageGuard, open_app
from tests.e2e.people import PAGE_LOAD, add_provider, chat, model_box
from tests.gateway.standins import openai_standin, serve

SCREENS = ROOT / "test-screens"  # git-ignored; pytest-playwright wipes test-results/
AXE = ROOT / "vendor" / "axe" / "axe.min.js"
REPLY = "Here is a plan:\n\n1. Measure\n2. **Cut**\n\n```sh\nmake test\n```\n\nSee [docs](http://127.0.0.1:9/)."
SERIOUS = """async () => {
  const found = await axe.run(document, {resultTypes: ["violations"]});
  return found.violations.filter(v => ["serious", "critical"].includes(v.impact))
    .map(v => v.id + ": " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}"""


@pytest.fixture(scope="module", params=["light", "dark"])
def looked(request: pytest.FixtureRequest, browser: Browser, detour: Detour) -> Iterator[Page]:
    """A page per colour scheme (a scheme switched on a live page can leave stale colours)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, color_scheme=request.param
    )
    page = context.new_page()
    found = PageGuard()
    page.on("request", lambda request: found.on_request(request.url))
    page.on("console", found.on_console)
    with serve(openai_standin(cors=True, models=("look-model",), reply=REPLY)) as url:
        open_app(page, detour.page_url)
        add_provider(page, name="Look", base_url=url + "/v1")
        expect(model_box(page)).to_have_value("look-model", timeout=PAGE_LOAD)
        chat(page, "How do I speed up the tests?", "look-model")
        page.add_script_tag(path=str(AXE))
        yield page
    context.close()
    assert found.outside == [] and found.unexpected_errors() == []


def shoot(page: Page, name: str) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def serious(page: Page) -> list[str]:
    return list(page.evaluate(SERIOUS))


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_main_screens_pass_axe_and_are_photographed(looked: Page, width: int, height: int) -> None:
    page = looked
    scheme = str(
        page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches && 'dark' || 'light'")
    )
    page.set_viewport_size({"width": width, "height": height})
    problems: dict[str, list[str]] = {}
    problems["chat"] = serious(page)
    shoot(page, f"chat-{width}-{scheme}")
    if width < 700:
        page.get_by_role("button", name="Providers and conversations").click()
        problems["side"] = serious(page)
        shoot(page, f"side-{width}-{scheme}")
        page.get_by_role("button", name="Close the side panel").click()
    if width >= 700:
        page.get_by_role("button", name="Add provider").click()
    if width < 700:
        page.get_by_role("button", name="Providers and conversations").click()
        page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_role("dialog", name="Add provider")
    problems["gallery"] = serious(page)
    shoot(page, f"gallery-{width}-{scheme}")
    dialog.get_by_role("button", name="Custom (OpenAI-compatible)").click()
    problems["provider form"] = serious(page)
    shoot(page, f"provider-{width}-{scheme}")
    dialog.get_by_role("button", name="Close").click()
    if width < 700:
        page.get_by_role("button", name="Close the side panel").click()
        page.get_by_role("button", name="Providers and conversations").click()
    page.get_by_role("button", name="Settings").click()
    problems["settings"] = serious(page)
    shoot(page, f"settings-{width}-{scheme}")
    page.get_by_role("dialog", name="Settings").get_by_role("button", name="Close").first.click()
    if width < 700:
        page.get_by_role("button", name="Close the side panel").click()
    page.get_by_role("button", name="Compare").click()
    problems["compare"] = serious(page)
    shoot(page, f"compare-{width}-{scheme}")
    page.get_by_role("button", name="Compare").click()
    model_box(page).click()
    problems["picker"] = serious(page)
    shoot(page, f"picker-{width}-{scheme}")
    page.keyboard.press("Escape")
    assert {k: v for k, v in problems.items() if v} == {}
