from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable

import pytest

from tests.unit.conftest import GATEWAY_URL, GatewaySwitch, Net, make_provider, ok_json, status
from web.clock import FakeClock, settle
from web.errors import CorsBlocked, Unreachable
from web.events import Event, HealthChanged
from web.gateway import GatewayConfig
from web.health import GATEWAY_ID, HealthMonitor, HealthState
from web.providers import Provider, Routing
from web.routing import Router
from web.transport import MemoryResponse, MockTransport, Request, Response

ZAI = "https://api.z.ai/api/paas/v4/models"
GROQ = "https://api.groq.com/openai/v1/models"
MODELS = {"data": [{"id": "m"}]}


@pytest.fixture
def providers() -> list[Provider]:
    return [
        make_provider(routing=Routing.DIRECT),
        make_provider("groq", name="Groq", base_url="https://api.groq.com/openai/v1"),
    ]


@pytest.fixture
def monitor(router: Router, providers: list[Provider], events: list[Event]) -> HealthMonitor:
    return HealthMonitor(router, lambda: providers, random=lambda: 0.5, on_event=events.append)


def changes(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.provider_id, e.old, e.new) for e in events if isinstance(e, HealthChanged)]


def slow(clock: FakeClock, seconds: float, data: object) -> Callable[[Request], Response]:
    def answer(_: Request) -> Response:
        clock.advance(seconds)
        return MemoryResponse(json_body=data)

    return answer


async def test_first_success_is_healthy_with_latency(
    net: Net, monitor: HealthMonitor, clock: FakeClock, events: list[Event]
) -> None:
    net.on(ZAI, slow(clock, 0.12, MODELS))
    net.on(GROQ, ok_json(MODELS))
    zai = await monitor.check_now("zai")
    assert zai.latency_ms == pytest.approx(120, abs=0.01)
    assert zai.latencies == [pytest.approx(120, abs=0.01)]
    result = await monitor.check_all()
    assert set(result) == {"zai", "groq", GATEWAY_ID}
    assert all(h.state is HealthState.HEALTHY for h in result.values())
    assert sorted(changes(events)) == [
        ("gateway", "unknown", "healthy"),
        ("groq", "unknown", "healthy"),
        ("zai", "unknown", "healthy"),
    ]
    assert "answered in 120 ms" in str(next(e for e in events if "zai" in str(e)))


async def test_latency_window_rolls(net: Net, monitor: HealthMonitor, clock: FakeClock) -> None:
    net.on(ZAI, slow(clock, 0.01, MODELS))
    for _ in range(7):
        await monitor.check_now("zai")
    health = monitor.health("zai")
    assert len(health.latencies) == 5
    assert health.average_ms == pytest.approx(10, abs=0.01)
    assert monitor.health("never-checked").average_ms is None


async def test_three_http_failures_make_degraded(
    net: Net, monitor: HealthMonitor, events: list[Event]
) -> None:
    net.on(ZAI, status(500, {"error": {"message": "internal"}}))
    for expected in [HealthState.UNKNOWN, HealthState.UNKNOWN, HealthState.DEGRADED]:
        assert (await monitor.check_now("zai")).state is expected
    assert changes(events) == [("zai", "unknown", "degraded")]
    assert "internal" in monitor.health("zai").last_error


async def test_three_connectivity_failures_make_down_and_one_success_heals(
    net: Net, monitor: HealthMonitor, events: list[Event]
) -> None:
    net.on(ZAI, CorsBlocked("Failed to fetch"), CorsBlocked("x"), CorsBlocked("x"), ok_json(MODELS))
    for _ in range(3):
        await monitor.check_now("zai")
    assert monitor.health("zai").state is HealthState.DOWN
    assert (await monitor.check_now("zai")).state is HealthState.HEALTHY
    assert changes(events) == [("zai", "unknown", "down"), ("zai", "down", "healthy")]
    assert monitor.health("zai").failures == 0 and monitor.health("zai").last_error == ""


async def test_mixed_failures_make_degraded_not_down(net: Net, monitor: HealthMonitor) -> None:
    net.on(ZAI, Unreachable("x"), Unreachable("x"), status(502, {}))
    for _ in range(3):
        await monitor.check_now("zai")
    assert monitor.health("zai").state is HealthState.DEGRADED


async def test_gateway_missing_counts_as_unreachable(
    net: Net, router: Router, gateway: GatewaySwitch
) -> None:
    gateway.config = None
    provider = make_provider(routing=Routing.GATEWAY)
    monitor = HealthMonitor(router, lambda: [provider], random=lambda: 0.5, threshold=2)
    await monitor.check_now("zai")
    assert (await monitor.check_now("zai")).state is HealthState.DOWN
    assert "no gateway is configured" in monitor.health("zai").last_error
    assert GATEWAY_ID not in monitor.snapshot()


async def test_backoff_doubles_while_failing_up_to_a_cap(
    net: Net, monitor: HealthMonitor, clock: FakeClock
) -> None:
    net.on(ZAI, status(500, {}))
    waits = []
    for _ in range(6):
        health = await monitor.check_now("zai")
        waits.append(health.next_check_at - clock.now())
    assert waits == [120, 240, 480, 900, 900, 900]
    net.on(ZAI, ok_json(MODELS))
    assert (await monitor.check_now("zai")).next_check_at - clock.now() == 60


def test_jitter_stays_within_bounds(router: Router) -> None:
    for value, expected in [(0.0, 54.0), (0.5, 60.0), (0.999999, 66.0)]:
        monitor = HealthMonitor(router, list, random=functools.partial(float, value))
        assert monitor.delay(0) == pytest.approx(expected, abs=1e-3)
    monitor = HealthMonitor(router, list, random=lambda: 0.0, jitter=0.25, max_interval=100)
    assert monitor.delay(5) == pytest.approx(75)


async def test_slow_provider_does_not_delay_the_others(
    clock: FakeClock, gateway: GatewaySwitch
) -> None:
    never = asyncio.Event()

    async def hang() -> Response:
        await never.wait()
        return MemoryResponse(json_body=MODELS)

    def handler(request: Request) -> Response | Awaitable[Response]:
        if request.url == ZAI:
            return hang()
        if request.url.startswith(GATEWAY_URL):
            return MemoryResponse(json_body={"service": "detour-gateway"})
        return MemoryResponse(json_body=MODELS)

    gateway.config = GatewayConfig(GATEWAY_URL)
    router = Router(MockTransport(handler), gateway, clock)
    providers = [
        make_provider(routing=Routing.DIRECT),
        make_provider("groq", name="Groq", base_url="https://api.groq.com/openai/v1"),
    ]
    monitor = HealthMonitor(router, lambda: providers, random=lambda: 0.5, timeout=10)
    task = asyncio.ensure_future(monitor.check_all())
    await settle()
    assert not task.done()
    assert monitor.health("groq").state is HealthState.HEALTHY
    assert monitor.health(GATEWAY_ID).state is HealthState.HEALTHY
    assert monitor.health("zai").state is HealthState.UNKNOWN
    clock.advance(10)
    await settle()
    assert task.done()
    assert monitor.health("zai").last_error == "no answer within 10 s"
    assert monitor.health("zai").unreachable_failures == 1


async def test_run_checks_on_schedule_pauses_and_resumes_promptly(
    net: Net, monitor: HealthMonitor, clock: FakeClock
) -> None:
    net.on(ZAI, ok_json(MODELS))
    net.on(GROQ, ok_json(MODELS))
    runner = asyncio.ensure_future(monitor.run())
    try:
        await settle()
        assert net.urls().count(ZAI) == 1
        await clock.run_for(59)
        assert net.urls().count(ZAI) == 1
        await clock.run_for(1)
        assert net.urls().count(ZAI) == 2
        monitor.pause()
        await settle()
        assert monitor.paused
        await clock.run_for(600, step=60)
        assert net.urls().count(ZAI) == 2
        assert await monitor.step() == []
        monitor.resume()
        await settle()
        assert net.urls().count(ZAI) == 3  # at once, not at the next interval
    finally:
        runner.cancel()
        await settle()
    assert runner.cancelled()


async def test_run_with_nothing_to_check_sleeps_an_interval(
    router: Router, gateway: GatewaySwitch, clock: FakeClock
) -> None:
    gateway.config = None
    monitor = HealthMonitor(router, list, random=lambda: 0.5)
    runner = asyncio.ensure_future(monitor.run())
    await settle()
    assert clock.slept == [60.0]
    runner.cancel()
    await settle()


async def test_step_checks_only_what_is_due(
    net: Net, monitor: HealthMonitor, clock: FakeClock
) -> None:
    net.on(ZAI, ok_json(MODELS))
    net.on(GROQ, status(500, {}))
    assert sorted(await monitor.step()) == ["gateway", "groq", "zai"]
    clock.advance(60)
    assert sorted(await monitor.step()) == ["gateway", "zai"]  # groq backs off to 120 s
    clock.advance(60)
    assert sorted(await monitor.step()) == ["gateway", "groq", "zai"]


async def test_concurrent_checks_of_one_target_share_one_request(
    net: Net, monitor: HealthMonitor
) -> None:
    net.on(ZAI, ok_json(MODELS))
    first, second = await asyncio.gather(monitor.check_now("zai"), monitor.check_now("zai"))
    assert first is second
    assert net.urls().count(ZAI) == 1


async def test_checks_never_change_provider_settings(
    net: Net, monitor: HealthMonitor, providers: list[Provider]
) -> None:
    before = [dataclasses.asdict(p) for p in providers]
    net.on(ZAI, status(401, {"error": {"message": "bad key"}}))
    net.on(GROQ, CorsBlocked("Failed to fetch"))
    for _ in range(4):
        await monitor.check_all()
    assert [dataclasses.asdict(p) for p in providers] == before
    assert monitor.health("zai").state is HealthState.DEGRADED


async def test_gateway_health_uses_its_own_health_endpoint(
    net: Net, monitor: HealthMonitor
) -> None:
    health = await monitor.check_now(GATEWAY_ID)
    assert health.state is HealthState.HEALTHY
    assert net.urls() == [f"{GATEWAY_URL}/health"] and net.requests[0].headers == {}
    net.on(f"{GATEWAY_URL}/health", Unreachable("refused"))
    for _ in range(3):
        await monitor.check_now(GATEWAY_ID)
    assert monitor.health(GATEWAY_ID).state is HealthState.DOWN
    assert "did not answer" in monitor.health(GATEWAY_ID).last_error


async def test_disabled_providers_and_the_gateway_provider_are_not_checked_twice(
    net: Net, router: Router, gateway_config: GatewayConfig
) -> None:
    from web.gateway import gateway_provider

    off = make_provider("off", enabled=False)
    monitor = HealthMonitor(
        router, lambda: [off, gateway_provider(gateway_config)], random=lambda: 0.5
    )
    assert list(monitor.snapshot()) == [GATEWAY_ID]
    with pytest.raises(KeyError):
        await monitor.check_now("off")


async def test_an_unexpected_failure_is_recorded_not_raised(
    net: Net, monitor: HealthMonitor
) -> None:
    net.on(ZAI, RuntimeError("kaboom"))
    health = await monitor.check_now("zai")
    assert health.failures == 1 and health.last_error == "the check failed: kaboom"


async def test_pause_and_resume_during_a_check_are_not_lost(
    clock: FakeClock, gateway: GatewaySwitch
) -> None:
    gate = asyncio.Event()
    calls: list[str] = []

    async def held() -> Response:
        await gate.wait()
        return MemoryResponse(json_body=MODELS)

    def handler(request: Request) -> Response | Awaitable[Response]:
        calls.append(request.url)
        return held() if len(calls) == 1 else MemoryResponse(json_body=MODELS)

    gateway.config = None
    router = Router(MockTransport(handler), gateway, clock)
    provider = make_provider(routing=Routing.DIRECT)
    monitor = HealthMonitor(router, lambda: [provider], random=lambda: 0.5)
    runner = asyncio.ensure_future(monitor.run())
    await settle()
    monitor.pause()  # while the first check is still waiting for its answer
    gate.set()
    await settle()
    await clock.run_for(300, step=60)
    assert len(calls) == 1
    monitor.resume()
    await settle()
    assert len(calls) == 2
    runner.cancel()
    await settle()


def answering_after(clock: FakeClock, seconds: float) -> Callable[[Request], Awaitable[Response]]:
    async def answer(_: Request) -> Response:
        await clock.sleep(seconds)
        return MemoryResponse(json_body=MODELS)

    return answer


async def test_a_slow_provider_delays_no_other_check(
    router: Router, providers: list[Provider], net: Net, clock: FakeClock
) -> None:
    """Each target keeps its own schedule: a check waiting 100 s holds up nobody."""
    net.on(ZAI, answering_after(clock, 100))
    net.on(GROQ, ok_json(MODELS))
    monitor = HealthMonitor(router, lambda: providers, random=lambda: 0.5, timeout=300)
    runner = asyncio.ensure_future(monitor.run())
    try:
        await settle()
        await clock.run_for(130)
        assert net.urls().count(GROQ) == 3  # at 0, 60 and 120 s, not after zai's answer
        assert net.urls().count(f"{GATEWAY_URL}/health") == 3
        assert net.urls().count(ZAI) == 2  # answered at 100 s, overdue, so checked again then
        assert monitor.health("zai").state is HealthState.HEALTHY
    finally:
        runner.cancel()
        await settle()


async def test_the_interval_runs_from_the_start_of_a_check(
    router: Router, providers: list[Provider], net: Net, clock: FakeClock
) -> None:
    """A provider answering in 5 s is still checked every 60 s, not every 65 s."""
    net.on(ZAI, answering_after(clock, 5))
    net.on(GROQ, answering_after(clock, 5))
    monitor = HealthMonitor(router, lambda: providers, random=lambda: 0.5)
    runner = asyncio.ensure_future(monitor.run())
    try:
        await settle()
        await clock.run_for(121)
        assert net.urls().count(ZAI) == 3  # at 0, 60 and 120 s
        assert monitor.health("zai").latency_ms == pytest.approx(5000, abs=1001)
    finally:
        runner.cancel()
        await settle()
