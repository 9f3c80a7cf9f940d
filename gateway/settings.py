"""Gateway settings: environment (`GATEWAY_*`) with command-line overrides."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = Path("gateway/demo.yaml")
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


class Settings(BaseSettings):
    """Everything the gateway can be told; read from `GATEWAY_*` variables."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    config: Path = DEFAULT_CONFIG
    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=1, le=65535)
    token: SecretStr | None = None
    allowed_origins: str = "http://127.0.0.1:8000,http://localhost:8000"
    allow_private_upstreams: bool = False
    upstream_allowlist: str | None = None
    name: str = "Detour gateway"
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_header_bytes: int = Field(default=32 * 1024, gt=0)
    max_headers: int = Field(default=100, gt=0)
    head_timeout: float = Field(default=10.0, gt=0)
    body_timeout: float = Field(default=60.0, gt=0)
    keepalive_timeout: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1000, gt=0)
    shutdown_timeout: float = Field(default=30.0, gt=0)
    log_level: str = "info"

    @field_validator("token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("log level must be one of critical, error, warning, info, debug")
        return level

    @model_validator(mode="after")
    def _token_when_exposed(self) -> Settings:
        if not is_loopback_host(self.host) and self.token is None:
            raise ValueError(
                f"refusing to listen on {self.host} without a token: set GATEWAY_TOKEN "
                "(or bind to 127.0.0.1)"
            )
        return self

    @cached_property
    def origins(self) -> frozenset[str]:
        """Page origins allowed to call the gateway (may contain `*`)."""
        return frozenset(
            o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()
        )

    @cached_property
    def allowlist(self) -> frozenset[str] | None:
        """Upstream host names the relay may reach, or None for any public host."""
        if not self.upstream_allowlist or not self.upstream_allowlist.strip():
            return None
        return frozenset(
            h.strip().lower().rstrip(".") for h in self.upstream_allowlist.split(",") if h.strip()
        )

    @property
    def config_path(self) -> Path:
        """The model list file, relative paths taken from the repository root."""
        if self.config.is_absolute() or self.config.exists():
            return self.config
        return REPO_ROOT / self.config


def is_loopback_host(host: str) -> bool:
    """True when `host` only listens on this machine."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment plus `overrides`; raise ConfigError with one line."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        if where == "settings":
            raise ConfigError(message) from None
        raise ConfigError(f"invalid setting GATEWAY_{where.upper()}: {message}") from None
