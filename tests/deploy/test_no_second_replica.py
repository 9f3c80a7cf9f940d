"""deploy/nginx/gateway.conf never sends a request that reached one replica to another.

A "replica" that reads each request whole and closes the connection without
answering sits in the upstream beside a real one: a POST it took fails with
nginx's clean 502 and never reaches the real replica; a GET it took is passed on
(nginx's semantics, made explicit in the config), which shows the setting at work.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from tests.deploy.cluster import PAGE_ORIGIN, Cluster
from tests.deploy.nginx import gateway_site, running_nginx
from tests.deploy.servers import TOKEN, free_port

ATTEMPTS = 6  # round robin over two replicas: the dropping one gets one of the first two

pytestmark = pytest.mark.timeout(420)  # the first test here may start the cluster


@dataclass
class Dropper:
    """A listening socket that reads requests and hangs up; `received` holds their test ids."""

    port: int
    received: list[str]


def read_request(conn: socket.socket) -> bytes:
    """One HTTP/1.1 request head and its Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


@contextmanager
def dropping_replica() -> Iterator[Dropper]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    dropper = Dropper(int(listener.getsockname()[1]), [])
    stopping = threading.Event()

    def run() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                for line in read_request(conn).split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"x-test-id":
                        dropper.received.append(value.strip().decode())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield dropper
    finally:
        stopping.set()
        thread.join(5)
        listener.close()


def relay(
    client: httpx.Client, front: str, cluster: Cluster, method: str, test_id: str
) -> httpx.Response:
    headers = {"X-Detour-Token": TOKEN, "X-Detour-Upstream": cluster.provider,
               "X-Test-Id": test_id, "Origin": PAGE_ORIGIN}  # fmt: skip
    body = b'{"say": "once"}' if method == "POST" else None
    return client.request(method, f"{front}/relay/echo/{test_id}", headers=headers, content=body)


def provider_ids(cluster: Cluster) -> list[str]:
    return [r["headers"].get("x-test-id", "") for r in cluster.provider_seen]


def send_until_dropped(cluster: Cluster, method: str) -> tuple[str, httpx.Response, list[str]]:
    """Through a fresh nginx over [dropper, replica]: (dropped id, its answer, nginx's tries)."""
    with dropping_replica() as dropper:
        port = free_port()
        site = gateway_site(port, [dropper.port, cluster.replicas[0].port])
        with running_nginx([site], [port]) as nginx, httpx.Client(timeout=15) as client:
            answers = {}
            for number in range(ATTEMPTS):
                test_id = f"{method.lower()}-{number}"
                answers[test_id] = relay(
                    client, f"http://127.0.0.1:{port}", cluster, method, test_id
                )
                if dropper.received:
                    break
            assert len(dropper.received) == 1, dropper.received
            dropped = dropper.received[0]
            tried = next(e for e in nginx.access_log() if e.test_id == dropped).upstreams
            assert tried[0] == f"127.0.0.1:{dropper.port}"
            return dropped, answers[dropped], list(tried)


def test_a_post_that_reached_a_replica_fails_cleanly_and_is_not_sent_again(
    cluster: Cluster,
) -> None:
    dropped, answer, tried = send_until_dropped(cluster, "POST")
    assert len(tried) == 1  # nginx did not pass it to the healthy replica
    assert dropped not in provider_ids(cluster)
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["access-control-allow-origin"] == PAGE_ORIGIN  # the page can read it
    error = answer.json()["error"]
    assert error["code"] == "replica_failed"
    assert "not sent again" in error["message"]


def test_a_get_that_reached_a_replica_is_passed_to_the_next(cluster: Cluster) -> None:
    dropped, answer, tried = send_until_dropped(cluster, "GET")
    assert tried[1:] == [cluster.replicas[0].address]  # passed on: a GET asks for nothing twice
    assert answer.status_code == 200
    assert answer.json()["path"] == f"/echo/{dropped}"
    assert provider_ids(cluster).count(dropped) == 1


def test_with_no_replica_running_the_page_gets_a_clean_error(cluster: Cluster) -> None:
    port = free_port()
    site = gateway_site(port, [free_port(), free_port()])
    with running_nginx([site], [port]), httpx.Client(timeout=15) as client:
        answer = relay(client, f"http://127.0.0.1:{port}", cluster, "POST", "nobody-home")
    assert answer.status_code == 502
    assert answer.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert answer.json()["error"]["type"] == "gateway_unavailable"
    assert "nobody-home" not in provider_ids(cluster)
