"""A reply's Markdown as DOM: elements built from `web.markdown`'s nodes, text as textContent."""

from __future__ import annotations

from typing import Any

import js

from web.browser.dom import clone, make, part
from web.browser.view import display_blocks
from web.markdown import FORMAT_LIMIT, TEXT, Node, render

ALLOWED = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "table", "thead",
    "tbody", "tr", "th", "td", "em", "strong", "del", "a", "code", "hr", "br", "span",
}  # fmt: skip


def fill(target: Any, text: str) -> None:
    """Replace `target`'s children with `text` rendered as Markdown (plain text when huge)."""
    target.replaceChildren()
    if len(text) > FORMAT_LIMIT:  # plain text, in blocks the browser lays out one by one
        box = make("div", class_="streaming")
        blocks, rest = display_blocks(text)
        for block in [*blocks, rest]:
            box.appendChild(make("div", block))
        target.appendChild(box)
        return
    fragment = js.document.createDocumentFragment()
    for node in render(text):
        fragment.appendChild(build(node))
    target.appendChild(fragment)


def build(node: Node) -> Any:
    """One node and its children as a DOM node."""
    if node.tag == TEXT:
        return js.document.createTextNode(node.text)
    if node.tag == "pre":
        block = clone("t-code")
        language = node.attrs.get("data-language", "")
        part(block, ".lang").textContent = language or "code"
        part(block, "code").textContent = node.children[0].text if node.children else ""
        if language:
            part(block, "code").dataset.language = language
        return block
    tag = node.tag if node.tag in ALLOWED else "span"
    element = js.document.createElement(tag)
    if tag == "a" and "href" in node.attrs:
        element.setAttribute("href", node.attrs["href"])
        element.setAttribute("target", "_blank")
        element.setAttribute("rel", "noopener noreferrer")
    for name in ("start", "data-align"):
        if name in node.attrs:
            element.setAttribute(name, node.attrs[name])
    if node.text:
        element.textContent = node.text
    for child in node.children:
        element.appendChild(build(child))
    return element
