"""The relay's upstream client two ways: the h11 transport vs httpcore with a pinned backend.

Both run in this process against the same stand-in, in alternating blocks, at
concurrency 1 and 16; figures are latency p50/p99 and this process's CPU per
request (the loop driving the requests is the same for both, so the difference
is the transport's). The httpcore arm is what the gateway would use instead:
`httpcore.AsyncConnectionPool` with a network backend that connects to the
addresses the policy checked, keeping the name for Host and TLS SNI.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpcore
import httpx

from gateway.pinning import pinned, pinned_upstream
from gateway.policy import CheckedUpstream
from gateway.upstream import UpstreamTransport


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, connecting only to the current request's checked addresses."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        upstream = pinned_upstream()
        if upstream is None or upstream.host != host.rstrip(".").lower():
            raise httpcore.ConnectError(f"refused: {host} was not checked by the relay policy")
        last: Exception | None = None
        for address in upstream.addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout)
            except httpcore.ConnectError as exc:
                last = exc
        raise httpcore.ConnectError(f"cannot connect to {host}:{port}: {last}")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def httpcore_transport() -> httpx.AsyncHTTPTransport:
    """httpx's transport over an httpcore pool with the pinned backend."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # the seam httpx has no argument for
        max_connections=1000, keepalive_expiry=30.0, network_backend=PinnedBackend()
    )
    return transport


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 3)


async def block(
    transport: httpx.AsyncBaseTransport, checked: CheckedUpstream, body: bytes, c: int, n: int
) -> tuple[list[float], float]:
    """`n` requests at concurrency `c`; (latencies in ms, CPU seconds)."""
    latencies: list[float] = []
    extensions = {"timeout": httpx.Timeout(10.0).as_dict()}

    async def worker(count: int) -> None:
        for _ in range(count):
            started = time.perf_counter()
            request = httpx.Request(
                "POST", checked.url, content=body, extensions=extensions,
                headers={"content-type": "application/json", "host": f"127.0.0.1:{checked.port}"},
            )  # fmt: skip
            with pinned(checked):
                response = await transport.handle_async_request(request)
            async for _ in response.aiter_raw():
                pass
            await response.aclose()
            latencies.append((time.perf_counter() - started) * 1000)

    cpu = time.process_time()
    await asyncio.gather(*(worker(n // c) for _ in range(c)))
    return latencies, time.process_time() - cpu


async def compare(standin: str, body: bytes, quick: bool) -> dict[str, dict[str, float]]:
    """Figures per transport and concurrency, e.g. result["h11 c=16"]["p99"]."""
    url = httpx.URL(standin + "/v1/chat/completions")
    checked = CheckedUpstream(str(url), "http", url.host, url.port or 80, ("127.0.0.1",))
    transports: dict[str, httpx.AsyncBaseTransport] = {
        "h11": UpstreamTransport(),
        "httpcore": httpcore_transport(),
    }
    results: dict[str, dict[str, float]] = {}
    for c in (1, 16):
        n = (400 if quick else 2000) // c * c
        collected: dict[str, tuple[list[float], float]] = {k: ([], 0.0) for k in transports}
        for transport in transports.values():  # warm-up: connections and code paths
            await block(transport, checked, body, c, 4 * c)
        for _ in range(4):  # alternating blocks, so drift on the machine hits both
            for name, transport in transports.items():
                latencies, cpu = await block(transport, checked, body, c, n // 4)
                collected[name] = (collected[name][0] + latencies, collected[name][1] + cpu)
        for name, (latencies, cpu) in collected.items():
            results[f"{name} c={c}"] = {
                "p50": pct(latencies, 50),
                "p99": pct(latencies, 99),
                "cpu_ms": round(cpu * 1000 / len(latencies), 3),
                "n": len(latencies),
            }
    for transport in transports.values():
        await transport.aclose()
    return results
