"""`Storage` over the browser's localStorage."""

from __future__ import annotations

from typing import Any

import js

from web.errors import StorageFull


class LocalStorage:
    """Reads and writes strings in `window.localStorage` (or another Web Storage)."""

    def __init__(self, area: Any = None) -> None:
        self.area = area if area is not None else js.localStorage

    def get(self, key: str) -> str | None:
        value = self.area.getItem(key)
        # A missing key is JS `null`, which Pyodide gives as `jsnull`, not None.
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str) -> None:
        try:
            self.area.setItem(key, value)
        except Exception:
            raise StorageFull("The browser refused to save (storage is full or disabled)") from None

    def remove(self, key: str) -> None:
        self.area.removeItem(key)
