"""The model picker: a combobox whose list groups models by provider, with search and health.

Arrow keys move through the options, Enter picks (or takes a typed model id for
the current provider), Escape closes. Only the first models of each provider
are listed; typing narrows the list.
"""

from __future__ import annotations

from typing import Any

import js
from pyodide.ffi import to_js

from web.app import App
from web.browser.dom import clone, el, make, part
from web.browser.view import model_groups


class ModelPicker:
    """Renders the list on demand and turns keys and clicks into `App.select`."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.input = el("model")
        self.list = el("model-list")
        self.active = -1
        self.options: list[Any] = []

    @property
    def is_open(self) -> bool:
        return not self.list.hidden

    def show_value(self) -> None:
        """The chosen model in the box, unless the person is typing in it."""
        if not self.is_open:
            self.input.value = self.app.state.settings.active_model

    def open(self, query: str = "") -> None:
        self.render(query)
        self.list.hidden = False
        self.input.setAttribute("aria-expanded", "true")

    def close(self) -> None:
        self.list.hidden = True
        self.input.setAttribute("aria-expanded", "false")
        self.input.removeAttribute("aria-activedescendant")
        self.list.replaceChildren()
        self.options = []
        self.active = -1
        self.show_value()

    def render(self, query: str) -> None:
        app = self.app
        groups = model_groups(app.providers(), app.models, app.health, query)
        self.list.replaceChildren()
        self.options = []
        self.active = -1
        chosen = (app.state.settings.active_provider, app.state.settings.active_model)
        for group in groups:
            holder = clone("t-group")
            part(holder, ".gname").textContent = group.label
            part(holder, ".dot").classList.add(f"tone-{group.tone}")
            box = part(holder, "[role='group']")
            box.setAttribute("aria-label", group.label)
            for model in group.models:
                option = make("li", model, role="option", id=f"model-opt-{len(self.options)}")
                option.dataset.provider = group.provider_id
                option.dataset.model = model
                selected = (group.provider_id, model) == chosen
                option.setAttribute("aria-selected", "true" if selected else "false")
                box.appendChild(option)
                self.options.append(option)
            if group.more:
                box.appendChild(make("li", f"{group.more} more — type to narrow", class_="more"))
            if not group.models:
                box.appendChild(make("li", "no models listed — type a model id", class_="more"))
            self.list.appendChild(holder)
        if not groups:
            self.list.appendChild(make("li", "No model matches", class_="more"))

    def move(self, step: int) -> None:
        if not self.options:
            return
        if self.active >= 0:
            self.options[self.active].setAttribute("aria-selected", "false")
        self.active = (self.active + step) % len(self.options)
        option = self.options[self.active]
        option.setAttribute("aria-selected", "true")
        option.scrollIntoView(js.Object.fromEntries(to_js([["block", "nearest"]])))
        self.input.setAttribute("aria-activedescendant", option.id)

    def on_key(self, event: Any) -> None:
        key = str(event.key)
        if key in ("ArrowDown", "ArrowUp"):
            event.preventDefault()
            if not self.is_open:
                self.open(str(self.input.value) if self.input.value != self.current() else "")
            self.move(1 if key == "ArrowDown" else -1)
        elif key == "Enter":
            event.preventDefault()
            if self.is_open and self.active >= 0:
                self.pick(self.options[self.active])
            else:
                self.take_typed()
        elif key == "Escape" and self.is_open:
            event.preventDefault()
            self.close()

    def current(self) -> str:
        return self.app.state.settings.active_model

    def on_input(self, _event: Any) -> None:
        self.open(str(self.input.value))

    def on_focus(self, _event: Any) -> None:
        self.input.select()

    def on_list_down(self, event: Any) -> None:
        """A pointer press on an option picks it (before the box loses focus)."""
        option = event.target.closest("[role='option']")
        if option is not None:
            event.preventDefault()
            self.pick(option)

    def on_focusout(self, event: Any) -> None:
        related = event.relatedTarget
        if (related is None or not el("picker").contains(related)) and self.is_open:
            self.take_typed()

    def take_typed(self) -> None:
        """A model id typed by hand, for the current provider."""
        typed = str(self.input.value).strip()
        provider_id = self.app.state.settings.active_provider
        if typed and provider_id and typed != self.current():
            self.app.select(provider_id, typed)
        self.close()

    def pick(self, option: Any) -> None:
        self.app.select(str(option.dataset.provider), str(option.dataset.model))
        self.close()
