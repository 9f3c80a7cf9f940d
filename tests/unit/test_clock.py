from __future__ import annotations

import asyncio

import pytest

from web.clock import FakeClock, SystemClock, settle, with_timeout


async def test_system_clock_tells_wall_time_and_sleeps() -> None:
    import time

    clock = SystemClock()
    assert abs(clock.now() - time.time()) < 5
    await clock.sleep(0)
    await clock.sleep(-1)


async def test_fake_clock_wakes_sleepers_in_order_when_advanced() -> None:
    clock = FakeClock(start=100.0)
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.ensure_future(nap("long", 10)), asyncio.ensure_future(nap("short", 5))]
    await settle()
    assert clock.sleepers == 2 and woke == []
    clock.advance(5)
    await settle()
    assert woke == ["short"] and clock.now() == 105.0
    await clock.run_for(5)
    assert woke == ["short", "long"] and clock.sleepers == 0
    await clock.sleep(0)
    assert clock.slept == [10, 5, 0]
    await asyncio.gather(*tasks)


async def test_with_timeout_returns_or_cancels() -> None:
    clock = FakeClock()

    async def answer() -> int:
        return 7

    assert await with_timeout(clock, answer(), 1) == 7
    never = asyncio.Event()
    task = asyncio.ensure_future(with_timeout(clock, never.wait(), 3))
    await settle()
    clock.advance(3)
    with pytest.raises(TimeoutError, match="no answer within 3 s"):
        await task
