"""A `Transport` over the browser's `fetch`, telling a CORS block from a dead host.

`fetch` reports both as the same "Failed to fetch". A follow-up `no-cors`
probe tells them apart: it resolves (opaquely) when the host answered, and
rejects when nothing did (`docs/field-notes.md`, "HTTP from the page").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import js
from pyodide.http import pyfetch

from web.errors import CorsBlocked, TimedOut, Unreachable
from web.transport import Request, Response

DEFAULT_TIMEOUT = 30.0  # seconds until the response headers arrive
PROBE_TIMEOUT = 5.0


class FetchResponse:
    """A fetch `Response` whose body is read chunk by chunk as it arrives."""

    def __init__(self, response: object, controller: object) -> None:
        self._response = response
        self._controller = controller
        self.status: int = int(response.status)  # type: ignore[attr-defined]
        headers = response.headers  # type: ignore[attr-defined]
        self.headers: Mapping[str, str] = {str(k).lower(): str(v) for k, v in headers.items()}
        self._reader: object | None = None

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        body = self._response.js_response.body  # type: ignore[attr-defined]
        if body is None:
            return
        self._reader = reader = body.getReader()
        while True:
            try:
                chunk = await reader.read()
            except Exception as error:  # the stream broke mid-way
                raise Unreachable(
                    f"the connection broke while reading the reply ({error})"
                ) from None
            if chunk.done:
                return
            yield bytes(chunk.value.to_py())

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):  # closing twice is harmless
            self._controller.abort()  # type: ignore[attr-defined]


class FetchTransport:
    """Sends requests with `pyfetch`; raises CorsBlocked, Unreachable or TimedOut."""

    def __init__(self) -> None:
        self.started = 0  # requests handed to the browser so far

    async def send(self, request: Request) -> Response:
        controller = js.AbortController.new()
        options: dict[str, object] = {
            "method": request.method,
            "headers": dict(request.headers),
            "signal": controller.signal,
            "mode": "cors",
            "credentials": "omit",
            "redirect": "follow",
            # A check or a model list is never answered from a cache. A chat (a POST,
            # which no cache keeps) leaves the cache mode alone: with "no-store" the
            # browser also skipped its CORS preflight cache, a round trip per chat.
            "cache": "no-store" if request.method == "GET" else "default",
        }
        if request.body is not None:
            options["body"] = request.body.decode("utf-8")
        timeout = request.timeout or DEFAULT_TIMEOUT
        self.started += 1
        try:
            response = await asyncio.wait_for(pyfetch(request.url, **options), timeout)
        except TimeoutError:
            controller.abort()
            raise TimedOut(f"{_host(request.url)} did not answer within {timeout:.0f} s") from None
        except asyncio.CancelledError:
            controller.abort()  # Stop, or the caller gave up: the connection is let go
            raise
        except Exception:
            raise await classify_failure(request.url) from None
        return FetchResponse(response, controller)


async def classify_failure(url: str) -> Exception:
    """Tell a CORS block from a host that did not answer, with a `no-cors` probe.

    The probe is aborted however it ends, so it never holds a connection.
    """
    host = _host(url)
    controller = js.AbortController.new()
    try:
        await asyncio.wait_for(
            pyfetch(
                url,
                method="GET",
                mode="no-cors",
                credentials="omit",
                cache="no-store",
                signal=controller.signal,
            ),
            PROBE_TIMEOUT,
        )
    except TimeoutError:
        return TimedOut(f"{host} accepted the connection but did not answer")
    except asyncio.CancelledError:
        raise
    except Exception:
        return Unreachable(f"{host} could not be reached")
    finally:
        controller.abort()
    return CorsBlocked(f"{host} answered, but without CORS headers for this page")


def _host(url: str) -> str:
    try:
        return str(js.URL.new(url).host)
    except Exception:
        return url
