"""`Storage` over the browser's localStorage."""

from __future__ import annotations

import js

from web.errors import StorageFull


class LocalStorage:
    """Reads and writes strings in `window.localStorage`."""

    def get(self, key: str) -> str | None:
        value = js.localStorage.getItem(key)
        # A missing key is JS `null`, which Pyodide gives as `jsnull`, not None.
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str) -> None:
        try:
            js.localStorage.setItem(key, value)
        except Exception:
            raise StorageFull("The browser refused to save (storage is full or disabled)") from None

    def remove(self, key: str) -> None:
        js.localStorage.removeItem(key)
