"""Just enough Markdown for replies: fenced code blocks apart from the prose around them.

The page renders each block as text (never as HTML), so a reply cannot inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BlockKind(StrEnum):
    """Prose, or a fenced code block."""

    TEXT = "text"
    CODE = "code"


@dataclass(frozen=True)
class Block:
    """One run of a reply; `language` is the fence's info word, if any."""

    kind: BlockKind
    text: str
    language: str = ""


def split_blocks(text: str) -> list[Block]:
    """Split a reply into prose and fenced code (``` or ~~~); an open fence runs to the end."""
    blocks: list[Block] = []
    prose: list[str] = []
    code: list[str] = []
    fence = ""
    language = ""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if not fence and stripped.startswith(("```", "~~~")):
            mark = stripped[0]
            fence = stripped[: len(stripped) - len(stripped.lstrip(mark))]  # ``` or longer
            language = stripped[len(fence) :].strip().split(" ")[0]
            _flush(blocks, BlockKind.TEXT, prose)
            continue
        if fence and stripped.startswith(fence) and not stripped[len(fence) :].strip():
            _flush(blocks, BlockKind.CODE, code, language, keep_empty=True)
            fence = language = ""
            continue
        (code if fence else prose).append(line)
    if fence:
        _flush(blocks, BlockKind.CODE, code, language, keep_empty=True)
    _flush(blocks, BlockKind.TEXT, prose)
    return blocks


def _flush(
    blocks: list[Block],
    kind: BlockKind,
    lines: list[str],
    language: str = "",
    *,
    keep_empty: bool = False,
) -> None:
    text = "\n".join(lines)
    if kind is BlockKind.TEXT:
        text = text.strip("\n")
    if text or keep_empty:
        blocks.append(Block(kind, text, language))
    lines.clear()
