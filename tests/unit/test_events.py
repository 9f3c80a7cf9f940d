from __future__ import annotations

from web.events import (
    HealthChanged,
    RouteChosen,
    RouteFallback,
    RouteForgotten,
    failure_words,
    ignore_event,
)


def test_events_read_as_sentences() -> None:
    assert str(RouteFallback("zai", "Z.ai", "direct", "gateway", "CorsBlocked", "x")) == (
        "Z.ai: direct blocked by CORS → using gateway"
    )
    assert str(RouteFallback("o", "Ollama", "direct", "gateway", "TimedOut", "x")) == (
        "Ollama: direct timed out → using gateway"
    )
    assert str(RouteChosen("zai", "Z.ai", "direct", "remembered")) == (
        "Z.ai: using direct (remembered)"
    )
    assert str(RouteForgotten("zai", "Z.ai", "gateway", "it expired")) == (
        "Z.ai: forgot the gateway route (it expired)"
    )
    assert str(HealthChanged("groq", "healthy", "down", "unreachable")) == (
        "groq: healthy → down (unreachable)"
    )


def test_failure_words() -> None:
    assert failure_words("Unreachable") == "unreachable"
    assert failure_words("Weird") == "failed (Weird)"
    ignore_event(RouteChosen("a", "A", "direct", "r"))  # accepts any event, does nothing
