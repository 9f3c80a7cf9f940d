from __future__ import annotations

from web.markdown import Block, BlockKind, split_blocks

TEXT, CODE = BlockKind.TEXT, BlockKind.CODE


def test_plain_text_is_one_prose_block() -> None:
    assert split_blocks("Hello\nthere") == [Block(TEXT, "Hello\nthere")]


def test_a_fenced_block_is_code_with_its_language() -> None:
    reply = "Try this:\n\n```python\nprint('hi')\n\nx = 1\n```\nDone."
    assert split_blocks(reply) == [
        Block(TEXT, "Try this:"),
        Block(CODE, "print('hi')\n\nx = 1", "python"),
        Block(TEXT, "Done."),
    ]


def test_a_longer_fence_is_closed_only_by_one_as_long() -> None:
    reply = "````md\n```\ninner\n```\n````\nafter"
    assert split_blocks(reply) == [Block(CODE, "```\ninner\n```", "md"), Block(TEXT, "after")]


def test_tilde_fences_and_indented_fences_count() -> None:
    assert split_blocks("  ~~~\ncode\n  ~~~") == [Block(CODE, "code")]


def test_an_unclosed_fence_runs_to_the_end_as_a_reply_still_streaming_does() -> None:
    assert split_blocks("See:\n```js\nlet a") == [Block(TEXT, "See:"), Block(CODE, "let a", "js")]


def test_an_empty_code_block_is_kept_and_empty_text_is_not() -> None:
    assert split_blocks("```\n```") == [Block(CODE, "")]
    assert split_blocks("") == []


def test_a_fence_line_with_text_after_it_does_not_close_the_block() -> None:
    assert split_blocks("```\na\n``` not a close\n```") == [Block(CODE, "a\n``` not a close")]
