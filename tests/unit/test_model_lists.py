"""A long model list is saved apart from the state, once per change, and comes back."""

from __future__ import annotations

from tests.unit.conftest import Net, make_provider
from tests.unit.test_app import make_app, saved, seeded
from web.clock import FakeClock
from web.model_lists import PREFIX


def test_a_long_model_list_is_kept_out_of_the_state_and_written_once(
    net: Net, clock: FakeClock
) -> None:
    storage = seeded(make_provider())
    app = make_app(net, clock, storage)
    app.state.providers[0].models = [f"model-{i}" for i in range(50_000)]
    app.save_state()
    assert saved(storage)["providers"][0]["models"] == []
    assert len(storage.data[PREFIX + "zai"]) > 500_000
    storage.writes = 0
    app.select("zai", "model-7")  # an ordinary save
    assert storage.writes < 5_000


def test_the_long_list_comes_back_on_reload(net: Net, clock: FakeClock) -> None:
    storage = seeded(make_provider())
    app = make_app(net, clock, storage)
    app.state.providers[0].models = [f"model-{i}" for i in range(1_000)]
    app.save_state()
    again = make_app(net, clock, storage)
    assert len(again.state.providers[0].models) == 1_000
    assert "models_saved_apart" not in again.state.providers[0].extra


def test_a_long_list_saved_inside_the_state_is_moved_apart_at_load(
    net: Net, clock: FakeClock
) -> None:
    storage = seeded(make_provider(models=[f"m{i}" for i in range(1_000)]))
    make_app(net, clock, storage)
    assert saved(storage)["providers"][0]["models"] == []
    assert PREFIX + "zai" in storage.data
