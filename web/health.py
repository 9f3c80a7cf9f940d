"""Health of every enabled provider and of the gateway, checked cheaply and in parallel.

A provider's check is its model list over its road; the gateway's is its own
`/health` (never a LiteLLM proxy's billable `/health`). After `threshold`
failures in a row a target is `degraded`, or `down` when every one of them
was a connectivity failure; one success makes it `healthy` again. While
failing, checks slow down: interval * 2^failures, capped at `max_interval`,
each delay spread by ±`jitter`. Checks only read: they never change settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from web.clock import Clock, with_timeout
from web.dialects import dialect_for
from web.errors import ConnectivityError, GatewayMissing, RouteError
from web.events import EventSink, HealthChanged
from web.gateway import GATEWAY_PROVIDER_ID, GatewayKind
from web.providers import Provider
from web.routing import Router

GATEWAY_ID = GATEWAY_PROVIDER_ID  # the gateway and its own provider are one target


class HealthState(StrEnum):
    """What a person sees next to a provider."""

    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass
class Health:
    """One target's health, latency (last and a rolling window) and next check time."""

    state: HealthState = HealthState.UNKNOWN
    failures: int = 0
    unreachable_failures: int = 0
    last_error: str = ""
    last_checked: float | None = None
    latency_ms: float | None = None
    latencies: list[float] = field(default_factory=list)
    next_check_at: float = 0.0
    started_at: float | None = None  # when the latest check began

    @property
    def average_ms(self) -> float | None:
        """Mean latency over the rolling window."""
        return sum(self.latencies) / len(self.latencies) if self.latencies else None


class HealthMonitor:
    """Checks providers and the gateway on an interval, in parallel, while the page is visible."""

    def __init__(
        self,
        router: Router,
        providers: Callable[[], Iterable[Provider]],
        *,
        random: Callable[[], float],
        on_event: EventSink | None = None,
        on_check: Callable[[str, Health], None] | None = None,
        interval: float = 60.0,
        jitter: float = 0.1,
        timeout: float = 10.0,
        threshold: int = 3,
        max_interval: float = 900.0,
        window: int = 5,
    ) -> None:
        self.router = router
        self.clock: Clock = router.clock
        self._providers = providers
        self._random = random
        self._emit = on_event or (lambda event: None)
        self._checked = on_check or (lambda target_id, health: None)
        self.interval = interval
        self.jitter = jitter
        self.timeout = timeout
        self.threshold = threshold
        self.max_interval = max_interval
        self.window = window
        self._health: dict[str, Health] = {}
        self._inflight: dict[str, asyncio.Future[Health]] = {}
        self._paused = False
        self._wake = asyncio.Event()

    # --- state ----------------------------------------------------------------

    def health(self, target_id: str) -> Health:
        """The health of one provider (or of `GATEWAY_ID`)."""
        return self._health.setdefault(target_id, Health())

    def snapshot(self) -> dict[str, Health]:
        """Health of every current target."""
        return {tid: self.health(tid) for tid in self._targets()}

    @property
    def paused(self) -> bool:
        """Whether checks are stopped (the page is hidden)."""
        return self._paused

    def delay(self, failures: int) -> float:
        """Seconds until the next check after `failures` failures in a row, with jitter."""
        base = min(self.interval * 2 ** min(failures, 16), self.max_interval)
        return float(base * (1 + self.jitter * (2 * self._random() - 1)))

    def _targets(self) -> dict[str, Provider | None]:
        targets: dict[str, Provider | None] = {
            p.id: p for p in self._providers() if p.enabled and p.id != GATEWAY_ID
        }
        if self.router.gateway() is not None:
            targets[GATEWAY_ID] = None
        return targets

    # --- checking ---------------------------------------------------------------

    async def check_now(self, target_id: str) -> Health:
        """Check one target at once, whatever its schedule."""
        targets = self._targets()
        if target_id not in targets:
            raise KeyError(target_id)
        return await self._check(target_id, targets[target_id])

    async def check_all(self) -> dict[str, Health]:
        """Check every target now, all in parallel."""
        targets = self._targets()
        await asyncio.gather(*(self._check(tid, p) for tid, p in targets.items()))
        return {tid: self.health(tid) for tid in targets}

    async def step(self) -> list[str]:
        """Check, in parallel, every target whose time has come; return their ids."""
        if self._paused:
            return []
        due, _waiting = self._due(self.clock.now())
        await asyncio.gather(*(self._check(tid, p) for tid, p in due.items()))
        return list(due)

    def _due(
        self, now: float, *, skip: Container[str] = ()
    ) -> tuple[dict[str, Provider | None], list[float]]:
        """The targets whose time has come, and when the others' next checks are due."""
        due: dict[str, Provider | None] = {}
        waiting: list[float] = []
        for tid, provider in self._targets().items():
            if tid in skip:
                continue
            at = self.health(tid).next_check_at
            if at <= now:
                due[tid] = provider
            else:
                waiting.append(at)
        return due, waiting

    async def run(self) -> None:
        """Check on schedule until cancelled; wait while paused.

        Each target keeps its own schedule: a due check starts at once, beside
        any still waiting for an answer, so a slow provider delays no other.
        """
        while True:
            self._wake.clear()  # pause, resume or a finished check cut the sleep short
            if self._paused:
                await self._wake.wait()
                continue
            now = self.clock.now()
            due, waiting = self._due(now, skip=self._inflight)
            for tid, provider in self._slowest_first(due):
                if self._paused:
                    break
                self._start(tid, provider)
                # Let that check reach its fetch before starting the next: in the
                # browser, callbacks queued together run as one task, and fifty
                # checks started at once held the page for 200 ms.
                await asyncio.sleep(0)
            delay = min(waiting) - now if waiting else self.interval
            await self._sleep(max(delay, 0.0))

    def _slowest_first(
        self, targets: dict[str, Provider | None]
    ) -> list[tuple[str, Provider | None]]:
        """Targets, the slowest to answer (or never measured) first: started in turn,
        the slow ones' waits overlap the others' starts."""

        def slowness(item: tuple[str, Provider | None]) -> float:
            average = self.health(item[0]).average_ms
            return -(average if average is not None else float("inf"))

        return sorted(targets.items(), key=slowness)

    def pause(self) -> None:
        """Stop checking (the page went hidden)."""
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        """Start again, checking every target promptly."""
        self._paused = False
        now = self.clock.now()
        for health in self._health.values():
            health.next_check_at = min(health.next_check_at, now)
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            sleeper.cancel()

    def _start(self, target_id: str, provider: Provider | None) -> asyncio.Future[Health]:
        """The target's check in flight, started now unless one already is."""
        running = self._inflight.get(target_id)
        if running is not None:
            return running
        task = asyncio.ensure_future(self._probe(target_id, provider))
        self._inflight[target_id] = task

        def finished(_: object) -> None:
            self._inflight.pop(target_id, None)
            self._wake.set()  # the run loop schedules this target's next check

        task.add_done_callback(finished)
        return task

    async def _check(self, target_id: str, provider: Provider | None) -> Health:
        return await asyncio.shield(self._start(target_id, provider))

    async def _probe(self, target_id: str, provider: Provider | None) -> Health:
        start = self.clock.now()
        self.health(target_id).started_at = start
        try:
            if provider is None:
                await with_timeout(self.clock, self._gateway_check(), self.timeout)
            else:
                await with_timeout(self.clock, self._provider_check(provider), self.timeout)
        except TimeoutError:
            return self._record(target_id, f"no answer within {self.timeout:g} s", True)
        except (ConnectivityError, GatewayMissing) as error:
            return self._record(target_id, str(error), True)
        except RouteError as error:
            return self._record(target_id, str(error), False)
        except Exception as error:  # a check must never crash the monitor
            return self._record(target_id, f"the check failed: {error}", False)
        latency = (self.clock.now() - start) * 1000
        return self._record(target_id, "", False, latency)

    async def _provider_check(self, provider: Provider) -> None:
        routed = await self.router.send(provider, dialect_for(provider).models_call(provider))
        await routed.response.aclose()

    async def _gateway_check(self) -> None:
        status = await self.router.gateway_status(force=True)
        if status is not None and status.kind is GatewayKind.UNREACHABLE:
            raise ConnectivityError(status.message)

    def _record(
        self, target_id: str, error: str, unreachable: bool, latency: float | None = None
    ) -> Health:
        health = self.health(target_id)
        old = health.state
        now = self.clock.now()
        health.last_checked = now
        if not error:
            health.failures = health.unreachable_failures = 0
            health.last_error = ""
            health.state = HealthState.HEALTHY
            health.latency_ms = latency
            if latency is not None:
                health.latencies = [*health.latencies, latency][-self.window :]
            reason = f"answered in {latency:.0f} ms" if latency is not None else "answered"
        else:
            health.failures += 1
            health.unreachable_failures = health.unreachable_failures + 1 if unreachable else 0
            health.last_error = reason = error
            if health.unreachable_failures >= self.threshold:
                health.state = HealthState.DOWN
            elif health.failures >= self.threshold:
                health.state = HealthState.DEGRADED
        # The gateway is one cheap call to our own server: checked every interval, so its
        # going away and coming back both show within two intervals.
        failures = 0 if target_id == GATEWAY_ID else health.failures
        # Counted from when the check started, so a slow answer does not stretch the rate.
        started = health.started_at if health.started_at is not None else now
        health.next_check_at = max(started + self.delay(failures), now)
        if health.state is not old:
            self._emit(HealthChanged(target_id, old.value, health.state.value, reason))
        self._checked(target_id, health)
        return health
