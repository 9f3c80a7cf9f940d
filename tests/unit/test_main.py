from __future__ import annotations

from typing import Any

import pytest

from web.clock import FakeClock
from web.main import DEFAULT_HEALTH_INTERVAL, build_app
from web.store import MemoryStorage
from web.transport import MemoryResponse, MockTransport


def built(config: dict[str, Any]) -> Any:
    return build_app(
        transport=MockTransport(lambda _request: MemoryResponse(404)),
        storage=MemoryStorage(),
        clock=FakeClock(),
        random=lambda: 0.5,
        origin="http://127.0.0.1:8000",
        config=config,
    )


def test_the_page_config_names_the_default_gateway_and_health_interval() -> None:
    app = built({"gateway_url": "http://127.0.0.1:4000", "health_interval": 5})
    assert app.default_gateway_url == "http://127.0.0.1:4000"
    assert app.monitor.interval == 5.0
    assert app.origin == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "config",
    [{}, {"gateway_url": 4000, "health_interval": "soon"}, {"health_interval": -1},
     {"health_interval": True}, {"gateway_url": None, "health_interval": 0}],
)  # fmt: skip
def test_a_missing_or_odd_config_value_means_the_default(config: dict[str, Any]) -> None:
    app = built(config)
    assert app.default_gateway_url == ""
    assert app.gateway_config() is None
    assert app.monitor.interval == DEFAULT_HEALTH_INTERVAL
