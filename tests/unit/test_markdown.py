"""Replies as Markdown: the node tree the page builds its DOM from."""

from __future__ import annotations

from web.markdown import TEXT, Node, code_blocks, render, safe_href


def tags(nodes: list[Node]) -> list[str]:
    return [n.tag for n in nodes]


def test_plain_text_is_one_paragraph() -> None:
    nodes = render("Hello there")
    assert tags(nodes) == ["p"]
    assert nodes[0].plain() == "Hello there"


def test_headings_lists_and_emphasis_become_their_elements() -> None:
    nodes = render("# Title\n\n- one *two* **three** ~~four~~\n- five\n\n3. six\n")
    assert tags(nodes) == ["h1", "ul", "ol"]
    first = nodes[1].children[0].children[0]  # ul > li > p
    assert [c.tag for c in first.children] == [TEXT, "em", TEXT, "strong", TEXT, "del"]
    assert nodes[2].attrs == {"start": "3"}


def test_a_fenced_block_keeps_its_language_and_code() -> None:
    nodes = render("Try:\n\n```python\nprint('hi')\n\nx = 1\n```\nDone.")
    assert tags(nodes) == ["p", "pre", "p"]
    assert nodes[1].attrs == {"data-language": "python"}
    assert code_blocks(nodes) == [("python", "print('hi')\n\nx = 1")]


def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert code_blocks(render("```js\nlet a")) == [("js", "let a")]


def test_inline_code_is_code() -> None:
    assert render("use `ls -la` now")[0].children[1] == Node("code", text="ls -la")


def test_a_table_keeps_rows_cells_and_alignment() -> None:
    nodes = render("| a | b |\n|:--|--:|\n| 1 | 2 |\n")
    table = nodes[0]
    assert table.tag == "table" and tags(table.children) == ["thead", "tbody"]
    cell = table.children[1].children[0].children[1]
    assert cell.tag == "td" and cell.plain() == "2" and cell.attrs == {"data-align": "right"}


def test_http_links_are_links_and_others_lose_only_the_link() -> None:
    nodes = render("[ok](https://example.test/a) [bad](javascript:alert(1)) [m](mailto:x@y.test)")
    kids = nodes[0].children
    assert kids[0] == Node(
        "a", attrs={"href": "https://example.test/a"}, children=[Node(TEXT, "ok")]
    )
    assert [k.tag for k in kids[1:]] == [TEXT, "span"]
    assert "[bad](javascript:alert(1))" in kids[1].text
    assert kids[2].attrs == {} and kids[2].plain() == "m"


def test_raw_html_stays_text() -> None:
    nodes = render("<script>alert(1)</script>\n\nhi <b>there</b>")
    assert nodes[0].plain() == "<script>alert(1)</script>"
    assert "<b>" in nodes[1].plain()
    assert all(n.tag != "script" for n in nodes)


def test_images_become_their_alt_text() -> None:
    nodes = render("![a cat](http://example.test/cat.png)")
    assert nodes[0].children == [Node(TEXT, "a cat")]


def test_safe_href_takes_http_and_https_only() -> None:
    assert safe_href(" http://a.test ") == "http://a.test"
    assert safe_href("mailto:x@y") is None
    assert safe_href("//a.test/x") is None
    assert safe_href("http://[::1") is None
