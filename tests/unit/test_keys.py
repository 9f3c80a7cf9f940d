"""A key kept for this session only never reaches saved state."""

from __future__ import annotations

from tests.unit.conftest import Net
from tests.unit.test_app import draft, make_app, saved
from web.clock import FakeClock
from web.keys import SESSION_KEYS
from web.store import MemoryStorage


def test_a_session_only_key_stays_out_of_saved_state(net: Net, clock: FakeClock) -> None:
    storage, session = MemoryStorage(), MemoryStorage()
    app = make_app(net, clock, storage)
    app.session_storage = session
    app.save_provider(draft(api_key="sk-only-now-1234", remember_key=False))
    assert "sk-only-now-1234" not in str(storage.data)
    assert saved(storage)["providers"][0]["key_storage"] == "session"
    assert "sk-only-now-1234" in session.data[SESSION_KEYS]
    assert app.state.providers[0].api_key == "sk-only-now-1234"  # still usable now


def test_the_session_key_comes_back_within_the_session_only(net: Net, clock: FakeClock) -> None:
    storage, session = MemoryStorage(), MemoryStorage()
    app = make_app(net, clock, storage)
    app.session_storage = session
    app.save_provider(draft(api_key="sk-only-now-1234", remember_key=False))
    from web.app import App

    def reopen(session_storage: MemoryStorage) -> App:
        return App(transport=net.transport, storage=storage, clock=clock, random=lambda: 0.5,
                   session_storage=session_storage)  # fmt: skip

    assert reopen(session).state.providers[0].api_key == "sk-only-now-1234"
    assert reopen(MemoryStorage()).state.providers[0].api_key == ""  # a new session asks again


def test_remembering_again_moves_the_key_back_to_the_device(net: Net, clock: FakeClock) -> None:
    storage, session = MemoryStorage(), MemoryStorage()
    app = make_app(net, clock, storage)
    app.session_storage = session
    provider = app.save_provider(draft(api_key="sk-k-1234", remember_key=False))
    app.save_provider(draft(api_key="sk-k-1234", remember_key=True), provider.id)
    assert saved(storage)["providers"][0]["api_key"] == "sk-k-1234"
    assert SESSION_KEYS not in session.data
