"""Which models a provider offers: its own list, merged with the template's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from web.dialects import ModelInfo, dialect_for
from web.errors import AuthError, HttpError, ProtocolError
from web.gateway import GatewayConfig, gateway_provider
from web.providers import Provider
from web.routing import Route, Router

MAX_PAGES = 10

Source = Literal["provider", "template", "mixed"]


@dataclass(frozen=True)
class DiscoveryResult:
    """Models found, where they came from, the road used, and a note for the person."""

    models: list[str]
    source: Source
    route: Route | None = None
    note: str = ""
    names: dict[str, str] = field(default_factory=dict)


async def discover_models(
    router: Router, provider: Provider, template_models: list[str]
) -> DiscoveryResult:
    """List a provider's models over its road; fall back to the template's, saying so.

    Auth and connectivity errors are raised: they are not a listing problem.
    """
    dialect = dialect_for(provider)
    found: list[ModelInfo] = []
    route: Route | None = None
    after: str | None = None
    why = ""
    try:
        for _ in range(MAX_PAGES):
            routed = await router.send(provider, dialect.models_call(provider, after=after))
            route = routed.route
            try:
                body = await routed.response.aread()
            finally:
                await routed.response.aclose()
            page = dialect.parse_models(body)
            found.extend(page.models)
            after = page.next_after
            if after is None:
                break
    except AuthError:
        raise
    except HttpError as error:
        why = f"HTTP {error.status}"
        route = Route(error.route) if error.route else route
    except ProtocolError:
        why = "its answer was not a model list"
    listed = list(dict.fromkeys(m.id for m in found))
    if not listed:
        why = why or "the list was empty"
        known = list(dict.fromkeys(template_models))
        if known:
            note = (
                f"{provider.name} did not list its models ({why}); showing the models "
                "Detour knows for it — add others by hand"
            )
        else:
            note = f"{provider.name} did not list its models ({why}); add model ids by hand"
        return DiscoveryResult(known, "template", route, note)
    extra = [m for m in dict.fromkeys(template_models) if m not in listed]
    names = {m.id: m.name for m in found if m.name}
    if extra:
        note = (
            f"{provider.name} listed {_models(len(listed))}; {len(extra)} more that Detour "
            "knows for it were added"
        )
        return DiscoveryResult([*listed, *extra], "mixed", route, note, names)
    return DiscoveryResult(
        listed, "provider", route, f"{provider.name} listed {_models(len(listed))}", names
    )


async def discover_gateway_models(
    router: Router, config: GatewayConfig, name: str = "Gateway"
) -> DiscoveryResult:
    """The models the gateway's operator configured, from `/v1/models`."""
    return await discover_models(router, gateway_provider(config, name), [])


def _models(count: int) -> str:
    return f"{count} model" if count == 1 else f"{count} models"
