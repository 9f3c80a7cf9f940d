"""What the provider form holds, and the small parsers that turn its text into settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web.providers import Provider


@dataclass(frozen=True)
class ProviderDraft:
    """What the provider form holds; turned into a validated `Provider` on save."""

    template: str
    name: str
    base_url: str
    dialect: str
    api_key: str
    routing: str
    headers: str  # one `Name: value` per line
    manual_models: str  # comma or line separated
    enabled: bool = True
    remember_key: bool = True  # False: the key is kept for this browser session only


def parse_headers(text: str, problems: dict[str, str]) -> dict[str, str]:
    """`Name: value` lines into a dict; a line without a colon is a problem."""
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            problems["headers"] = f"write each header as 'Name: value' (got {line.strip()[:40]!r})"
            continue
        headers[name.strip()] = value.strip()
    return headers


def split_models(text: str) -> list[str]:
    """Model ids separated by commas or new lines, without blanks or repeats."""
    parts = [m.strip() for chunk in text.splitlines() for m in chunk.split(",")]
    return list(dict.fromkeys(m for m in parts if m))


def as_draft(provider: Provider) -> ProviderDraft:
    """The form's view of a saved provider."""
    return ProviderDraft(
        template=provider.template,
        name=provider.name,
        base_url=provider.base_url,
        dialect=provider.dialect.value,
        api_key=provider.api_key,
        routing=provider.routing.value,
        headers="\n".join(f"{k}: {v}" for k, v in provider.headers.items()),
        manual_models=", ".join(provider.manual_models),
        enabled=provider.enabled,
        remember_key=provider.extra.get("key_storage") != "session",
    )


def describe_stats(stats: Mapping[str, Any]) -> str:
    """A reply's footer: road, time to first token, speed, the gateway's own overhead."""
    parts: list[str] = []
    if stats.get("route"):
        parts.append(f"via {stats['route']}" + (" (fallback)" if stats.get("fallback") else ""))
    if stats.get("ttft_ms") is not None:
        parts.append(f"{stats['ttft_ms']:.0f} ms to first token")
    if stats.get("tokens_per_second"):
        approx = "≈" if stats.get("estimated") else ""
        parts.append(f"{approx}{stats['tokens_per_second']:.1f} tok/s")
    if stats.get("gateway_overhead_ms") is not None:
        parts.append(f"gateway +{stats['gateway_overhead_ms']:.0f} ms")
    if stats.get("stopped"):
        parts.append("stopped")
    return " · ".join(parts)
