"""Three gateway replicas behind Debian's nginx with deploy/nginx/gateway.conf (`cluster`).

Chat load goes through nginx on both paths (relay and LiteLLM), plain and
streamed; one replica is killed mid-load (the last test here: the cluster runs on
with two).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.deploy.cluster import PAGE_ORIGIN, REPLY, STANDIN_KEY, Cluster
from tests.deploy.servers import TOKEN, Replica

LOAD_REQUESTS = 400
CONCURRENCY = 20
KILL_AFTER = 120  # completed requests before one replica is killed
REQUEST_LIMIT = 20.0  # seconds; a request still running then has hung
LOAD_LIMIT = 120.0

pytestmark = pytest.mark.timeout(420)  # three replicas load LiteLLM first: slow on a busy machine


@dataclass(frozen=True)
class Kind:
    """One sort of chat request: relay or LiteLLM path, plain or streamed."""

    path: str
    stream: bool

    @property
    def name(self) -> str:
        return f"{self.path} {'streamed' if self.stream else 'plain'}"


KINDS = [Kind("relay", False), Kind("relay", True), Kind("litellm", False), Kind("litellm", True)]


def chat_request(cluster: Cluster, kind: Kind, test_id: str) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of a chat as the page sends it on that path."""
    headers = {"Content-Type": "application/json", "Origin": PAGE_ORIGIN,
               "X-Detour-Token": TOKEN, "X-Test-Id": test_id}  # fmt: skip
    body: dict[str, Any] = {"messages": [{"role": "user", "content": test_id}],
                            "stream": kind.stream}  # fmt: skip
    if kind.path == "relay":
        headers["X-Detour-Upstream"] = f"{cluster.provider}/v1"
        headers["Authorization"] = f"Bearer {STANDIN_KEY}"
        body["model"] = "standin-model"
        url = f"{cluster.url}/relay/chat/completions"
    else:
        body["model"] = "team-chat"
        url = f"{cluster.url}/v1/chat/completions"
    return url, headers, json.dumps(body).encode()


def reply_text(raw: bytes, stream: bool) -> str | None:
    """The assistant's text if `raw` is a complete answer, else None."""
    if not stream:
        return str(json.loads(raw)["choices"][0]["message"]["content"])
    events = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    if not events or events[-1] != "[DONE]":
        return None
    pieces = [json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1]]
    return "".join(pieces)


@dataclass
class Outcome:
    """What one request of the load got."""

    test_id: str
    kind: Kind
    started: float
    ended: float = 0.0
    result: str = "unclean"  # ok | refused before the answer | cut mid-answer | hung | unclean
    detail: str = ""


async def send(client: httpx.AsyncClient, cluster: Cluster, kind: Kind, outcome: Outcome) -> None:
    """Send one chat and classify what came back."""
    url, headers, body = chat_request(cluster, kind, outcome.test_id)
    status, raw, answered = 0, b"", False
    try:
        async with asyncio.timeout(REQUEST_LIMIT):
            async with client.stream("POST", url, headers=headers, content=body) as response:
                status, answered = response.status_code, True
                async for piece in response.aiter_raw():
                    raw += piece
    except TimeoutError:
        outcome.result = "hung"
    except httpx.RemoteProtocolError as error:  # the connection closed before the body was whole
        outcome.result = "cut mid-answer" if answered and status == 200 else "unclean"
        outcome.detail = str(error)
    else:
        outcome.result, outcome.detail = classify(status, dict(response.headers), raw, kind)
    outcome.ended = time.monotonic()


def classify(status: int, headers: dict[str, str], raw: bytes, kind: Kind) -> tuple[str, str]:
    """ok, nginx's clean 502 (JSON, readable by the page), or unclean."""
    if status == 200 and reply_text(raw, kind.stream) == REPLY:
        return "ok", ""
    if status == 502 and headers.get("access-control-allow-origin") == PAGE_ORIGIN:
        error = json.loads(raw)["error"]
        if error["code"] == "replica_failed" and "not sent again" in error["message"]:
            return "refused before the answer", ""
    shown = {k: v for k, v in headers.items() if k in ("content-type", "x-detour-route", "server")}
    return "unclean", f"{kind.name}: {status} {shown} {raw[:200]!r}"


def test_the_replicas_share_the_load(cluster: Cluster) -> None:
    with httpx.Client(timeout=15) as client:
        for number in range(12):
            url, headers, body = chat_request(cluster, KINDS[number % 4], f"spread-{number}")
            response = client.post(url, headers=headers, content=body)
            assert response.status_code == 200, response.text
            assert response.headers["access-control-allow-origin"] == PAGE_ORIGIN
    used = Counter(
        entry.upstreams[-1]
        for entry in cluster.nginx.access_log()
        if entry.test_id.startswith("spread-")
    )
    assert set(used) == {r.address for r in cluster.replicas}


@pytest.mark.parametrize("kind", [k for k in KINDS if k.stream], ids=lambda k: k.path)
def test_a_streamed_reply_arrives_in_pieces_through_nginx(cluster: Cluster, kind: Kind) -> None:
    # The stand-in sends 8 pieces 0.1 s apart: held back, they would arrive at once.
    url, headers, body = chat_request(cluster, kind, f"pieces-{kind.path}")
    arrivals: list[float] = []
    raw = b""
    with (
        httpx.Client(timeout=15) as client,
        client.stream("POST", url, headers=headers, content=body) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for piece in response.iter_raw():
            arrivals.append(time.monotonic())
            raw += piece
    assert reply_text(raw, stream=True) == REPLY
    assert len(arrivals) >= 4
    assert arrivals[-1] - arrivals[0] >= 0.4


def test_nginx_takes_requests_as_large_as_the_gateway_does(cluster: Cluster) -> None:
    # nginx's own default (1 MiB) would refuse a long conversation before the gateway saw it.
    url, headers, _ = chat_request(cluster, Kind("litellm", False), "large")
    messages = [{"role": "user", "content": "x" * 1000} for _ in range(2500)]  # about 2.6 MB
    body = json.dumps({"model": "team-chat", "messages": messages}).encode()
    with httpx.Client(timeout=30) as client:
        response = client.post(url, headers=headers, content=body)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["choices"][0]["message"]["content"] == REPLY


async def run_load(cluster: Cluster, victim: Replica) -> tuple[list[Outcome], float, float]:
    """LOAD_REQUESTS chats at CONCURRENCY; `victim` is killed after KILL_AFTER have finished."""
    queue: asyncio.Queue[Outcome] = asyncio.Queue()
    outcomes = []
    for number in range(LOAD_REQUESTS):
        kind = KINDS[number % len(KINDS)]
        outcome = Outcome(f"load-{number}", kind, 0.0)
        outcomes.append(outcome)
        queue.put_nowait(outcome)
    finished = asyncio.Event()
    kill: dict[str, float] = {}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            outcome = queue.get_nowait()
            outcome.started = time.monotonic()
            await send(client, cluster, outcome.kind, outcome)
            if sum(1 for o in outcomes if o.ended) >= KILL_AFTER:
                finished.set()

    async def killer() -> None:
        await finished.wait()
        kill["started"] = time.monotonic()
        victim.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.process.wait)
        kill["done"] = time.monotonic()

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=REQUEST_LIMIT, limits=limits) as client:
        async with asyncio.timeout(LOAD_LIMIT):
            await asyncio.gather(killer(), *(worker(client) for _ in range(CONCURRENCY)))
    return outcomes, kill["started"], kill["done"]


def test_killing_a_replica_mid_load_fails_only_its_requests_in_flight(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = cluster.replicas[1]
    began = time.monotonic()
    outcomes, kill_started, kill_done = asyncio.run(run_load(cluster, victim))
    elapsed = time.monotonic() - began
    log = {entry.test_id: entry for entry in cluster.nginx.access_log()}

    results = Counter(o.result for o in outcomes)
    failed = [o for o in outcomes if o.result != "ok"]
    in_flight_on_victim = [
        o for o in outcomes
        if o.started < kill_done and o.ended > kill_started
        and victim.address in log[o.test_id].upstreams
    ]  # fmt: skip
    later = [o for o in outcomes if o.started > kill_done]
    skipped_dead = [o for o in outcomes if len(log[o.test_id].upstreams) > 1 and o.result == "ok"]
    with capsys.disabled():
        print(
            f"\nreplica test: {LOAD_REQUESTS} chats through nginx to 3 replicas at concurrency "
            f"{CONCURRENCY} in {elapsed:.1f} s; replica {victim.address} killed after "
            f"{KILL_AFTER} had finished\n"
            f"  outcomes: {dict(results)}\n"
            f"  in flight on the killed replica: {len(in_flight_on_victim)}, of which failed: "
            f"{len(failed)} ({', '.join(sorted({o.kind.name for o in failed}))})\n"
            f"  started after the kill: {len(later)}, all succeeded: "
            f"{all(o.result == 'ok' for o in later)}; sent to the dead replica first and "
            f"passed to another (connection refused): {len(skipped_dead)}\n"
            f"  slowest request: {max(o.ended - o.started for o in outcomes):.2f} s"
        )

    unclean = [(o.test_id, o.result, o.detail, log[o.test_id]) for o in failed
               if o.result in ("hung", "unclean")]  # fmt: skip
    replica_logs = {r.address: r.log.read_text(errors="replace")[-3000:] for r in cluster.replicas}
    assert unclean == [], (unclean, replica_logs)
    assert failed, "the kill came while nothing was in flight on the victim"
    for outcome in failed:
        # Only what was running on the victim when it died, and never sent to a second replica.
        assert outcome in in_flight_on_victim, (outcome, log[outcome.test_id], kill_started)
        assert log[outcome.test_id].upstreams == (victim.address,), log[outcome.test_id]
    assert later, "no request started after the kill"
    assert all(o.result == "ok" for o in later), [o.test_id for o in later if o.result != "ok"]
    assert all(victim.address not in log[o.test_id].upstreams[-1:] for o in later)

    # No chat reached the provider twice, whichever replica carried it.
    seen = Counter(
        json.loads(record["body"])["messages"][0]["content"]
        for record in cluster.provider_seen
        if record["path"] == "/v1/chat/completions"
    )
    seen = Counter({test_id: n for test_id, n in seen.items() if test_id.startswith("load-")})
    assert max(seen.values()) == 1
    assert {o.test_id for o in outcomes if o.result == "ok"} <= set(seen)
