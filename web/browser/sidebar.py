"""The side panel: conversations, providers with health and road, the gateway, activity.

Each list is re-rendered only when its change notice arrives; clicks reach one
delegated listener per list (wired in `ui.py`), never a proxy per item.
"""

from __future__ import annotations

from typing import Any

from web.app import App
from web.browser.dom import clone, el, make, part
from web.browser.view import (
    clock_time,
    gateway_badge,
    health_word,
    provider_meta,
    provider_note,
    route_text,
)
from web.gateway import GATEWAY_PROVIDER_ID
from web.notices import LogLine
from web.providers import Provider

ACTIVITY_SHOWN = 50


def render_conversations(app: App) -> None:
    listing = el("conversations")
    listing.replaceChildren()
    active = app.conversations.active
    for entry in app.conversations.entries:
        item = clone("t-conversation")
        item.dataset.id = entry.id
        current = "true" if entry.id == active else "false"
        item.setAttribute("aria-current", current)
        opener = part(item, "[data-action='open']")
        opener.textContent = entry.title
        opener.title = entry.title
        part(item, "[data-action='rename']").setAttribute("aria-label", f"Rename {entry.title}")
        part(item, "[data-action='delete']").setAttribute("aria-label", f"Delete {entry.title}")
        listing.appendChild(item)
    if not app.conversations.entries:
        listing.appendChild(make("li", "No conversations yet", class_="muted"))


def route_of(app: App, provider: Provider) -> str:
    if provider.id == GATEWAY_PROVIDER_ID:
        return "gateway's own models"
    remembered = app.router.remembered(provider)
    return route_text(
        provider, remembered.value if remembered else None, app.last_route.get(provider.id)
    )


class ProviderList:
    """The provider list; an item is rebuilt only when what it shows changed.

    A rebuilt item takes its old one's place alone, so a health check redraws
    one row, not the list: with fifty providers checked in waves, re-inserting
    every row each frame made the browser restyle and lay out the whole panel.
    """

    def __init__(self) -> None:
        self._items: dict[str, tuple[tuple[object, ...], Any]] = {}
        self._ids: list[str] = []

    def render(self, app: App) -> None:
        active = app.state.settings.active_provider
        items: dict[str, tuple[tuple[object, ...], Any]] = {}
        order: list[Any] = []
        swapped: list[tuple[Any, Any]] = []
        providers = app.providers()
        for provider in providers:
            health = app.health(provider.id)
            word = health_word(health, provider.enabled)
            route = route_of(app, provider)
            note = provider_note(health, app.notes.get(provider.id, ""))
            bad = bool(health.last_error) or provider.id in app.failed_notes
            meta = f"{word} · {provider_meta(health, route)}"
            key = (provider.name, provider.enabled, word, route, meta, note, bad,
                   provider.id == active)  # fmt: skip
            cached = self._items.get(provider.id)
            node = cached[1] if cached and cached[0] == key else None
            if node is None:
                node = provider_item(provider, word, route, meta, note, bad, active)
                if cached is not None:
                    swapped.append((cached[1], node))
            items[provider.id] = (key, node)
            order.append(node)
        self._items = items
        ids = [provider.id for provider in providers]
        if ids != self._ids:
            el("providers").replaceChildren(*order)
        else:
            for old, new in swapped:
                old.replaceWith(new)
        self._ids = ids


def provider_item(
    provider: Provider, word: str, route: str, meta: str, note: str, bad: bool, active: str
) -> Any:
    """One provider's entry: pick button with health, road and latency, toggle, edit."""
    item = clone("t-provider")
    item.dataset.provider = provider.id
    item.classList.add(f"tone-{word}")
    if not provider.enabled:
        item.classList.add("disabled")
    item.setAttribute("aria-current", "true" if provider.id == active else "false")
    pick = part(item, "[data-action='pick']")
    part(pick, ".name").textContent = provider.name
    pick.setAttribute("aria-label", f"{provider.name}, {word}, {route}")
    pick.setAttribute("aria-pressed", "true" if provider.id == active else "false")
    part(item, ".meta").textContent = meta
    line = part(item, ".note")
    line.textContent = note
    line.hidden = not note
    line.classList.toggle("bad", bad)
    toggle = part(item, "[data-action='toggle']")
    edit = part(item, "[data-action='edit']")
    if provider.id == GATEWAY_PROVIDER_ID:
        toggle.remove()
        edit.remove()
    else:
        toggle.textContent = "Disable" if provider.enabled else "Enable"
        label = f"{'Disable' if provider.enabled else 'Enable'} {provider.name}"
        toggle.setAttribute("aria-label", label)
        edit.setAttribute("aria-label", f"Edit {provider.name}")
    return item


def render_gateway(app: App) -> None:
    badge = gateway_badge(app.gateway_config() is not None, app.gateway_status)
    text = el("gateway-status")
    text.textContent = badge.text
    text.title = badge.title
    el("gateway-dot").className = f"dot tone-{badge.tone}"


class ActivityList:
    """The latest activity lines, newest first; new lines are added, none redrawn.

    With fifty providers changing health in one wave, redrawing the whole list
    for every new line was most of the page's work.
    """

    def __init__(self) -> None:
        self._newest: object | None = None  # the newest line shown

    def render(self, app: App) -> None:
        listing = el("activity")
        fresh: list[LogLine] = []
        for line in app.activity:
            if line is self._newest or len(fresh) == ACTIVITY_SHOWN:
                break
            fresh.append(line)
        if not fresh:
            return
        if len(fresh) == ACTIVITY_SHOWN or self._newest is None:
            listing.replaceChildren()
        for line in reversed(fresh):  # oldest of the new first, each above the last
            item = make("li")
            item.appendChild(make("time", clock_time(line.at)))
            item.appendChild(make("span", str(line)))
            listing.prepend(item)
        while listing.childElementCount > ACTIVITY_SHOWN:
            listing.lastElementChild.remove()
        self._newest = fresh[0]
