"""Every failure the core reports, each with a message that names the fix.

DetourError
 ├── ProviderInvalid            a provider's settings do not validate
 │    └── SettingsInvalid       the page's own settings do not validate
 ├── StateCorrupt               saved state could not be read at all
 ├── ImportInvalid              an export / LiteLLM YAML could not be imported
 ├── StorageFull                the browser refused to save (full or disabled)
 └── RouteError                 a request could not be served
      ├── ConnectivityError     the road failed; another road may work
      │    ├── CorsBlocked      the host answered, but the browser may not read it
      │    ├── Unreachable      nothing answered (DNS, refused, offline)
      │    └── TimedOut         no answer in time
      ├── HttpError(status)     the provider answered with an error; same on any road
      │    └── AuthError        401 / 403: the key was refused
      ├── GatewayMissing        the route needs a gateway and none is configured
      ├── GatewayUnusable       the gateway cannot relay (a stock LiteLLM proxy) or refused us
      ├── ProtocolError         the upstream answered something that is not its API
      └── Cancelled             the person stopped the request
"""

from __future__ import annotations


class DetourError(Exception):
    """Base of every error Detour reports; `str()` is the user-facing message."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ProviderInvalid(DetourError):
    """A provider's settings do not validate; `problems` lists each field's issue."""

    subject = "Provider settings"

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        text = "; ".join(f"{field}: {why}" for field, why in self.problems.items())
        super().__init__(f"{self.subject} are invalid ({text})", hint="fix the fields named")


class SettingsInvalid(ProviderInvalid):
    """The page's settings (gateway, reply preferences) do not validate."""

    subject = "Settings"


class StateCorrupt(DetourError):
    """Saved state could not be parsed; the raw text is kept, never overwritten."""


class ImportInvalid(DetourError):
    """A file offered for import is not something Detour can read."""


class StorageFull(DetourError):
    """The browser refused to save; what was being saved is named in the message."""

    hint = (
        "delete old conversations, or export your providers in Settings to keep them; "
        "then try again"
    )


class RouteError(DetourError):
    """A request to a provider failed; `route` is the road it took, if any."""

    route: str | None = None

    def __init__(self, message: str, *, hint: str = "", route: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.route = route


class ConnectivityError(RouteError):
    """The road itself failed; in `auto` another road may succeed."""


class CorsBlocked(ConnectivityError):
    hint = "blocked by CORS — switch this provider to the gateway route"


class Unreachable(ConnectivityError):
    hint = "check the base URL, your connection, and that the server is running"


class TimedOut(ConnectivityError):
    hint = "the server is slow or stalled; try again, or use the gateway route"


class HttpError(RouteError):
    """The provider answered with an error status; switching road would not help."""

    def __init__(
        self,
        status: int,
        body: str = "",
        *,
        message: str | None = None,
        hint: str = "",
        route: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        text = message or f"the provider answered HTTP {status}"
        super().__init__(text, hint=hint or _status_hint(status), route=route)


class AuthError(HttpError):
    """401 / 403: the key is missing, wrong, or not allowed this model."""


class GatewayMissing(RouteError):
    hint = "set the gateway URL in Settings, or switch this provider to direct"


class GatewayUnusable(RouteError):
    hint = "point Settings at a Detour gateway, or switch this provider to direct"


class ProtocolError(RouteError):
    hint = "check the base URL and the dialect chosen for this provider"


class Cancelled(RouteError):
    hint = ""


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "check the API key in this provider's settings"
    if status == 404:
        return "check the base URL and the model id"
    if status == 429:
        return "rate limited or out of quota; wait, or check your plan"
    if 400 <= status < 500:
        return "the provider rejected the request; check the model and parameters"
    if status in (502, 503, 504):
        return "the provider is having trouble; try again shortly"
    return "the provider failed; try again"
