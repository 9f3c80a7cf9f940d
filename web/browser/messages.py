"""The open conversation: messages as articles, and the reply that is streaming.

A streaming reply's text is appended as new text nodes once per animation
frame, so the cost is linear in the reply; Markdown is rendered when it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js

from web.browser.dom import clone, el, make, part
from web.browser.richtext import fill
from web.browser.view import display_blocks, reply_footer, reply_header
from web.chat import Message
from web.markdown import FORMAT_LIMIT

FRAME_CHARS = 32_768  # characters of a streaming reply shown per animation frame


def message_node(message: Message, provider_name: str, actions: list[tuple[str, str]]) -> Any:
    """An article for one message, with its footer and action buttons."""
    node = clone("t-message")
    node.dataset.role = message.role
    node.setAttribute("aria-label", "You" if message.role == "user" else "Assistant")
    body = part(node, ".body")
    if message.role == "user":
        for extra in (".who", ".reasoning", ".error"):
            part(node, extra).remove()
        body.textContent = message.content
    else:
        part(node, ".who").textContent = reply_header(message, provider_name)
        if message.reasoning:
            thinking = part(node, ".reasoning")
            thinking.hidden = False
            thinking.textContent = message.reasoning
        fill(body, message.content)
        if message.meta.get("route"):
            node.dataset.route = str(message.meta["route"])
        node.dataset.done = "true"
    if message.role != "user":
        show_error(node, message.error)
    part(node, ".stats").textContent = reply_footer(message) if message.role != "user" else ""
    set_actions(node, actions)
    return node


def show_error(node: Any, error: str) -> None:
    box = part(node, ".error")
    box.hidden = not error
    part(box, ".error-text").textContent = error
    node.classList.toggle("error", bool(error))


def set_actions(node: Any, actions: list[tuple[str, str]]) -> None:
    """Buttons (action, label) in the message's footer."""
    holder = part(node, ".actions")
    holder.replaceChildren()
    for action, label in actions:
        button = make("button", label, type="button", class_="quiet small", data_action=action)
        holder.appendChild(button)


class ReplyWriter:
    """One reply arriving: text waits in a list and is appended once per frame."""

    def __init__(self, node: Any, schedule: Callable[[], None]) -> None:
        self.node = node
        self.schedule = schedule
        self.body = part(node, ".body")
        self.stream = make("div", class_="streaming")
        self.tail = make("div")  # the unfinished last block; finished ones go before it
        self.tail_text = ""
        self.stream.appendChild(self.tail)
        self.body.replaceChildren(self.stream)
        self.thinking = part(node, ".reasoning")
        self.text: list[str] = []  # waiting for the next frame
        self.received: list[str] = []  # everything, joined once at the end
        self.reasoning: list[str] = []
        self.chunks = 0
        node.setAttribute("aria-busy", "true")

    def add_text(self, text: str) -> None:
        self.text.append(text)
        self.received.append(text)
        self.chunks += 1
        self.schedule()

    def add_reasoning(self, text: str) -> None:
        self.reasoning.append(text)
        self.schedule()

    @property
    def behind(self) -> bool:
        """Whether text that arrived is still waiting to be shown."""
        return bool(self.text)

    def flush(self, limit: int | None = FRAME_CHARS) -> None:
        """Append what arrived since the last frame as new text nodes.

        At most `limit` characters a frame: the browser lays out new text before
        it paints, so a frame that took everything a fast stream had queued grew
        longer, and the next one had even more to take. The rest waits for the
        next frame.
        """
        if self.text:
            taken = "".join(self.text)
            if limit is not None and len(taken) > limit:
                self.text[:] = [taken[limit:]]
                taken = taken[:limit]
                self.schedule()
            else:
                self.text.clear()
            blocks, self.tail_text = display_blocks(self.tail_text + taken)
            for block in blocks:
                self.stream.insertBefore(make("div", block), self.tail)
            self.tail.textContent = self.tail_text
            self.node.dataset.chunks = str(self.chunks)
        if self.reasoning:
            self.thinking.hidden = False
            self.thinking.appendChild(js.document.createTextNode("".join(self.reasoning)))
            self.reasoning.clear()

    def finish(self, message: Message | None, footer: str, error: str, route: str) -> None:
        """The reply ended: render its Markdown, footer and error; mark it done."""
        self.flush(limit=None)
        if message is not None and len(message.content) <= FORMAT_LIMIT:
            fill(self.body, message.content)  # longer ones stay as the plain blocks streamed
        show_error(self.node, error)
        part(self.node, ".stats").textContent = footer
        if route:
            self.node.dataset.route = route
        self.node.setAttribute("aria-busy", "false")
        self.node.dataset.done = "true"


def empty_state(has_provider: bool) -> Any:
    """What an empty conversation shows."""
    box = make("div", class_="empty")
    box.appendChild(make("h1", "What shall we ask?"))
    hint = (
        "Pick a model above and write below. Replies show who answered, the road they took "
        "and how fast."
        if has_provider
        else "Add a provider from the side panel, or set a gateway in Settings, to start."
    )
    box.appendChild(make("p", hint))
    return box


def scroll_to_end(force: bool = False) -> None:
    """Keep the conversation at its end, unless the reader scrolled up."""
    box = el("scroller")
    near = box.scrollHeight - box.scrollTop - box.clientHeight < 120
    if force or near:
        box.scrollTop = box.scrollHeight
