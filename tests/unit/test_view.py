"""What the page shows, worked out without the DOM."""

from __future__ import annotations

import time

from tests.unit.conftest import make_provider
from web.browser.view import (
    as_choice,
    clock_time,
    compare_choices,
    display_blocks,
    gateway_badge,
    health_word,
    model_groups,
    provider_meta,
    provider_note,
    reply_footer,
    reply_header,
    route_text,
    split_choice,
    stats_dict,
)
from web.chat import Message, ReplyStats
from web.gateway import GatewayKind, GatewayStatus
from web.health import Health, HealthState
from web.providers import Routing


def test_auto_keeps_its_last_road_while_nothing_is_remembered() -> None:
    auto = make_provider()
    assert route_text(auto, "direct", None) == "auto → direct"
    assert route_text(auto, None, "gateway") == "auto → gateway"
    assert route_text(auto, None, None) == "auto"
    assert route_text(make_provider(routing=Routing.GATEWAY), None, "direct") == "gateway"


def test_health_words_and_meta() -> None:
    health = Health(state=HealthState.HEALTHY, latency_ms=41.6)
    assert health_word(health, True) == "healthy"
    assert health_word(health, False) == "disabled"
    assert provider_meta(health, "auto → direct") == "auto → direct · 42 ms"
    down = Health(state=HealthState.DOWN, latency_ms=41.6, last_error="no answer")
    assert provider_meta(down, "auto") == "auto"
    assert provider_note(down, "listed 3") == "no answer"
    assert provider_note(Health(), "listed 3") == "listed 3"


def test_the_gateway_badge_comes_from_one_status() -> None:
    def status(kind: GatewayKind) -> GatewayStatus:
        return GatewayStatus(kind, "http://gw", "said")

    assert gateway_badge(False, None).text == "no gateway"
    assert gateway_badge(True, None).text == "gateway: checking…"
    ready = gateway_badge(True, status(GatewayKind.DETOUR))
    assert (ready.text, ready.tone) == ("gateway: ready", "healthy")
    gone = gateway_badge(True, status(GatewayKind.UNREACHABLE))
    assert (gone.text, gone.tone) == ("gateway: unreachable", "down")
    assert gateway_badge(True, status(GatewayKind.LITELLM)).tone == "degraded"


def test_a_reply_names_who_answered_and_how() -> None:
    message = Message("assistant", "hi", model="glm", provider_id="zai")
    message.meta = {"route": "gateway", "ttft_ms": 420.0, "tokens_per_second": 35.24,
                    "estimated": False, "gateway_overhead_ms": 3.2}  # fmt: skip
    assert reply_header(message, "Z.ai") == "Z.ai · glm"
    assert reply_header(Message("assistant", ""), "") == "Assistant"
    assert reply_footer(message) == (
        "via gateway · 420 ms to first token · 35.2 tok/s · gateway +3 ms"
    )


def test_stats_dict_feeds_the_footer() -> None:
    stats = ReplyStats("zai", "m", "direct", True, 10.0, 50.0, None, 4, 8.0, True, "stop")
    assert stats_dict(stats)["fallback"] is True and stats_dict(stats)["estimated"] is True


def test_models_group_by_provider_with_health_and_a_limit() -> None:
    zai = make_provider(models=[f"glm-{i}" for i in range(100)])
    groq = make_provider("groq", name="Groq", models=["llama-3", "mixtral"])
    off = make_provider("off", name="Off", models=["x"], enabled=False)
    health = {"zai": Health(state=HealthState.HEALTHY)}
    groups = model_groups(
        [zai, groq, off], lambda p: p.all_models, lambda i: health.get(i, Health()), limit=10
    )
    assert [(g.provider_id, len(g.models), g.more) for g in groups] == [("zai", 10, 90),
                                                                        ("groq", 2, 0)]  # fmt: skip
    assert groups[0].label == "Z.ai · healthy" and groups[0].tone == "healthy"


def test_searching_matches_every_word_in_provider_and_model() -> None:
    zai = make_provider(models=["glm-4.6", "glm-4.5-air"])
    groq = make_provider("groq", name="Groq", models=["llama-3"])
    found = model_groups([zai, groq], lambda p: p.all_models, lambda _i: Health(), "z.ai air")
    assert [(g.provider_id, g.models) for g in found] == [("zai", ("glm-4.5-air",))]


def test_compare_choices_round_trip() -> None:
    zai = make_provider(models=["a", "b"])
    assert compare_choices([zai], lambda p: p.all_models) == [("Z.ai", ["a", "b"])]
    assert split_choice(as_choice("zai", "glm:latest")) == ("zai", "glm:latest")


def test_clock_time_is_hours_minutes_seconds() -> None:
    at = time.mktime((2026, 12, 1, 14, 5, 9, 0, 0, -1))
    assert clock_time(at) == "14:05:09"


def test_display_blocks_end_lines_and_keep_the_unfinished_rest() -> None:
    assert display_blocks("one\ntwo\nthr") == (["one\ntwo\n"], "thr")
    assert display_blocks("no newline yet") == ([], "no newline yet")


def test_display_blocks_cut_long_lines_at_a_space_and_lose_nothing() -> None:
    text = ("word " * 10_000) + "end"
    blocks, rest = display_blocks(text, size=1_000)
    assert all(len(b) <= 1_000 for b in blocks) and all(b.endswith(" ") for b in blocks)
    assert "".join(blocks) + rest == text
    solid = "x" * 2_500
    assert display_blocks(solid, size=1_000) == (["x" * 1_000, "x" * 1_000], "x" * 500)
