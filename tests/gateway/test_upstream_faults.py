"""The relay under upstream faults: JSON 502/504 with `x-detour-error`, never a traceback.

A misbehaving upstream (tests/gateway/faults.py) on 127.0.0.1 closes, resets,
stalls, short-changes and speaks garbage; each fault has one test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import running_gateway
from tests.gateway.faults import faulty_upstream


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    with faulty_upstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway_1s() -> Iterator[str]:
    """A gateway with a 1 s read/write timeout; private upstreams allowed."""
    with running_gateway(allow_private_upstreams=True, read_timeout=1.0) as url:
        yield url


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever the fault, nothing logs a traceback or an unhandled-exception error."""
    caplog.set_level(logging.INFO)
    yield
    for record in caplog.get_records("call"):
        assert record.exc_info is None, f"traceback logged: {record.getMessage()}"
        assert "Exception in ASGI application" not in record.getMessage()


def relay(
    gateway: str, base: str, path: str, method: str = "POST", **kwargs: object
) -> httpx.Response:
    return httpx.request(
        method,
        f"{gateway}/relay{path}",
        headers={"x-detour-upstream": base},
        timeout=10,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_gateway_error(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["x-detour-error"] == kind
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["message"]


def test_upstream_closing_without_answer_is_json_502(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    assert_gateway_error(relay(gateway_1s, faulty[0], "/close", json={}), 502, "unreachable")


def test_upstream_reset_is_json_502(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    assert_gateway_error(relay(gateway_1s, faulty[0], "/reset", json={}), 502, "unreachable")


def test_upstream_answering_garbage_is_json_502(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    assert_gateway_error(relay(gateway_1s, faulty[0], "/garbage", json={}), 502, "unreachable")


def test_upstream_stalling_before_its_head_is_json_504(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    assert_gateway_error(relay(gateway_1s, faulty[0], "/stall-head", json={}), 504, "timeout")


def test_upstream_not_reading_the_request_is_json_504_after_the_write_timeout(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    body = b"x" * (12 * 1024 * 1024)  # more than loopback's socket buffers hold
    response = relay(gateway_1s, faulty[0], "/no-read", content=body)
    assert_gateway_error(response, 504, "timeout")


def test_short_body_ends_the_relayed_answer_detectably(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        relay(gateway_1s, faulty[0], "/short", method="GET")


def test_upstream_stalling_mid_body_ends_the_relayed_answer_detectably(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        relay(gateway_1s, faulty[0], "/stall-body", method="GET")


def test_post_is_never_sent_twice_when_a_reused_connection_closes(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    base, seen = faulty
    with httpx.Client() as client:  # one client connection, so one upstream connection
        first = client.post(
            f"{gateway_1s}/relay/once", json={"n": 1}, headers={"x-detour-upstream": base}
        )
        assert first.status_code == 200
        second = client.post(
            f"{gateway_1s}/relay/once", json={"n": 2}, headers={"x-detour-upstream": base}
        )
    assert_gateway_error(second, 502, "unreachable")
    assert [s for s in seen if s[1] == "/once"] == [("POST", "/once", 7)] * 2


def test_upstream_closing_idle_connections_costs_no_request(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    for _ in range(3):
        assert relay(gateway_1s, faulty[0], "/idle-close", method="GET").status_code == 200
        time.sleep(0.3)  # the upstream has closed the idle connection by now


def test_upstream_closing_right_after_answering_costs_no_request(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    with httpx.Client() as client:
        for n in range(5):
            response = client.post(
                f"{gateway_1s}/relay/then-close",
                json={"n": n},
                headers={"x-detour-upstream": faulty[0]},
            )
            assert response.status_code == 200, response.text


def test_probe_of_an_upstream_that_closes_reports_it_unreachable(
    gateway_1s: str, faulty: tuple[str, list[tuple[str, str, int]]]
) -> None:
    response = httpx.post(f"{gateway_1s}/probe", json={"url": f"{faulty[0]}/close"}, timeout=10)
    assert response.status_code == 200
    assert response.json()["reachable"] is False
