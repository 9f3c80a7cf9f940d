"""A tiny HTTP/1.1 keep-alive client for the benchmark's load generator.

httpx's connection pool costs more CPU than the servers being measured once
tens of requests are in flight; this client keeps one connection per worker
and per arm and does nothing else, so the load generator stays out of the way.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Answer:
    """One response: status, lower-cased headers, body, and when body bytes arrived."""

    status: int
    headers: dict[str, str]
    body: bytes
    chunk_times: list[float] = field(default_factory=list)


class Connection:
    """One persistent connection to `http://host:port`."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is not None and self.reader.at_eof():  # the server closed it while idle
            await self.close()
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 20
            )
        return self.reader, self.writer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Send one request and read the whole answer (chunked or sized).

        A kept connection the server closed at the moment of reuse (its keep-alive
        timeout) is replaced and the request sent once more: no answer byte came back.
        """
        reused = self.reader is not None
        try:
            return await self._request(method, path, headers, body)
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            partial = exc.partial if isinstance(exc, asyncio.IncompleteReadError) else b""
            await self.close()
            if not reused or partial:
                raise
            return await self._request(method, path, headers, body)

    async def _request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        reader, writer = await self._open()
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}",
                 f"content-length: {len(body)}"]  # fmt: skip
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        parsed: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                parsed[name.strip().lower()] = value.strip()
        answer = Answer(status, parsed, b"")
        if parsed.get("transfer-encoding", "").lower() == "chunked":
            pieces = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                pieces.append(await reader.readexactly(size))
                answer.chunk_times.append(time.perf_counter())
                await reader.readexactly(2)
            answer.body = b"".join(pieces)
        elif "content-length" in parsed:
            answer.body = await reader.readexactly(int(parsed["content-length"]))
            answer.chunk_times.append(time.perf_counter())
        else:
            answer.body = await reader.read()
            await self.close()
        if parsed.get("connection", "").lower() == "close":
            await self.close()
        return answer
