"""Detour gateway: the companion service the page falls back to when the browser is blocked."""

from __future__ import annotations

__version__ = "0.1.0"
SERVICE = "detour-gateway"
