"""The Settings dialog: gateway, reply preferences, export and import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from web.app import App
from web.browser.dom import action_of, announce, clone, el, part
from web.errors import DetourError
from web.gateway import GatewayKind
from web.quarantine import entry_text


class SettingsDialog:
    """Fills the form when it opens; saves what the person confirms."""

    def __init__(self, app: App, spawn: Callable[[Awaitable[Any]], None]) -> None:
        self.app = app
        self.spawn = spawn
        self.dialog = el("settings-dialog")

    def open(self) -> None:
        settings = self.app.state.settings
        el("set-gateway-url").value = settings.gateway_url or self.app.default_gateway_url
        el("set-gateway-token").value = settings.gateway_token
        el("set-system").value = settings.system_prompt
        el("set-temperature").value = "" if settings.temperature is None else settings.temperature
        el("set-max-tokens").value = "" if settings.max_tokens is None else settings.max_tokens
        el("set-gateway-result").textContent = ""
        el("set-transfer-result").textContent = ""
        self.render_set_aside()
        self.dialog.showModal()

    def render_set_aside(self) -> None:
        """Each set-aside entry with its reason, its text (keys hidden) and its actions."""
        entries = self.app.state.quarantine
        el("set-quarantine").hidden = not entries
        listing = el("quarantine-list")
        listing.replaceChildren()
        for index, entry in enumerate(entries):
            item = clone("t-quarantined")
            item.dataset.index = str(index)
            part(item, ".what").textContent = f"{entry.source}: {entry.reason}"
            text = part(item, "textarea")
            text.value = entry_text(entry)
            text.setAttribute("aria-label", f"Entry {entry.source}")
            part(item, "[data-action='retry']").setAttribute("aria-label", f"Load {entry.source}")
            part(item, "[data-action='remove']").setAttribute(
                "aria-label", f"Remove {entry.source}"
            )
            listing.appendChild(item)

    def on_set_aside(self, event: Any) -> None:
        action, control = action_of(event)
        if not action:
            return
        item = control.closest("[data-index]")
        index = int(str(item.getAttribute("data-index")))
        try:
            if action == "remove":
                self.app.remove_set_aside(index)
                message = "Entry removed."
            else:
                provider = self.app.load_set_aside(index, str(part(item, "textarea").value))
                message = f"{provider.name} loaded."
        except DetourError as error:
            part(item, ".what").textContent = str(error)
            announce(str(error))
            return
        self.render_set_aside()
        el("set-transfer-result").textContent = message
        announce(message)

    def export_set_aside(self) -> None:
        el("set-transfer").value = self.app.export_set_aside(bool(el("set-export-keys").checked))
        el("set-transfer-result").textContent = "The set-aside entries are in the box above."

    def close(self) -> None:
        el("set-gateway-token").value = ""  # no secret waits in a hidden field
        el("set-transfer").value = ""
        self.dialog.close()

    def save(self) -> None:
        url = str(el("set-gateway-url").value).strip()
        if url == self.app.default_gateway_url:
            url = ""
        try:
            self.app.set_preferences(
                str(el("set-system").value),
                str(el("set-temperature").value),
                str(el("set-max-tokens").value),
            )
            self.app.set_gateway(url, str(el("set-gateway-token").value))
        except DetourError as error:
            el("set-gateway-result").textContent = str(error)
            announce(str(error))
            return
        el("set-gateway-result").textContent = "Saved."
        self.spawn(self.check_gateway())

    async def check_gateway(self) -> None:
        result = el("set-gateway-result")
        result.textContent = "Checking…"
        status = await self.app.refresh_gateway()
        if status is None:
            result.textContent = "No gateway URL is set."
        else:
            models = len(self.app.gateway_models)
            extra = f"; {models} models" if status.kind is not GatewayKind.UNREACHABLE else ""
            result.textContent = f"{status.message}{extra}"
        announce(str(result.textContent))

    def export(self) -> None:
        el("set-transfer").value = self.app.export(bool(el("set-export-keys").checked))
        el("set-transfer-result").textContent = "Copy the text above to keep it."

    def import_text(self) -> None:
        try:
            el("set-transfer-result").textContent = self.app.import_text(
                str(el("set-transfer").value)
            )
        except DetourError as error:
            el("set-transfer-result").textContent = str(error)
        announce(str(el("set-transfer-result").textContent))
