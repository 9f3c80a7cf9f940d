"""The page's DOM: renders the `App` and turns clicks and keys into its calls.

Text from providers and people is only ever set as `textContent`, never as HTML.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from web.app import App, ProviderDraft, as_draft, describe_stats
from web.catalog import get_template, templates
from web.chat import Message
from web.dialects import ReasoningDelta, TextDelta
from web.errors import DetourError, ProviderInvalid
from web.gateway import GATEWAY_PROVIDER_ID, GatewayKind
from web.markdown import BlockKind, split_blocks
from web.providers import Provider, Routing


def el(element_id: str) -> Any:
    """The element with this id."""
    return js.document.getElementById(element_id)


def make(tag: str, text: str = "", **attributes: str) -> Any:
    """A new element with text content and attributes."""
    node = js.document.createElement(tag)
    if text:
        node.textContent = text
    for name, value in attributes.items():
        node.setAttribute(name.rstrip("_").replace("_", "-"), value)
    return node


def render_blocks(node: Any, text: str) -> None:
    """Fill `node` with a reply's prose and code blocks, as text only."""
    node.replaceChildren()
    for block in split_blocks(text):
        if block.kind is BlockKind.CODE:
            pre = make("pre")
            code = make("code", block.text)
            if block.language:
                code.dataset.language = block.language
            pre.appendChild(code)
            node.appendChild(pre)
        else:
            node.appendChild(make("div", block.text, class_="prose"))


class Page:
    """Binds the page's elements to the app."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._proxies: list[Any] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self.editing: str | None = None
        self.streaming = False
        app.listeners.append(self.render_status)

    # --- wiring -------------------------------------------------------------------

    def on(self, element_id: str, event: str, handler: Callable[[Any], Any]) -> None:
        self.listen(el(element_id), event, handler)

    def listen(self, node: Any, event: str, handler: Callable[[Any], Any]) -> None:
        """Call `handler` on `event`, keeping the proxy alive as long as the page."""
        proxy = create_proxy(handler)
        self._proxies.append(proxy)
        node.addEventListener(event, proxy)

    def spawn(self, coroutine: Awaitable[Any]) -> None:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def wire(self) -> None:
        self.on("composer", "submit", self.on_submit)
        self.on("prompt", "keydown", self.on_prompt_key)
        self.on("stop", "click", lambda _e: self.app.stop())
        self.on("new-chat", "click", self.on_new_chat)
        self.on("refresh-models", "click", lambda _e: self.spawn(self.refresh_models()))
        self.on("chat-provider", "change", self.on_provider_pick)
        self.on("chat-model", "change", self.on_model_pick)
        self.on("add-provider", "click", lambda _e: self.open_provider(None))
        self.on("pf-template", "change", self.on_template_pick)
        self.on("pf-save", "click", self.on_provider_save)
        self.on("pf-check", "click", lambda _e: self.spawn(self.check_provider()))
        self.on("pf-delete", "click", self.on_provider_delete)
        self.on("pf-cancel", "click", lambda _e: el("provider-dialog").close())
        self.on("open-settings", "click", self.open_settings)
        self.on("set-save", "click", self.on_settings_save)
        self.on("set-check", "click", lambda _e: self.spawn(self.check_gateway()))
        self.on("set-close", "click", lambda _e: el("settings-dialog").close())
        self.on("set-export", "click", self.on_export)
        self.on("set-import", "click", self.on_import)
        self.listen(js.document, "visibilitychange", self.on_visibility)
        for template in templates():
            el("pf-template").appendChild(make("option", template.name, value=template.id))

    def on_visibility(self, _event: Any) -> None:
        if js.document.hidden:
            self.app.monitor.pause()
        else:
            self.app.monitor.resume()

    # --- notices ------------------------------------------------------------------

    def notice(self, text: str, kind: str = "info") -> None:
        node = el("notice")
        node.textContent = text
        node.dataset.kind = kind

    # --- rendering ----------------------------------------------------------------

    def render_all(self) -> None:
        self.render_status()
        self.render_conversation()

    def render_status(self) -> None:
        """Providers, their health and route, the gateway badge, the pickers, activity."""
        self.render_gateway_badge()
        self.render_providers()
        self.render_pickers()
        self.render_route_line()
        self.render_activity()

    def render_gateway_badge(self) -> None:
        status = self.app.gateway_status
        badge = el("gateway-status")
        config = self.app.gateway_config()
        if config is None:
            text, title = "no gateway", "Set a gateway URL in Settings to get past CORS blocks"
        elif status is None:
            text, title = "gateway: checking…", config.url
        elif status.kind is GatewayKind.DETOUR:
            text, title = "gateway: ready", status.message
        elif status.kind is GatewayKind.LITELLM:
            text, title = "gateway: LiteLLM proxy (no relay)", status.message
        else:
            text, title = "gateway: unreachable", status.message
        health = self.app.health(GATEWAY_PROVIDER_ID)
        badge.textContent = text
        badge.title = title
        badge.className = f"badge health-{health.state.value}"

    def route_text(self, provider: Provider) -> str:
        if provider.id == GATEWAY_PROVIDER_ID:
            return "gateway's own models"
        remembered = self.app.router.remembered(provider)
        if provider.routing is Routing.AUTO:
            return f"auto → {remembered.value}" if remembered else "auto"
        return provider.routing.value

    def render_providers(self) -> None:
        listing = el("providers")
        listing.replaceChildren()
        active = self.app.state.settings.active_provider
        for provider in self.app.providers():
            health = self.app.health(provider.id)
            item = make("li", role="option", data_provider=provider.id)
            item.setAttribute("aria-selected", "true" if provider.id == active else "false")
            item.setAttribute("aria-current", "true" if provider.id == active else "false")
            item.appendChild(make("strong", provider.name))
            state = health.state.value if provider.enabled else "disabled"
            label = f"{provider.name}, {state}, {self.route_text(provider)}"
            item.setAttribute("aria-label", label)
            item.appendChild(make("span", f"● {state}", class_=f"badge health-{state}"))
            item.appendChild(make("span", self.route_text(provider), class_="badge"))
            meta = []
            if health.latency_ms is not None:
                meta.append(f"{health.latency_ms:.0f} ms")
            if health.last_error:
                meta.append(health.last_error)
            elif self.app.notes.get(provider.id):
                meta.append(self.app.notes[provider.id])
            if meta:
                text = " · ".join(meta)
                item.appendChild(make("span", text, class_="meta", title=text))
            if provider.id != GATEWAY_PROVIDER_ID:
                edit = make("button", "Edit", type="button", class_="outline secondary")
                edit.setAttribute("aria-label", f"Edit {provider.name}")
                edit.style.padding = ".1rem .5rem"
                edit.style.marginTop = ".3rem"
                self.listen(edit, "click", lambda _e, pid=provider.id: self.open_provider(pid))
                item.appendChild(edit)
            self.listen(item, "click", lambda e, pid=provider.id: self.pick_provider(pid, e))
            listing.appendChild(item)

    def render_pickers(self) -> None:
        select = el("chat-provider")
        settings = self.app.state.settings
        providers = [p for p in self.app.providers() if p.enabled]
        if not settings.active_provider and providers:
            settings.active_provider = providers[0].id
        select.replaceChildren()
        for provider in providers:
            option = make("option", provider.name, value=provider.id)
            if provider.id == settings.active_provider:
                option.selected = True
            select.appendChild(option)
        provider = self.app.provider(settings.active_provider)
        models = self.app.models(provider) if provider else []
        datalist = el("model-options")
        datalist.replaceChildren()
        for model in models:
            datalist.appendChild(make("option", value=model))
        field = el("chat-model")
        focused = js.document.activeElement == field
        found = provider.all_models if provider else []  # picked only once discovery answered
        stale = not settings.active_model or settings.active_model not in models
        if stale and found and not focused:
            settings.active_model = found[0]
        if js.document.activeElement != field:
            field.value = settings.active_model

    def render_route_line(self) -> None:
        provider = self.app.provider(self.app.state.settings.active_provider)
        line = el("route-line")
        if provider is None:
            line.textContent = "Add a provider to start, or set a gateway in Settings."
            return
        note = self.app.notes.get(provider.id, "")
        line.textContent = f"{provider.name}: {self.route_text(provider)}" + (
            f" — {note}" if note else ""
        )

    def render_activity(self) -> None:
        listing = el("activity")
        listing.replaceChildren()
        for line in list(self.app.activity)[:50]:
            listing.appendChild(make("li", line))

    def render_conversation(self) -> None:
        box = el("messages")
        box.replaceChildren()
        for message in self.app.conversation.messages:
            box.appendChild(self.message_node(message))
        box.scrollTop = box.scrollHeight

    def message_node(self, message: Message) -> Any:
        node = make("article", data_role=message.role)
        node.setAttribute("aria-label", "You" if message.role == "user" else "Assistant")
        if message.reasoning:
            node.appendChild(make("div", message.reasoning, class_="reasoning"))
        content = make("div", class_="content")
        render_blocks(content, message.content)
        node.appendChild(content)
        if message.error:
            node.classList.add("error")
            node.appendChild(make("footer", message.error))
        elif message.stopped:
            node.appendChild(make("footer", "stopped"))
        return node

    # --- chat ---------------------------------------------------------------------

    def on_prompt_key(self, event: Any) -> None:
        if event.key == "Enter" and not event.shiftKey and not event.isComposing:
            event.preventDefault()
            self.spawn(self.send())

    def on_submit(self, event: Any) -> None:
        event.preventDefault()
        self.spawn(self.send())

    def on_new_chat(self, _event: Any) -> None:
        if not self.streaming:
            self.app.new_conversation()
            self.render_conversation()

    def on_provider_pick(self, _event: Any) -> None:
        self.pick_provider(str(el("chat-provider").value), None)

    def pick_provider(self, provider_id: str, event: Any) -> None:
        if event is not None and str(event.target.tagName).lower() == "button":
            return
        self.app.state.settings.active_provider = provider_id
        self.app.state.settings.active_model = ""
        self.render_status()
        provider = self.app.provider(provider_id)
        if provider is not None and not provider.all_models:
            self.spawn(self.refresh_models(announce=False))
        self.app.select(provider_id, self.app.state.settings.active_model)

    def on_model_pick(self, _event: Any) -> None:
        self.app.select(self.app.state.settings.active_provider, str(el("chat-model").value))

    async def refresh_models(self, *, announce: bool = True) -> None:
        """List the active provider's models; errors go to the provider's note."""
        provider_id = self.app.state.settings.active_provider
        if not provider_id:
            return
        try:
            result = await self.app.refresh_models(provider_id)
        except DetourError as error:
            if announce:
                self.notice(str(error), "error")
        else:
            if announce:
                self.notice(result.note or "Models refreshed.")
        self.render_status()

    async def send(self) -> None:
        if self.streaming:
            return
        text = str(el("prompt").value).strip()
        if not text:
            return
        provider_id = str(el("chat-provider").value)
        model = str(el("chat-model").value).strip()
        if not provider_id or not model:
            self.notice("Choose a provider and a model (or type a model id) first.", "error")
            return
        box = el("messages")
        self.streaming = True
        el("send").disabled = True
        el("stop").hidden = False
        self.notice("")
        reply = make("article", data_role="assistant", aria_busy="true")
        reply.setAttribute("aria-label", "Assistant")
        reasoning = make("div", class_="reasoning")
        content = make("div", class_="content")
        reply.appendChild(reasoning)
        reply.appendChild(content)
        chunks = 0
        try:
            updates = self.app.send(provider_id, model, text)
            el("prompt").value = ""
            box.appendChild(self.message_node(Message("user", text)))
            box.appendChild(reply)
            async for update in updates:
                if isinstance(update, TextDelta):
                    chunks += 1
                    content.textContent += update.text
                    reply.dataset.chunks = str(chunks)
                elif isinstance(update, ReasoningDelta):
                    reasoning.textContent += update.text
                else:
                    stats = asdict(update)
                    footer = describe_stats(stats)
                    if update.error:
                        reply.classList.add("error")
                        footer = f"{update.error} — {footer}" if footer else update.error
                    reply.appendChild(make("footer", footer))
                    reply.dataset.route = update.route or ""
                box.scrollTop = box.scrollHeight
        except DetourError as error:
            if reply.parentNode is None:
                box.appendChild(reply)
            reply.classList.add("error")
            content.textContent = str(error)
            self.notice(str(error), "error")
        finally:
            if "```" in content.textContent or "~~~" in content.textContent:
                render_blocks(content, str(content.textContent))
            reply.setAttribute("aria-busy", "false")
            reply.dataset.done = "true"
            self.streaming = False
            el("send").disabled = False
            el("stop").hidden = True
            self.render_status()

    # --- provider dialog ----------------------------------------------------------

    def open_provider(self, provider_id: str | None) -> None:
        self.editing = provider_id
        provider = self.app.state.provider(provider_id) if provider_id else None
        el("provider-dialog-title").textContent = (
            f"Edit {provider.name}" if provider else "Add provider"
        )
        el("pf-delete").hidden = provider is None
        el("pf-template").disabled = provider is not None
        el("pf-error").textContent = ""
        el("pf-check-result").textContent = ""
        if provider is not None:
            self.fill_form(as_draft(provider))
            self.describe_template(provider.template)
        else:
            el("pf-template").value = "zai"
            self.apply_template("zai")
        el("provider-dialog").showModal()

    def fill_form(self, draft: ProviderDraft) -> None:
        el("pf-template").value = draft.template
        el("pf-name").value = draft.name
        el("pf-base-url").value = draft.base_url
        el("pf-dialect").value = draft.dialect
        el("pf-api-key").value = draft.api_key
        el("pf-headers").value = draft.headers
        el("pf-models").value = draft.manual_models
        el("pf-enabled").checked = draft.enabled
        for radio in js.document.querySelectorAll("input[name='pf-routing']"):
            radio.checked = radio.value == draft.routing

    def describe_template(self, template_id: str) -> None:
        template = get_template(template_id)
        options = el("pf-base-options")
        options.replaceChildren()
        if template is None:
            el("pf-template-note").textContent = ""
            el("pf-key-help").textContent = ""
            return
        for choice in template.base_url_choices:
            options.appendChild(make("option", choice.label, value=choice.url))
        note = template.note
        if template.optional_headers:
            names = ", ".join(template.optional_headers)
            note += f" Optional headers ({names}) are left out: they force a CORS preflight."
        el("pf-template-note").textContent = note.strip()
        key_help = f"Get a key at {template.key_url}" if template.key_url else ""
        if not template.needs_key:
            key_help = "No key needed for a local server."
        el("pf-key-help").textContent = key_help

    def on_template_pick(self, _event: Any) -> None:
        if self.editing is None:
            self.apply_template(str(el("pf-template").value))

    def apply_template(self, template_id: str) -> None:
        template = get_template(template_id)
        if template is None:
            return
        self.fill_form(
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
        self.describe_template(template_id)

    def read_form(self) -> ProviderDraft:
        routing = "auto"
        for radio in js.document.querySelectorAll("input[name='pf-routing']"):
            if radio.checked:
                routing = str(radio.value)
        return ProviderDraft(
            template=str(el("pf-template").value),
            name=str(el("pf-name").value),
            base_url=str(el("pf-base-url").value),
            dialect=str(el("pf-dialect").value),
            api_key=str(el("pf-api-key").value),
            routing=routing,
            headers=str(el("pf-headers").value),
            manual_models=str(el("pf-models").value),
            enabled=bool(el("pf-enabled").checked),
        )

    def on_provider_save(self, _event: Any) -> None:
        try:
            provider = self.app.save_provider(self.read_form(), self.editing)
        except ProviderInvalid as error:
            el("pf-error").textContent = str(error)
            return
        el("provider-dialog").close()
        self.app.state.settings.active_provider = provider.id
        self.app.state.settings.active_model = ""
        self.render_status()
        self.spawn(self.refresh_models(announce=False))
        self.spawn(self.app.check_health(provider.id))

    async def check_provider(self) -> None:
        result = el("pf-check-result")
        result.textContent = "Checking…"
        try:
            result.textContent = await self.app.check_provider(self.read_form(), self.editing)
        except DetourError as error:
            result.textContent = str(error)
        self.render_status()

    def on_provider_delete(self, _event: Any) -> None:
        if self.editing and js.window.confirm("Delete this provider?"):
            self.app.delete_provider(self.editing)
            el("provider-dialog").close()
            self.render_status()

    # --- settings dialog ----------------------------------------------------------

    def open_settings(self, _event: Any) -> None:
        settings = self.app.state.settings
        el("set-gateway-url").value = settings.gateway_url or self.app.default_gateway_url
        el("set-gateway-token").value = settings.gateway_token
        el("set-system").value = settings.system_prompt
        el("set-temperature").value = "" if settings.temperature is None else settings.temperature
        el("set-max-tokens").value = "" if settings.max_tokens is None else settings.max_tokens
        el("set-gateway-result").textContent = ""
        el("set-transfer-result").textContent = ""
        quarantine = el("set-quarantine")
        quarantine.replaceChildren()
        if self.app.state.quarantine:
            quarantine.appendChild(make("h4", "Set aside (kept, not loaded)"))
            listing = make("ul")
            for entry in self.app.state.quarantine:
                listing.appendChild(make("li", f"{entry.source}: {entry.reason}"))
            quarantine.appendChild(listing)
        el("settings-dialog").showModal()

    def on_settings_save(self, _event: Any) -> None:
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
        self.render_status()

    def on_export(self, _event: Any) -> None:
        el("set-transfer").value = self.app.export(bool(el("set-export-keys").checked))
        el("set-transfer-result").textContent = "Copy the text above to keep it."

    def on_import(self, _event: Any) -> None:
        try:
            el("set-transfer-result").textContent = self.app.import_text(
                str(el("set-transfer").value)
            )
        except DetourError as error:
            el("set-transfer-result").textContent = str(error)
        self.render_status()
