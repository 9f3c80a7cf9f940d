"""Test session order: the browser suite runs last.

Playwright's sync API keeps its own event loop in the main thread for the rest of
the session, which asyncio tests cannot share; so the unit and gateway suites run
first and the end-to-end suite after them.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: "tests/e2e/" in item.nodeid or "tests/speed/" in item.nodeid)
