"""An incremental Server-Sent-Events parser that accepts bytes split anywhere.

Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; a blank
line dispatches the event; `data` lines are joined by newlines; comments (lines
starting with ':') are ignored. One leniency: at end of stream a pending event
with data is still dispatched, since some servers omit the final blank line.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

_EOL = re.compile(r"[\r\n]")


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SseParser:
    """Feed it bytes as they arrive; it returns the events completed so far."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Parse `chunk`; return the events it completed."""
        return self._take(self._decoder.decode(chunk))

    def close(self) -> list[SseEvent]:
        """End of stream: finish the last line and any event that has data."""
        events = self._take(self._decoder.decode(b"", final=True))
        if self._buffer:
            line, self._buffer = self._buffer, ""
            self._line(line.rstrip("\r"), events)
        self._dispatch(events)
        return events

    def _take(self, text: str) -> list[SseEvent]:
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        buffer = self._buffer + text
        events: list[SseEvent] = []
        start = 0  # lines are read by position: one pass over a chunk, however large
        while True:
            cut = _line_end(buffer, start)
            if cut is None:
                self._buffer = buffer[start:]
                return events
            end, skip = cut
            self._line(buffer[start:end], events)
            start = end + skip

    def _line(self, line: str, events: list[SseEvent]) -> None:
        if line == "":
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, events: list[SseEvent]) -> None:
        if self._data:
            events.append(
                SseEvent("\n".join(self._data), self._event or "message", self._id, self._retry)
            )
        self._data = []
        self._event = ""
        self._retry = None


def _line_end(buffer: str, start: int = 0) -> tuple[int, int] | None:
    """Where the first complete line from `start` ends and how long its terminator is."""
    found = _EOL.search(buffer, start)
    if found is None:
        return None
    index = found.start()
    if buffer[index] == "\n":
        return index, 1
    if index + 1 == len(buffer):
        return None  # could be the first half of CRLF: wait for more
    return index, 2 if buffer[index + 1] == "\n" else 1


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SseEvent]:
    """Yield the events in a stream of byte chunks, as soon as each completes."""
    parser = SseParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    for event in parser.close():
        yield event
