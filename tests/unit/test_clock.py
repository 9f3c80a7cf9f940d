from __future__ import annotations

import ast
import asyncio
import sys
from pathlib import Path

import pytest

from web.clock import FakeClock, SystemClock, settle, with_timeout

ROOT = Path(__file__).resolve().parents[2]
CORE = [
    "web/sse.py",
    "web/clock.py",
    "web/events.py",
    "web/gateway.py",
    "web/routing.py",
    "web/discovery.py",
    "web/health.py",
    "web/chat.py",
    "web/dialects/__init__.py",
    "web/dialects/base.py",
    "web/dialects/openai.py",
    "web/dialects/anthropic.py",
]


@pytest.mark.parametrize("path", CORE)
def test_core_modules_import_only_the_standard_library_and_web(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    assert roots <= set(sys.stdlib_module_names) | {"web"}, roots
    assert not roots & {"js", "pyodide", "pyscript", "threading"}
    source = (ROOT / path).read_text()
    assert "time.sleep" not in source and "threading" not in source


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
