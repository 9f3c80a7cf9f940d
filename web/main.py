"""Boot the page: build the app object with the browser's transport and storage, wire the UI."""

from __future__ import annotations

import js  # type: ignore[import-not-found]


def boot() -> None:
    js.document.getElementById("loading").hidden = True
    js.document.getElementById("app").hidden = False
    js.document.body.dataset.ready = "true"
