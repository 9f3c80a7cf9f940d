"""What the page shows, worked out without the DOM: labels, groups, footers, times.

Pure functions, so they run (and are tested) under CPython as well as in the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from web.chat import Message
from web.drafts import describe_stats
from web.gateway import GatewayKind, GatewayStatus
from web.health import Health, HealthState
from web.providers import Provider, Routing

PICKER_LIMIT = 60  # models shown per provider before "type to search"


def health_word(health: Health, enabled: bool) -> str:
    """ "healthy", "down", … or "disabled"."""
    return health.state.value if enabled else "disabled"


def route_text(provider: Provider, remembered: str | None, last: str | None) -> str:
    """The road a provider takes: "auto → gateway" stays while the provider is down."""
    if provider.routing is Routing.AUTO:
        road = remembered or last
        return f"auto → {road}" if road else "auto"
    return provider.routing.value


def provider_meta(health: Health, route: str) -> str:
    """The line under a provider's name: its road and latency."""
    parts = [route]
    if health.latency_ms is not None and health.state is HealthState.HEALTHY:
        parts.append(f"{health.latency_ms:.0f} ms")
    return " · ".join(parts)


def provider_note(health: Health, note: str) -> str:
    """What went wrong, in full: the last check's error, else discovery's note."""
    return health.last_error or note


@dataclass(frozen=True)
class Badge:
    """The gateway's badge: words and a tone, from the one status the app keeps."""

    text: str
    tone: str
    title: str


def gateway_badge(configured: bool, status: GatewayStatus | None) -> Badge:
    """The badge for the latest gateway check."""
    if not configured:
        return Badge("no gateway", "unknown", "Set a gateway URL in Settings to get past CORS")
    if status is None:
        return Badge("gateway: checking…", "unknown", "")
    if status.kind is GatewayKind.DETOUR:
        return Badge("gateway: ready", "healthy", status.message)
    if status.kind is GatewayKind.LITELLM:
        return Badge("gateway: LiteLLM proxy (no relay)", "degraded", status.message)
    return Badge("gateway: unreachable", "down", status.message)


def reply_header(message: Message, provider_name: str) -> str:
    """Who answered: "Provider · model"."""
    parts = [p for p in (provider_name or message.provider_id, message.model) if p]
    return " · ".join(parts) or "Assistant"


def reply_footer(message: Message) -> str:
    """The road, time to first token, speed and gateway overhead of a reply."""
    return describe_stats({**message.meta, "stopped": message.stopped})


@dataclass(frozen=True)
class ModelGroup:
    """One provider's models in the picker; `more` counts what the limit left out."""

    provider_id: str
    label: str
    tone: str
    models: tuple[str, ...]
    more: int = 0


def model_groups(
    providers: Sequence[Provider],
    models_of: Callable[[Provider], list[str]],
    health_of: Callable[[str], Health],
    query: str = "",
    limit: int = PICKER_LIMIT,
) -> list[ModelGroup]:
    """Enabled providers' models, filtered by every word of `query`, grouped by provider.

    A word found in the provider's name matches all its models; the rest are looked
    for in each model id (lower-cased once per list, then cached).
    """
    words = query.lower().split()
    groups: list[ModelGroup] = []
    for provider in providers:
        if not provider.enabled:
            continue
        models = models_of(provider)
        name = provider.name.lower()
        rest = [w for w in words if w not in name]
        hits = models
        if rest:
            lowered = _lowered(models)
            found = [i for i, low in enumerate(lowered) if rest[0] in low]
            for word in rest[1:]:
                found = [i for i in found if word in lowered[i]]
            hits = [models[i] for i in found]
        if hits or not words:
            health = health_of(provider.id)
            label = f"{provider.name} · {health.state.value}"
            shown = tuple(hits[:limit])
            more = len(hits) - len(shown)
            groups.append(ModelGroup(provider.id, label, health.state.value, shown, more))
    return groups


_LOWERED: dict[int, tuple[list[str], list[str]]] = {}


def _lowered(models: list[str]) -> list[str]:
    if len(models) < 500:  # cheap enough to lower each time
        return [m.lower() for m in models]
    cached = _LOWERED.get(id(models))
    if cached is not None and cached[0] is models and len(cached[1]) == len(models):
        return cached[1]
    if len(_LOWERED) > 256:
        _LOWERED.clear()
    lowered = [m.lower() for m in models]
    _LOWERED[id(models)] = (models, lowered)
    return lowered


DISPLAY_BLOCK = 8_192  # characters per block of a streaming or very long reply


def display_blocks(text: str, size: int = DISPLAY_BLOCK) -> tuple[list[str], str]:
    """Finished blocks of `text` (each ends a line, or is `size` long at a space) and the rest.

    The page appends each finished block as its own element, so the browser lays
    out only what is new: a long reply costs time linear in its length.
    """
    blocks: list[str] = []
    start = 0
    while len(text) - start >= size or text.find("\n", start) >= 0:
        end = text.rfind("\n", start, start + size)
        if end < 0 and len(text) - start < size:
            end = text.find("\n", start)
        if end >= 0:
            end += 1
        else:
            space = text.rfind(" ", start + size // 2, start + size)
            end = space + 1 if space >= 0 else start + size
        blocks.append(text[start:end])
        start = end
    return blocks, text[start:]


def clock_time(at: float) -> str:
    """A time of day, "14:05:09", in the browser's time zone."""
    return time.strftime("%H:%M:%S", time.localtime(at))


def compare_choices(
    providers: Sequence[Provider], models_of: Callable[[Provider], list[str]], limit: int = 200
) -> list[tuple[str, list[str]]]:
    """(provider name, model ids) for each enabled provider, for a column's select."""
    return [(p.name, models_of(p)[:limit]) for p in providers if p.enabled]


def split_choice(value: str) -> tuple[str, str]:
    """A column's "provider_id\\nmodel" value back into its two parts."""
    provider_id, _, model = value.partition("\n")
    return provider_id, model


def as_choice(provider_id: str, model: str) -> str:
    return f"{provider_id}\n{model}"


def stats_dict(update: Any) -> dict[str, Any]:
    """A `ReplyStats`'s fields for `describe_stats`."""
    return {
        "route": update.route,
        "fallback": update.fallback,
        "ttft_ms": update.ttft_ms,
        "tokens_per_second": update.tokens_per_second,
        "estimated": update.estimated,
        "gateway_overhead_ms": update.gateway_overhead_ms,
        "stopped": update.stopped,
    }
