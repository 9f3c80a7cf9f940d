"""The page's core at the sizes real users reach: 1,000 providers, 50,000 models, long chats.

Runs the page's own Python (the code Pyodide runs in the browser) under CPython
with in-memory storage and a scripted network, and prints same-run figures:
what a save costs and writes, how long a model search takes, whether saving a
conversation depends on the history, and whether streaming is linear. Compare
figures within one run; the browser is slower by a constant factor.

    .venv/bin/python bench/page_scale_bench.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web.app import App
from web.browser.view import model_groups
from web.chat import ChatSession, Conversation
from web.clock import FakeClock
from web.conversations import Conversations
from web.providers import Provider, Routing
from web.routing import Router
from web.sse import SseParser
from web.store import AppState, MemoryStorage, save_state
from web.transport import MemoryResponse, MockTransport

PROVIDERS = 1_000
MODELS = 50_000  # over 50 providers, 1,000 each


def timed(action: Callable[[], object], repeat: int = 5) -> float:
    """Best of `repeat` runs, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def big_state() -> MemoryStorage:
    providers = []
    for i in range(PROVIDERS):
        models = [f"model-{i}-{m}" for m in range(MODELS // 50)] if i < 50 else []
        providers.append(
            Provider(f"p{i}", f"Provider {i}", f"https://p{i}.example.test/v1", models=models,
                     routing=Routing.DIRECT)
        )  # fmt: skip
    storage = MemoryStorage()
    save_state(storage, AppState(providers=providers))
    return storage


def make_app(storage: MemoryStorage) -> App:
    transport = MockTransport(lambda _request: MemoryResponse(status=404))
    return App(transport=transport, storage=storage, clock=FakeClock(), random=lambda: 0.5)


def bench_saving() -> list[str]:
    storage = big_state()
    whole = len(json.dumps(json.loads(storage.data["detour.state"])))
    app = make_app(storage)
    app.save_state()  # the first save sets the long lists apart, once
    storage.writes = 0
    ms = timed(lambda: app.select("p1", "model-1-7"))
    per_save = storage.writes / 5
    return [
        f"- state with {PROVIDERS} providers and {MODELS:,} models: {whole / 1e6:.2f} MB "
        "as one blob",
        f"- a save (choosing a model): {ms:.1f} ms, writes {per_save / 1e3:.0f} KB "
        f"({per_save / whole:.1%} of the blob; long model lists are saved apart)",
    ]


def bench_picker() -> list[str]:
    app = make_app(big_state())
    providers = app.providers()
    everything = timed(lambda: model_groups(providers, app.models, app.health, ""))
    search = timed(lambda: model_groups(providers, app.models, app.health, "model-49 77"))
    return [
        f"- model picker over {MODELS:,} models: {everything:.1f} ms to list, "
        f"{search:.1f} ms per search keystroke (60 shown per provider)",
    ]


def bench_conversations() -> list[str]:
    lines = []
    for history in (10, 1_000):
        storage = MemoryStorage()
        store = Conversations(storage, time.time)
        for n in range(200):  # other conversations in the list
            other = store.start()
            store.current().add("user", f"chat {n} " + "x" * 2_000)
            store.save(other)
        active = store.start()
        for n in range(history):
            store.current().add("user" if n % 2 == 0 else "assistant", "y" * 500)
        store.save(active)
        storage.writes = 0
        ms = timed(partial(store.save, active))
        lines.append(
            f"- saving a conversation of {history} messages among 200 others: {ms:.2f} ms, "
            f"writes {storage.writes / 5 / 1e3:.0f} KB (the others are not rewritten)"
        )
    return lines


def bench_streaming() -> list[str]:
    def reply(size: int) -> float:
        piece = "z" * 1_024
        pieces = [
            "data: " + json.dumps({"choices": [{"delta": {"content": piece}}]}) + "\n\n"
            for _ in range(size // 1_024)
        ]
        transport = MockTransport(
            lambda _r: MemoryResponse(chunks=pieces, headers={"content-type": "text/event-stream"})
        )
        router = Router(transport, lambda: None, FakeClock())
        provider = Provider("p", "P", "https://p.example.test/v1", routing=Routing.DIRECT)

        async def run() -> None:
            chat = Conversation()
            chat.add("user", "go")
            async for _ in ChatSession(router, provider, "m", chat).stream():
                pass

        return timed(lambda: asyncio.run(run()), repeat=2)

    small, large = reply(1_000_000), reply(4_000_000)
    return [
        f"- streaming a reply in 1 KB pieces: 1 MB {small:.0f} ms, 4 MB {large:.0f} ms "
        f"(ratio {large / small:.1f}; linear is 4)",
    ]


def bench_one_big_chunk() -> list[str]:
    def parse(count: int) -> float:
        chunk = b"".join(b"data: " + b"x" * 200 + b"\n\n" for _ in range(count))
        return timed(lambda: SseParser().feed(chunk), repeat=3)

    small, large = parse(2_000), parse(16_000)
    return [
        f"- one network chunk of 2,000 events parsed in {small:.1f} ms, of 16,000 in "
        f"{large:.1f} ms (ratio {large / small:.1f}; linear is 8)",
    ]


def main() -> None:
    started = time.perf_counter()
    print("# Page core at scale (same run)")
    parts = (bench_saving, bench_picker, bench_conversations, bench_streaming, bench_one_big_chunk)
    for part in parts:
        for line in part():
            print(line, flush=True)
    print(f"- (bench ran in {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
