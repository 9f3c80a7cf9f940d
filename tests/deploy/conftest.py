"""One cluster of gateway replicas behind nginx for the whole deployment suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.cluster import Cluster, running_cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """Started once: three replicas load LiteLLM, which costs seconds of CPU each."""
    with running_cluster() as running:
        yield running
