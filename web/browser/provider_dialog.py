"""The provider dialog: a gallery of templates, then a short form whose actions stay in view.

Dialect and headers fold away under "Advanced" when the template decides them.
When the dialog closes, the key field is emptied: no secret waits in a hidden form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js

from web.app import App, ProviderDraft, as_draft
from web.browser.dom import announce, clone, el, make, part
from web.catalog import Template, get_template, templates
from web.errors import DetourError
from web.providers import Dialect


def template_blurb(template: Template) -> str:
    """A card's second line."""
    if template.id == "custom":
        return "Any OpenAI-compatible server"
    if template.local:
        return "Runs on this computer; no key"
    return "Anthropic API" if template.dialect is Dialect.ANTHROPIC else "OpenAI-compatible API"


class ProviderDialog:
    """Add or edit one provider."""

    def __init__(self, app: App, on_saved: Callable[[str], None]) -> None:
        self.app = app
        self.on_saved = on_saved
        self.editing: str | None = None
        self.template = "custom"
        self.dialog = el("provider-dialog")

    def build_gallery(self) -> None:
        gallery = el("pf-gallery")
        for template in templates():
            card = clone("t-card")
            button = part(card, "button")
            button.dataset.template = template.id
            part(button, "strong").textContent = template.name
            part(button, "small").textContent = template_blurb(template)
            gallery.appendChild(card)

    def open(self, provider_id: str | None) -> None:
        self.editing = provider_id
        provider = self.app.state.provider(provider_id) if provider_id else None
        el("provider-dialog-title").textContent = (
            f"Edit {provider.name}" if provider else "Add provider"
        )
        el("pf-error").textContent = ""
        el("pf-check-result").textContent = ""
        el("pf-delete").hidden = provider is None
        if provider is None:
            self.show_form(False)
        else:
            self.fill(as_draft(provider))
            self.describe(provider.template)
            self.show_form(True)
        self.dialog.showModal()

    def show_form(self, visible: bool) -> None:
        el("pf-gallery-step").hidden = visible
        el("provider-form").hidden = not visible
        el("pf-actions").hidden = not visible

    def close(self) -> None:
        el("pf-api-key").value = ""  # the key does not wait in a hidden field
        self.dialog.close()

    def on_gallery(self, event: Any) -> None:
        button = event.target.closest("[data-template]")
        if button is not None:
            self.apply(str(button.dataset.template))
            self.show_form(True)
            el("pf-name").focus()

    def apply(self, template_id: str) -> None:
        template = get_template(template_id)
        if template is None:
            return
        self.fill(
            ProviderDraft(
                template=template.id,
                name=template.name,
                base_url=template.base_url,
                dialect=template.dialect.value,
                api_key="",
                routing=template.routing.value,
                headers="\n".join(f"{k}: {v}" for k, v in template.headers.items()),
                manual_models="",
            )
        )
        self.describe(template_id)

    def fill(self, draft: ProviderDraft) -> None:
        self.template = draft.template
        el("pf-name").value = draft.name
        el("pf-base-url").value = draft.base_url
        el("pf-dialect").value = draft.dialect
        el("pf-api-key").value = draft.api_key
        el("pf-headers").value = draft.headers
        el("pf-models").value = draft.manual_models
        el("pf-enabled").checked = draft.enabled
        el("pf-remember").checked = draft.remember_key
        for radio in js.document.querySelectorAll("input[name='pf-routing']"):
            radio.checked = radio.value == draft.routing

    def describe(self, template_id: str) -> None:
        template = get_template(template_id)
        options = el("pf-base-options")
        options.replaceChildren()
        help_line = el("pf-key-help")
        help_line.replaceChildren()
        el("pf-advanced").open = template is None or template.id == "custom"
        if template is None:
            el("pf-template-note").textContent = ""
            return
        for choice in template.base_url_choices:
            options.appendChild(make("option", choice.label, value=choice.url))
        note = template.note
        if template.optional_headers:
            names = ", ".join(template.optional_headers)
            note += f" Optional headers ({names}) are left out: they force a CORS preflight."
        el("pf-template-note").textContent = note.strip()
        if template.id == "custom":
            help_line.textContent = "Paste the key your server expects, if it needs one."
        elif not template.needs_key:
            help_line.textContent = "No key needed for a local server."
        elif template.key_url:
            help_line.appendChild(js.document.createTextNode("Get a key at "))
            link = make("a", template.key_url, href=template.key_url, target="_blank")
            link.setAttribute("rel", "noopener noreferrer")
            help_line.appendChild(link)

    def read(self) -> ProviderDraft:
        routing = "auto"
        for radio in js.document.querySelectorAll("input[name='pf-routing']"):
            if radio.checked:
                routing = str(radio.value)
        return ProviderDraft(
            template=self.template,
            name=str(el("pf-name").value),
            base_url=str(el("pf-base-url").value),
            dialect=str(el("pf-dialect").value),
            api_key=str(el("pf-api-key").value),
            routing=routing,
            headers=str(el("pf-headers").value),
            manual_models=str(el("pf-models").value),
            enabled=bool(el("pf-enabled").checked),
            remember_key=bool(el("pf-remember").checked),
        )

    def save(self) -> None:
        try:
            provider = self.app.save_provider(self.read(), self.editing)
        except DetourError as error:
            el("pf-error").textContent = str(error)
            announce(str(error))
            return
        self.close()
        self.on_saved(provider.id)

    async def check(self) -> None:
        result = el("pf-check-result")
        result.textContent = "Checking…"
        try:
            result.textContent = await self.app.check_provider(self.read(), self.editing)
        except DetourError as error:
            result.textContent = str(error)
        announce(str(result.textContent))
