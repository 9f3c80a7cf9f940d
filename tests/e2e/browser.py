"""The browser every page test and the page bench drive: Debian's Chromium, kept offline."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("DETOUR_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
