"""Settings and the provider dialog as a person uses them: check, export, import, gateway."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Detour, PageGuard, open_app
from tests.e2e.people import add_provider, chat, open_settings, pick_model, provider_item
from tests.e2e.test_routing import CORS_ERRORS
from tests.gateway.standins import closed_port, openai_standin, serve


@pytest.fixture
def blocked_url() -> Iterator[str]:
    with serve(openai_standin(cors=False, api_key="sk-good", models=("closed-model",))) as url:
        yield url + "/v1"


def test_check_connection_says_which_road_worked_without_saving(
    page: Page, detour: Detour, guard: PageGuard, blocked_url: str
) -> None:
    guard.expected_errors.extend(CORS_ERRORS)
    open_app(page, detour.page_url)
    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Custom (OpenAI-compatible)").click()
    dialog.get_by_label("Name", exact=True).fill("Checked")
    dialog.get_by_label("Base URL").fill(blocked_url)
    dialog.get_by_label("API key").fill("sk-good")
    dialog.get_by_role("button", name="Check connection").click()
    expect(dialog).to_contain_text("via gateway", timeout=30_000)
    expect(dialog).to_contain_text("listed 1 model")
    dialog.get_by_role("button", name="Cancel").click()
    expect(provider_item(page, "Checked")).to_have_count(0)
    stored = page.evaluate("localStorage.getItem('detour.state')")
    assert stored is None or "Checked" not in stored


def test_a_bad_provider_form_is_refused_with_the_field_named(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    open_app(page, detour.page_url)
    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Custom (OpenAI-compatible)").click()
    dialog.get_by_label("Name", exact=True).fill("Broken")
    dialog.get_by_label("Base URL").fill("ftp://example.invalid")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_contain_text("base_url")
    expect(dialog).to_be_visible()
    assert "Broken" not in (page.evaluate("localStorage.getItem('detour.state')") or "")


def test_export_leaves_keys_out_unless_asked(
    page: Page, detour: Detour, guard: PageGuard, blocked_url: str
) -> None:
    guard.expected_errors.extend(CORS_ERRORS)
    open_app(page, detour.page_url)
    add_provider(page, name="Secretive", base_url=blocked_url, key="sk-good")
    settings = open_settings(page)
    settings.get_by_role("button", name="Export providers").click()
    exported = settings.get_by_label("Providers JSON or a LiteLLM").input_value()
    assert "Secretive" in exported and "sk-good" not in exported
    settings.get_by_label("Include API keys").check()
    settings.get_by_role("button", name="Export providers").click()
    assert "sk-good" in settings.get_by_label("Providers JSON or a LiteLLM").input_value()


def test_a_litellm_model_list_imports_as_a_provider_that_chats(
    page: Page, detour: Detour, guard: PageGuard, blocked_url: str
) -> None:
    guard.expected_errors.extend(CORS_ERRORS)
    yaml_text = (
        "model_list:\n"
        "  - model_name: closed-model\n"
        "    litellm_params:\n"
        "      model: openai/closed-model\n"
        f"      api_base: {blocked_url}\n"
        "      api_key: sk-good\n"
    )
    open_app(page, detour.page_url)
    settings = open_settings(page)
    settings.get_by_label("Providers JSON or a LiteLLM").fill(yaml_text)
    settings.get_by_role("button", name="Import").click()
    expect(settings).to_contain_text("1 added")
    settings.get_by_role("button", name="Close", exact=True).click()
    imported = json.loads(page.evaluate("localStorage.getItem('detour.state')"))["providers"][0]
    name = imported["name"]
    provider_item(page, name).get_by_role("button", name=re.compile(f"^{re.escape(name)},")).click()
    reply = chat(page, "imported?", "closed-model")
    expect(reply.locator(".content")).to_contain_text("stand-in")


def test_a_wrong_gateway_url_is_reported_and_the_default_comes_back(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    guard.expected_errors.extend(("Failed to load resource", "ERR_CONNECTION_REFUSED"))
    open_app(page, detour.page_url)
    settings = open_settings(page)
    expect(settings.get_by_label("Gateway URL")).to_have_value(detour.gateway_url)
    settings.get_by_label("Gateway URL").fill(f"http://127.0.0.1:{closed_port()}")
    settings.get_by_role("button", name="Save").click()
    expect(settings).to_contain_text("did not answer", timeout=20_000)
    expect(page.locator("#gateway-status")).to_have_text("gateway: unreachable")
    settings.get_by_label("Gateway URL").fill("")
    settings.get_by_role("button", name="Save").click()
    expect(page.locator("#gateway-status")).to_have_text("gateway: ready", timeout=20_000)


def test_reply_preferences_travel_with_each_message(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    standin = openai_standin(cors=True, models=("m",))
    with serve(standin) as url:
        open_app(page, detour.page_url)
        add_provider(page, name="Prefs", base_url=url + "/v1")
        settings = open_settings(page)
        settings.get_by_label("System prompt").fill("Answer in one line.")
        settings.get_by_label("Temperature").fill("hot")
        settings.get_by_role("button", name="Save").click()
        expect(settings).to_contain_text("temperature")
        settings.get_by_label("Temperature").fill("0.3")
        settings.get_by_label("Max tokens").fill("50")
        settings.get_by_role("button", name="Save").click()
        expect(settings).not_to_contain_text("invalid")
        settings.get_by_role("button", name="Close", exact=True).click()
        chat(page, "hi", "m")
        sent = [r for r in standin.state.seen if r["method"] == "POST"][-1]  # type: ignore[attr-defined]
        body = json.loads(sent["body"])
        assert body["messages"][0] == {"role": "system", "content": "Answer in one line."}
        assert (body["temperature"], body["max_tokens"]) == (0.3, 50)


def test_set_aside_entries_can_be_exported_fixed_and_removed(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    broken = [
        {"id": "half", "name": "Half", "base_url": "ftp://nope", "api_key": "sk-hidden-9876"},
        {"id": "junk", "name": "Junk", "base_url": "gopher://x"},
    ]
    open_app(page, detour.page_url)
    document = json.dumps({"version": 2, "providers": broken})
    page.evaluate("value => localStorage.setItem('detour.state', value)", document)
    open_app(page, detour.page_url)
    settings = open_settings(page)
    settings.get_by_role("button", name="Export set-aside entries").click()
    exported = settings.get_by_label("Providers JSON or a LiteLLM").input_value()
    assert "ftp://nope" in exported and "sk-hidden-9876" not in exported
    assert "sk-hidden-9876" not in page.content()
    entry = settings.get_by_label("Entry providers[0]")
    entry.fill(entry.input_value().replace("ftp://nope", "http://127.0.0.1:9/v1"))
    settings.get_by_role("button", name="Load providers[0]").click()
    expect(settings).to_contain_text("Half loaded.")
    settings.get_by_role("button", name="Remove providers[1]").click()
    expect(settings.get_by_role("region", name="Set aside")).to_be_hidden()
    saved = json.loads(page.evaluate("localStorage.getItem('detour.state')"))
    assert saved["quarantine"] == []
    assert saved["providers"][0]["api_key"] == "sk-hidden-9876"


def test_a_key_for_this_session_only_never_reaches_saved_state(
    page: Page, detour: Detour, guard: PageGuard
) -> None:
    with serve(openai_standin(cors=True, api_key="sk-session-5555", models=("m",))) as url:
        open_app(page, detour.page_url)
        page.get_by_role("button", name="Add provider").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="Custom (OpenAI-compatible)").click()
        dialog.get_by_label("Name", exact=True).fill("Brief")
        dialog.get_by_label("Base URL").fill(url + "/v1")
        dialog.get_by_label("API key").fill("sk-session-5555")
        dialog.get_by_label("Remember the key on this device").uncheck()
        dialog.get_by_role("button", name="Save").click()
        chat(page, "hello", "m")
        assert "sk-session-5555" not in page.evaluate("JSON.stringify(localStorage)")
        assert "sk-session-5555" in page.evaluate("JSON.stringify(sessionStorage)")
        open_app(page, detour.page_url)  # same session: the key is still there
        pick_model(page, "m")
        reply = chat(page, "again", "m")
        expect(reply.locator(".content")).to_contain_text("stand-in")
