"""Replies as Markdown: markdown-it-py's token stream turned into a plain tree of nodes.

The page builds DOM elements from these nodes and sets every text with
`textContent`, so a reply cannot inject markup: raw HTML in a reply stays text,
links keep only http(s) addresses, and images become their alt text (the page
loads nothing a reply names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

TEXT = "#text"
# Replies longer than this are shown as plain text: formatting them would hold the page.
FORMAT_LIMIT = 200_000

_BLOCK_TAGS = {
    "paragraph": "p",
    "bullet_list": "ul",
    "ordered_list": "ol",
    "list_item": "li",
    "blockquote": "blockquote",
    "table": "table",
    "thead": "thead",
    "tbody": "tbody",
    "tr": "tr",
    "th": "th",
    "td": "td",
    "em": "em",
    "strong": "strong",
    "s": "del",
    "link": "a",
}


@dataclass
class Node:
    """An element (`tag`, `attrs`, `children`) or, when `tag` is `#text`, a run of text."""

    tag: str
    text: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    def plain(self) -> str:
        """All the text inside, as a reader would copy it."""
        if self.tag == TEXT or self.tag == "pre":
            return self.text or "".join(c.plain() for c in self.children)
        return "".join(c.plain() for c in self.children)


_parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_parser.enable(["table", "strikethrough"])


def safe_href(url: str) -> str | None:
    """The link target if it is an absolute http(s) address, else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def render(text: str) -> list[Node]:
    """The reply as a list of block nodes."""
    root = Node("div")
    stack = [root]
    for token in _parser.parse(text):
        _block(token, stack)
    return root.children


def _block(token: Token, stack: list[Node]) -> None:
    top = stack[-1]
    kind = token.type
    if kind.endswith("_open"):
        name = kind.removesuffix("_open")
        node = Node(token.tag if name == "heading" else _BLOCK_TAGS.get(name, "div"))
        if name == "ordered_list" and token.attrGet("start") not in (None, 1, "1"):
            node.attrs["start"] = str(token.attrGet("start"))
        if name in ("th", "td"):
            style = str(token.attrGet("style") or "")
            if "text-align:" in style:
                node.attrs["data-align"] = style.split(":", 1)[1].strip()
        top.children.append(node)
        stack.append(node)
    elif kind.endswith("_close"):
        if len(stack) > 1:
            stack.pop()
    elif kind == "inline":
        top.children.extend(inline(token.children or []))
    elif kind in ("fence", "code_block"):
        language = token.info.strip().split(" ")[0] if kind == "fence" else ""
        attrs = {"data-language": language} if language else {}
        code = token.content.removesuffix("\n")
        top.children.append(Node("pre", attrs=attrs, children=[Node("code", text=code)]))
    elif kind == "hr":
        top.children.append(Node("hr"))
    elif kind == "html_block":
        top.children.append(Node("p", children=[Node(TEXT, token.content)]))


def inline(tokens: list[Token]) -> list[Node]:
    """Inline tokens (text, emphasis, code, links, breaks) as nodes."""
    root = Node("span")
    stack = [root]
    for token in tokens:
        top = stack[-1]
        kind = token.type
        if kind in ("text", "html_inline"):
            _text(top, token.content)
        elif kind == "code_inline":
            top.children.append(Node("code", text=token.content))
        elif kind == "softbreak":
            _text(top, "\n")
        elif kind == "hardbreak":
            top.children.append(Node("br"))
        elif kind == "image":
            _text(top, token.content or "image")
        elif kind == "link_open":
            href = safe_href(str(token.attrGet("href") or ""))
            node = Node("a", attrs={"href": href} if href else {})
            if not href:
                node.tag = "span"  # not a web address: its words stay, the link goes
            top.children.append(node)
            stack.append(node)
        elif kind.endswith("_open"):
            node = Node(_BLOCK_TAGS.get(kind.removesuffix("_open"), "span"))
            top.children.append(node)
            stack.append(node)
        elif kind.endswith("_close") and len(stack) > 1:
            stack.pop()
    return root.children


def _text(parent: Node, text: str) -> None:
    last = parent.children[-1] if parent.children else None
    if last is not None and last.tag == TEXT:
        last.text += text
    else:
        parent.children.append(Node(TEXT, text))


def code_blocks(nodes: list[Node]) -> list[tuple[str, str]]:
    """Each fenced block's language and code, in order (what the copy buttons copy)."""
    found: list[tuple[str, str]] = []
    for node in nodes:
        if node.tag == "pre":
            found.append((node.attrs.get("data-language", ""), node.children[0].text))
        else:
            found.extend(code_blocks(node.children))
    return found
