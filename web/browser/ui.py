"""The page: wires each control once, re-renders only the parts a change notice names.

Change notices from the app mark parts dirty; one animation frame renders them
and appends the streaming reply's new text. Lists have one delegated listener
each; every proxy is made once, at wiring, and counted (see `Proxies`).
Rendering only reads the app: choosing a provider or model is an action.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import js

from web.app import App
from web.browser.compare import CompareView
from web.browser.dom import Proxies, action_of, announce, clone, el, part
from web.browser.messages import (
    ReplyWriter,
    empty_state,
    message_node,
    scroll_to_end,
    set_actions,
)
from web.browser.picker import ModelPicker
from web.browser.provider_dialog import ProviderDialog
from web.browser.settings_dialog import SettingsDialog
from web.browser.sidebar import (
    ActivityList,
    ProviderList,
    render_conversations,
    render_gateway,
    route_of,
)
from web.browser.view import reply_header, stats_dict
from web.chat import ChatUpdate, Message, ReplyStats
from web.dialects import ReasoningDelta, TextDelta
from web.drafts import describe_stats
from web.errors import DetourError
from web.notices import Change

YIELD_EVERY = 0.012  # seconds of reply handling before the browser gets a turn
SEND_TURNS = 6  # turns of the loop a chat may take to hand its request to the browser


class Page:
    """Binds the page's elements to the app."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.proxies = Proxies()
        self._tasks: set[asyncio.Future[Any]] = set()
        self.dirty: set[Change] = set(Change)
        self.frame_pending = False
        self.renders = 0
        self.writer: ReplyWriter | None = None
        self.editing = False
        self.comparing = False
        self.stop_asked = False
        self.undo: Callable[[], None] | None = None
        self.picker = ModelPicker(app)
        self.provider_list = ProviderList()
        self.activity_list = ActivityList()
        self.provider_dialog = ProviderDialog(app, self.after_provider_saved)
        self.settings_dialog = SettingsDialog(app, self.spawn)
        self.compare = CompareView(app, self.schedule)
        self._frame = self.proxies.keep(self.on_frame)
        self._cache: list[tuple[Message, tuple[Any, ...], Any]] = []
        app.listeners.append(self.on_change)

    # --- wiring -------------------------------------------------------------------

    def on(self, element_id: str, event: str, handler: Callable[[Any], Any]) -> None:
        self.proxies.listen(el(element_id), event, handler)

    def spawn(self, coroutine: Awaitable[Any]) -> None:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def wire(self) -> None:
        self.on("composer", "submit", self.on_submit)
        self.on("prompt", "keydown", self.on_prompt_key)
        self.on("stop", "click", self.on_stop)
        self.on("new-chat", "click", self.on_new_chat)
        self.on("cancel-edit", "click", lambda _e: self.set_editing(False, clear=True))
        self.on("conversations", "click", self.on_conversations)
        self.on("conversations", "keydown", self.on_conversations_key)
        self.on("providers", "click", self.on_providers)
        self.on("messages", "click", self.on_messages)
        self.on("notice", "click", self.on_notice)
        self.on("model", "keydown", self.picker.on_key)
        self.on("model", "input", self.picker.on_input)
        self.on("model", "focus", self.picker.on_focus)
        self.on("model", "click", lambda _e: self.picker.open())
        self.on("model-list", "mousedown", self.picker.on_list_down)
        self.on("picker", "focusout", self.picker.on_focusout)
        self.on("toggle-compare", "click", self.on_toggle_compare)
        self.on("add-column", "click", lambda _e: self.compare.resize(1))
        self.on("remove-column", "click", lambda _e: self.compare.resize(-1))
        self.on("open-side", "click", lambda _e: self.show_side(True))
        self.on("close-side", "click", lambda _e: self.show_side(False))
        self.on("add-provider", "click", lambda _e: self.provider_dialog.open(None))
        self.on("pf-gallery", "click", self.provider_dialog.on_gallery)
        self.on("pf-save", "click", lambda _e: self.provider_dialog.save())
        self.on("pf-check", "click", lambda _e: self.spawn(self.provider_dialog.check()))
        self.on("pf-delete", "click", self.on_provider_remove)
        self.on("pf-cancel", "click", lambda _e: self.provider_dialog.close())
        self.on("pf-close", "click", lambda _e: self.provider_dialog.close())
        self.on("provider-dialog", "cancel", lambda _e: self.provider_dialog.close())
        self.on("open-settings", "click", lambda _e: self.settings_dialog.open())
        self.on("set-save", "click", lambda _e: self.settings_dialog.save())
        self.on("set-check", "click", lambda _e: self.spawn(self.settings_dialog.check_gateway()))
        self.on("set-close", "click", lambda _e: self.settings_dialog.close())
        self.on("set-close-x", "click", lambda _e: self.settings_dialog.close())
        self.on("settings-dialog", "cancel", lambda _e: self.settings_dialog.close())
        self.on("set-export", "click", lambda _e: self.settings_dialog.export())
        self.on("set-import", "click", lambda _e: self.settings_dialog.import_text())
        self.on("set-export-aside", "click", lambda _e: self.settings_dialog.export_set_aside())
        self.on("quarantine-list", "click", self.settings_dialog.on_set_aside)
        self.proxies.listen(js.document, "visibilitychange", self.on_visibility)
        self.provider_dialog.build_gallery()

    def on_stop(self, _event: Any) -> None:
        self.stop_asked = True  # also ends the showing of text that already arrived
        self.app.stop()

    def on_visibility(self, _event: Any) -> None:
        if js.document.hidden:
            self.app.monitor.pause()
        else:
            self.app.monitor.resume()

    # --- change notices and the frame -----------------------------------------------

    def on_change(self, change: Change) -> None:
        self.dirty.add(change)
        self.schedule()

    def schedule(self) -> None:
        if not self.frame_pending:
            self.frame_pending = True
            js.requestAnimationFrame(self._frame)

    def on_frame(self, _time: Any = None) -> None:
        self.frame_pending = False
        if self.writer is not None:
            self.writer.flush()
            scroll_to_end()
        if self.comparing:
            self.compare.flush()
        if not self.dirty:
            return
        if self.dirty & {Change.PROVIDERS, Change.HEALTH, Change.SETTINGS}:
            self.app.settle_choice()  # an action, before rendering reads
        dirty, self.dirty = self.dirty, set()
        self.render(dirty)

    def render(self, dirty: set[Change]) -> None:
        self.renders += 1
        app = self.app
        if Change.CONVERSATIONS in dirty:
            render_conversations(app)
        if dirty & {Change.PROVIDERS, Change.HEALTH, Change.SETTINGS}:
            self.provider_list.render(app)
            render_gateway(app)
            self.render_route_line()
            self.picker.show_value()
        if Change.PROVIDERS in dirty and self.comparing:
            self.compare.render()
        if Change.ACTIVITY in dirty:
            self.activity_list.render(app)
        if Change.CONVERSATION in dirty and self.writer is None:
            self.render_conversation()

    def render_all(self) -> None:
        self.dirty = set()
        self.render(set(Change))

    def render_route_line(self) -> None:
        provider = self.app.provider(self.app.state.settings.active_provider)
        line = el("route-line")
        if provider is None:
            line.textContent = "Add a provider to start, or set a gateway in Settings."
            return
        failed = provider.id in self.app.failed_notes
        note = self.app.notes.get(provider.id, "") if failed else ""
        line.textContent = f"{provider.name} · {route_of(self.app, provider)}" + (
            f" — {note}" if note else ""
        )

    def render_conversation(self) -> None:
        """The open conversation; unchanged messages keep their nodes."""
        box = el("messages")
        messages = self.app.conversation.messages
        if not messages:
            self._cache = []
            box.replaceChildren(empty_state(bool(self.app.providers())))
            return
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        last = len(messages) - 1
        cached = {id(m): (m, key, node) for m, key, node in self._cache}
        fresh: list[tuple[Message, tuple[Any, ...], Any]] = []
        for index, message in enumerate(messages):
            key = self.key(message, index == last_user, index == last)
            hit = cached.get(id(message))
            if hit is not None and hit[0] is message and hit[1] == key:
                fresh.append(hit)
                continue
            provider = self.app.provider(message.provider_id)
            actions = self.actions_for(message, index == last_user, index == last)
            node = message_node(message, provider.name if provider else "", actions)
            node.dataset.index = str(index)
            fresh.append((message, key, node))
        self._cache = fresh
        nodes = [node for _m, _k, node in fresh]
        shown = list(box.children)
        if shown == nodes:
            return
        # Unchanged nodes stay where they are: taking a long reply out and putting it
        # back makes the browser restyle and lay out all of it again.
        if len(shown) <= len(nodes):
            for old, new in zip(shown, nodes, strict=False):
                if old != new:
                    old.replaceWith(new)
            for new in nodes[len(shown) :]:
                box.appendChild(new)
        else:
            box.replaceChildren(*nodes)
        scroll_to_end(force=True)

    @staticmethod
    def key(message: Message, last_user: bool, last: bool) -> tuple[Any, ...]:
        """What a message's node shows; a node is rebuilt only when this changes."""
        return (len(message.content), message.error, message.stopped, last_user, last,
                len(message.reasoning))  # fmt: skip

    def actions_for(self, message: Message, last_user: bool, last: bool) -> list[tuple[str, str]]:
        if message.role == "user":
            return [("edit", "Edit")] if last_user else []
        actions = [("copy", "Copy")] if message.content else []
        if last:
            actions.append(("regenerate", "Regenerate"))
        return actions

    # --- notices ------------------------------------------------------------------

    def notice(self, text: str, kind: str = "info", undo: Callable[[], None] | None = None) -> None:
        node = el("notice")
        node.replaceChildren()
        node.hidden = not text
        node.dataset.kind = kind
        self.undo = undo
        if text:
            node.appendChild(js.document.createTextNode(text))
            if undo is not None:
                button = clone("t-card").querySelector("button")  # a plain button, restyled
                button.replaceChildren(js.document.createTextNode("Undo"))
                button.className = "secondary small"
                button.dataset.action = "undo"
                node.appendChild(button)
            announce(text)

    def on_notice(self, event: Any) -> None:
        action, _ = action_of(event)
        if action == "undo" and self.undo is not None:
            undo, self.undo = self.undo, None
            try:
                undo()
            except DetourError as error:
                self.notice(str(error), "error")
                return
            self.notice("Restored.")

    # --- side panel -----------------------------------------------------------------

    @staticmethod
    def side_open() -> bool:
        return str(el("app").getAttribute("data-side") or "") == "open"

    def show_side(self, visible: bool) -> None:
        el("app").dataset.side = "open" if visible else ""
        el("open-side").setAttribute("aria-expanded", "true" if visible else "false")
        if visible:
            el("new-chat").focus()
        else:
            el("open-side").focus()

    def on_new_chat(self, _event: Any) -> None:
        if not self.app.chats.busy:
            self.set_editing(False)
            self.app.new_conversation()
            if self.side_open():
                self.show_side(False)
            el("prompt").focus()

    def on_conversations(self, event: Any) -> None:
        action, control = action_of(event)
        if not action or self.app.chats.busy:
            return
        item = control.closest("[data-id]")
        conversation_id = str(item.dataset.id)
        if action == "open":
            self.set_editing(False)
            self.app.open_conversation(conversation_id)
            if self.side_open():
                self.show_side(False)
        elif action == "rename":
            self.start_rename(item, conversation_id)
        elif action == "delete":
            try:
                title = self.app.delete_conversation(conversation_id)
            except DetourError as error:
                self.notice(str(error), "error")
                return
            self.notice(f"Deleted “{title}”.", undo=self.app.undo_delete_conversation)

    def start_rename(self, item: Any, conversation_id: str) -> None:
        entry = self.app.conversations.entry(conversation_id)
        field = js.document.createElement("input")
        field.value = entry.title if entry else ""
        field.setAttribute("aria-label", "Conversation title")
        field.dataset.renaming = conversation_id
        opener = part(item, "[data-action='open']")
        opener.replaceWith(field)
        field.focus()
        field.select()

    def on_conversations_key(self, event: Any) -> None:
        target = event.target
        renaming = str(target.getAttribute("data-renaming") or "")
        if not renaming:
            return
        if event.key == "Enter":
            event.preventDefault()
            try:
                self.app.rename_conversation(renaming, str(target.value))
            except DetourError as error:
                self.notice(str(error), "error")
            self.dirty.add(Change.CONVERSATIONS)
            self.schedule()
        elif event.key == "Escape":
            event.preventDefault()
            self.dirty.add(Change.CONVERSATIONS)
            self.schedule()

    def on_providers(self, event: Any) -> None:
        action, control = action_of(event)
        if not action:
            return
        provider_id = str(control.closest("[data-provider]").dataset.provider)
        if action == "pick":
            self.pick_provider(provider_id)
        elif action == "edit":
            self.provider_dialog.open(provider_id)
        elif action == "toggle":
            provider = self.app.state.provider(provider_id)
            if provider is not None:
                try:
                    self.app.set_enabled(provider_id, not provider.enabled)
                except DetourError as error:
                    self.notice(str(error), "error")

    def pick_provider(self, provider_id: str) -> None:
        provider = self.app.provider(provider_id)
        if provider is None:
            return
        models = self.app.models(provider)
        self.app.select(provider_id, models[0] if models else "")
        if not provider.all_models:
            self.spawn(self.refresh_models(provider_id))
        if self.side_open():
            self.show_side(False)

    def after_provider_saved(self, provider_id: str) -> None:
        if self.side_open():
            self.show_side(False)  # back to the chat, with the new provider chosen
        self.app.select(provider_id, "")
        self.spawn(self.refresh_models(provider_id))
        self.spawn(self.app.check_health(provider_id))

    def on_provider_remove(self, _event: Any) -> None:
        provider_id = self.provider_dialog.editing
        if not provider_id:
            return
        provider = self.app.state.provider(provider_id)
        try:
            self.app.delete_provider(provider_id)
        except DetourError as error:
            el("pf-error").textContent = str(error)
            return
        self.provider_dialog.close()
        name = provider.name if provider else provider_id
        self.notice(f"Removed {name}.", undo=self.undo_remove)

    def undo_remove(self) -> None:
        self.app.undo_delete()

    async def refresh_models(self, provider_id: str) -> None:
        """List a provider's models; a failure shows as the provider's note."""
        with contextlib.suppress(DetourError):
            await self.app.refresh_models(provider_id)

    # --- chat ---------------------------------------------------------------------

    def on_prompt_key(self, event: Any) -> None:
        if event.key == "Enter" and not event.shiftKey and not event.isComposing:
            event.preventDefault()
            self.spawn(self.send())

    def on_submit(self, event: Any) -> None:
        event.preventDefault()
        self.spawn(self.send())

    def set_editing(self, editing: bool, *, clear: bool = False) -> None:
        self.editing = editing
        el("editing").hidden = not editing
        if clear:
            el("prompt").value = ""

    def on_toggle_compare(self, _event: Any) -> None:
        if self.app.chats.busy:
            return
        self.comparing = not self.comparing
        el("toggle-compare").setAttribute("aria-pressed", "true" if self.comparing else "false")
        el("compare-view").hidden = not self.comparing
        el("chat-view").hidden = self.comparing
        el("picker").hidden = self.comparing
        el("route-line").hidden = self.comparing
        if self.comparing:
            self.set_editing(False)
            self.compare.render()

    def on_messages(self, event: Any) -> None:
        action, control = action_of(event)
        if not action:
            return
        if action == "copy-code":
            code = control.closest(".code").querySelector("code")
            self.copy(str(code.textContent), "Code copied.")
            return
        article = control.closest("article")
        index = int(str(article.getAttribute("data-index") or -1))
        messages = self.app.conversation.messages
        if not 0 <= index < len(messages) or self.app.chats.busy:
            return
        if action == "copy":
            self.copy(messages[index].content, "Reply copied.")
        elif action == "regenerate":
            self.spawn(self.regenerate())
        elif action == "edit":
            el("prompt").value = messages[index].content
            self.set_editing(True)
            el("prompt").focus()

    def copy(self, text: str, done: str) -> None:
        async def write() -> None:
            try:
                await js.navigator.clipboard.writeText(text)
            except Exception:
                self.notice("The browser refused the clipboard; select the text instead.", "error")
                return
            announce(done)

        self.spawn(write())

    def choice(self) -> tuple[str, str]:
        settings = self.app.state.settings
        return settings.active_provider, settings.active_model

    async def send(self) -> None:
        if self.app.chats.busy:
            return
        prompt = el("prompt")
        text = str(prompt.value).strip()
        if not text:
            return
        try:
            if self.comparing:
                runs = self.compare.start(text)
            elif self.editing:
                updates = self.app.chats.edit_last(*self.choice(), text)
            else:
                updates = self.app.chats.send(*self.choice(), text)
        except DetourError as error:
            self.notice(str(error), "error")  # what was typed stays in the box
            return
        prompt.value = ""
        self.notice("")
        self.set_editing(False)
        if self.comparing:
            await self.streaming(self.compare.run(runs))
        else:
            await self.streaming(self.stream(updates))

    async def regenerate(self) -> None:
        try:
            updates = self.app.chats.regenerate(*self.choice())
        except DetourError as error:
            self.notice(str(error), "error")
            return
        await self.streaming(self.stream(updates))

    async def streaming(self, work: Awaitable[None]) -> None:
        el("send").disabled = True
        el("stop").hidden = False
        try:
            await work
        finally:
            el("send").disabled = False
            el("stop").hidden = True

    async def stream(self, updates: Any) -> None:
        """Show the reply as it arrives; then its Markdown, footer and any error, in view.

        The request is on its way before anything is drawn: the reply's first
        steps run up to its fetch (a few turns of the loop at most), then the page
        draws the message while it waits.
        """
        self.stop_asked = False
        transport = self.app.router.transport
        sent = getattr(transport, "started", 0)
        first = asyncio.ensure_future(anext(updates, None))
        for _turn in range(SEND_TURNS):
            await asyncio.sleep(0)
            if first.done() or getattr(transport, "started", 0) != sent:
                break
        self.render_conversation()
        provider_id, model = self.choice()
        provider = self.app.provider(provider_id)
        name = provider.name if provider else provider_id
        node = clone("t-message")
        node.dataset.role = "assistant"
        node.setAttribute("aria-label", "Assistant")
        part(node, ".who").textContent = reply_header(Message("assistant", "", model=model), name)
        el("messages").appendChild(node)
        scroll_to_end(force=True)
        self.writer = writer = ReplyWriter(node, self.schedule)
        footer = error = route = unsaved = ""
        paused = time.monotonic()
        try:
            update = await first
            while update is not None:
                self.take(writer, update)
                if time.monotonic() - paused > YIELD_EVERY:
                    await asyncio.sleep(0.001)  # let the browser paint and take input
                    paused = time.monotonic()
                if isinstance(update, ReplyStats):
                    footer = describe_stats(stats_dict(update))
                    error, unsaved = update.error, update.unsaved
                    route = update.route or ""
                update = await anext(updates, None)
            while writer.behind and not self.stop_asked:  # a fast stream, shown frame by frame
                await asyncio.sleep(0.05)
        except DetourError as failure:
            error = str(failure)
        finally:
            self.writer = None
        messages = self.app.conversation.messages
        reply = messages[-1] if messages and messages[-1].role == "assistant" else None
        writer.finish(reply, footer, reply.error if reply and reply.error else error, route)
        if reply is not None:  # the node stays: the next render finds it unchanged
            index = len(messages) - 1
            node.dataset.index = str(index)
            set_actions(node, self.actions_for(reply, False, True))
            self._cache.append((reply, self.key(reply, False, True), node))
        if unsaved:
            self.notice(unsaved, "error")
        if error:
            part(node, ".error").scrollIntoView(False)
            announce(f"Reply from {name} failed: {error}")
        else:
            announce(f"Reply from {name} finished.")
        self.dirty.add(Change.CONVERSATION)
        self.schedule()

    def take(self, writer: ReplyWriter, update: ChatUpdate) -> None:
        if isinstance(update, TextDelta):
            writer.add_text(update.text)
        elif isinstance(update, ReasoningDelta):
            writer.add_reasoning(update.text)
