"""A provider: one AI service the person uses, how to reach it, and with which key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from web.errors import ProviderInvalid


class Dialect(StrEnum):
    """The wire format a provider speaks."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"


class Routing(StrEnum):
    """How a provider's requests travel: decided per provider by the person."""

    AUTO = "auto"
    DIRECT = "direct"
    GATEWAY = "gateway"


_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie", re.IGNORECASE)


@dataclass
class Provider:
    """A configured provider; `extra` keeps saved fields this version does not know."""

    id: str
    name: str
    base_url: str
    dialect: Dialect = Dialect.OPENAI
    template: str = "custom"
    api_key: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    routing: Routing = Routing.AUTO
    enabled: bool = True
    models: list[str] = field(default_factory=list)
    manual_models: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Provider(id={self.id!r}, name={self.name!r}, base_url={self.base_url!r}, "
            f"dialect={self.dialect.value}, routing={self.routing.value}, "
            f"api_key={mask_secret(self.api_key)!r}, headers={masked_headers(self.headers)!r})"
        )

    @property
    def all_models(self) -> list[str]:
        """Discovered models followed by models added by hand, without repeats.

        With none added by hand this is the discovered list itself (not a copy):
        read it, do not change it.
        """
        if not self.manual_models:
            return self.models
        return list(dict.fromkeys([*self.models, *self.manual_models]))

    def validate(self) -> None:
        """Raise `ProviderInvalid` naming every field that is wrong."""
        problems: dict[str, str] = {}
        if not _ID.match(self.id or ""):
            problems["id"] = "use 1-64 lower-case letters, digits, '.', '_' or '-'"
        if not (self.name or "").strip():
            problems["name"] = "give the provider a name"
        url_problem = check_base_url(self.base_url)
        if url_problem:
            problems["base_url"] = url_problem
        for name, value in self.headers.items():
            if not _HEADER_NAME.match(name):
                problems["headers"] = f"{name!r} is not a valid header name"
            elif "\r" in value or "\n" in value:
                problems["headers"] = f"the value of {name!r} contains a line break"
        if "\r" in self.api_key or "\n" in self.api_key:
            problems["api_key"] = "the key contains a line break; paste it again"
        for model in self.manual_models:
            if not model.strip():
                problems["manual_models"] = "a model id cannot be empty"
        if problems:
            raise ProviderInvalid(problems)


def check_base_url(url: str) -> str:
    """Return why `url` cannot be a provider's base URL, or '' when it can."""
    if not url:
        return "enter the provider's base URL, e.g. https://api.openai.com/v1"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "this is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "the URL must start with https:// (or http:// for a local server)"
    if not parts.hostname:
        return "the URL has no host name"
    if parts.username or parts.password:
        return "put credentials in the API key field, not in the URL"
    if parts.query or parts.fragment:
        return "the base URL cannot have a query or fragment"
    return ""


def mask_secret(secret: str) -> str:
    """Show a key's last four characters at most, so a person can tell keys apart."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "•" * 4
    return "•" * 4 + secret[-4:]


def masked_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers with the values of secret-looking ones masked."""
    return {k: (mask_secret(v) if _SECRET_HEADER.search(k) else v) for k, v in headers.items()}
