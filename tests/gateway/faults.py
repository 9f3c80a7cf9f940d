"""A misbehaving upstream on 127.0.0.1: raw HTTP/1.1 over asyncio, one fault per path.

`faulty_upstream()` yields `(base URL, seen)`; `seen` lists `(method, path,
body length)` of every request head the server read, in order.

- `/close`       reads the request, closes without answering
- `/reset`       reads the request, resets the connection (RST)
- `/garbage`     answers bytes that are not HTTP
- `/short`       promises 100 body bytes, sends 10, closes
- `/stall-body`  promises 100 body bytes, sends 10, then waits
- `/stall-head`  reads the request, never answers
- `/no-read`     never reads the request body (the sender's writes stall)
- `/once`        answers the first request on a connection; closes on the next one
- `/idle-close`  answers keep-alive, then closes the connection 0.1 s later
- `/then-close`  answers keep-alive, then closes the connection at once
- anything else  200 `ok`, keep-alive
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
PROMISE = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n" + b"x" * 10


async def read_request(
    reader: asyncio.StreamReader, read_body: bool = True
) -> tuple[str, str, int] | None:
    """(method, path, body length) of the next request, or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if read_body and length and not path.startswith("/no-read"):
        await reader.readexactly(length)
    return method, path, length


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextmanager
def faulty_upstream() -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    """Run the misbehaving upstream in a thread; yield its base URL and what it saw."""
    seen: list[tuple[str, str, int]] = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    port: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        once = 0
        try:
            while request := await read_request(reader):
                seen.append(request)
                path = request[1].split("?")[0].removeprefix("/relay")
                if path == "/close" or (path == "/once" and once):
                    break
                if path == "/reset":
                    reset(writer)
                    return
                if path in ("/stall-head", "/no-read"):
                    await stop.wait()
                    break
                writer.write(
                    {"/garbage": b"NOT HTTP AT ALL\r\n\r\n", "/short": PROMISE}.get(
                        path, PROMISE if path == "/stall-body" else OK
                    )
                )
                await writer.drain()
                once += path == "/once"
                if path in ("/garbage", "/short"):
                    break
                if path == "/stall-body":
                    await stop.wait()
                    break
                if path == "/idle-close":
                    await asyncio.sleep(0.1)
                    break
                if path == "/then-close":
                    break
        except ConnectionError:
            pass
        finally:
            with suppress(Exception):
                writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        async with server:
            await stop.wait()
            await asyncio.sleep(0.05)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port[0]}", seen
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
