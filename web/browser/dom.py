"""DOM helpers: find, make and clone elements; proxies that are counted and destroyed.

Text from providers and people is only ever set as `textContent`, never as HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import create_proxy

Handler = Callable[[Any], Any]


def el(element_id: str) -> Any:
    """The element with this id."""
    return js.document.getElementById(element_id)


def make(tag: str, text: str = "", **attributes: str) -> Any:
    """A new element with text content and attributes (`class_` → `class`)."""
    node = js.document.createElement(tag)
    if text:
        node.textContent = text
    for name, value in attributes.items():
        node.setAttribute(name.rstrip("_").replace("_", "-"), value)
    return node


def clone(template_id: str) -> Any:
    """The first element of a `<template>`'s content, copied."""
    return el(template_id).content.firstElementChild.cloneNode(True)


def part(node: Any, selector: str) -> Any:
    """The element inside `node` matching a CSS selector."""
    return node.querySelector(selector)


def action_of(event: Any) -> tuple[str, Any]:
    """The `data-action` of the clicked control and the control, or ("", None)."""
    target = event.target
    found = target.closest("[data-action]") if hasattr(target, "closest") else None
    if found is None:
        return "", None
    return str(found.dataset.action), found


class Proxies:
    """Every Python callable handed to JavaScript, so each can be destroyed when it goes."""

    def __init__(self) -> None:
        self._live: dict[int, Any] = {}

    def listen(self, node: Any, event: str, handler: Handler) -> int:
        """Call `handler` on `event`; returns a key for `drop`."""
        proxy = create_proxy(handler)
        node.addEventListener(event, proxy)
        key = id(proxy)
        self._live[key] = (node, event, proxy)
        return key

    def keep(self, handler: Handler) -> Any:
        """A proxy kept for the page's life (animation-frame and timer callbacks)."""
        proxy = create_proxy(handler)
        self._live[id(proxy)] = (None, "", proxy)
        return proxy

    def drop(self, key: int) -> None:
        """Remove the listener and destroy its proxy."""
        node, event, proxy = self._live.pop(key)
        if node is not None:
            node.removeEventListener(event, proxy)
        proxy.destroy()

    @property
    def count(self) -> int:
        return len(self._live)


def announce(text: str) -> None:
    """Say `text` through the page's one polite live region."""
    region = el("announcer")
    region.textContent = ""
    region.textContent = text
