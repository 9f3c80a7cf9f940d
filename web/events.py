"""Plain records of the decisions the core makes, for the page to show and log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_FAILURE_WORDS = {
    "CorsBlocked": "blocked by CORS",
    "Unreachable": "unreachable",
    "TimedOut": "timed out",
}


def failure_words(error_class: str) -> str:
    """A failure class in words: `CorsBlocked` → "blocked by CORS"."""
    return _FAILURE_WORDS.get(error_class, f"failed ({error_class})")


@dataclass(frozen=True)
class RouteChosen:
    """A request was served over `route`; `reason` says why that road."""

    provider_id: str
    provider_name: str
    route: str
    reason: str

    def __str__(self) -> str:
        return f"{self.provider_name}: using {self.route} ({self.reason})"


@dataclass(frozen=True)
class RouteFallback:
    """Auto routing left `from_route` after a connectivity failure."""

    provider_id: str
    provider_name: str
    from_route: str
    to_route: str
    error_class: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.provider_name}: {self.from_route} {failure_words(self.error_class)}"
            f" → using {self.to_route}"
        )


@dataclass(frozen=True)
class RouteForgotten:
    """A remembered route was dropped and will be resolved again."""

    provider_id: str
    provider_name: str
    route: str
    reason: str

    def __str__(self) -> str:
        return f"{self.provider_name}: forgot the {self.route} route ({self.reason})"


@dataclass(frozen=True)
class HealthChanged:
    """A provider's (or the gateway's) health state changed."""

    provider_id: str
    old: str
    new: str
    reason: str

    def __str__(self) -> str:
        return f"{self.provider_id}: {self.old} → {self.new} ({self.reason})"


Event = RouteChosen | RouteFallback | RouteForgotten | HealthChanged
EventSink = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """The default sink: drop the event."""
