"""Set-aside entries can be exported (keys hidden), edited and loaded, or removed."""

from __future__ import annotations

import json

import pytest

from tests.unit.conftest import Net
from tests.unit.test_app import make_app, saved
from web.app import App
from web.clock import FakeClock
from web.errors import ImportInvalid, ProviderInvalid
from web.quarantine import HIDDEN
from web.store import STATE_KEY, MemoryStorage

BROKEN = {"id": "half", "name": "Half", "base_url": "ftp://nope", "api_key": "sk-hidden-9876"}


def with_broken(net: Net, clock: FakeClock) -> tuple[MemoryStorage, App]:
    storage = MemoryStorage({STATE_KEY: json.dumps({"version": 2, "providers": [BROKEN]})})
    return storage, make_app(net, clock, storage)


def test_the_export_hides_keys_unless_asked(net: Net, clock: FakeClock) -> None:
    _, app = with_broken(net, clock)
    text = app.export_set_aside()
    assert "sk-hidden-9876" not in text and HIDDEN in text and "base_url" in text
    assert "sk-hidden-9876" in app.export_set_aside(include_keys=True)


def test_an_edited_entry_loads_with_its_hidden_key_kept(net: Net, clock: FakeClock) -> None:
    storage, app = with_broken(net, clock)
    from web.quarantine import entry_text

    entry = app.state.quarantine[0]
    edited = entry_text(entry).replace("ftp://nope", "https://api.example.test/v1")
    provider = app.load_set_aside(0, edited)
    assert provider.api_key == "sk-hidden-9876"
    assert saved(storage)["quarantine"] == []
    assert saved(storage)["providers"][0]["base_url"] == "https://api.example.test/v1"


def test_an_entry_still_wrong_is_refused_and_kept(net: Net, clock: FakeClock) -> None:
    _, app = with_broken(net, clock)
    with pytest.raises(ProviderInvalid, match="base_url"):
        app.load_set_aside(0, json.dumps(BROKEN))
    with pytest.raises(ImportInvalid, match="not valid JSON"):
        app.load_set_aside(0, "{")
    assert len(app.state.quarantine) == 1 and app.state.providers == []


def test_an_entry_can_be_removed(net: Net, clock: FakeClock) -> None:
    storage, app = with_broken(net, clock)
    app.remove_set_aside(0)
    assert saved(storage)["quarantine"] == []
