"""Three gateway replicas behind nginx, as README's "Deploying" sets them up.

The replicas run `python -m gateway` with deploy/gateway/model_list.example.yaml
(every api_base pointed at one stand-in provider), the environment README gives
them (token, the page's origin, the keys, Redis), and nginx runs
deploy/nginx/gateway.conf in front of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.nginx import Nginx, gateway_site, running_nginx
from tests.deploy.servers import (
    DEPLOY,
    Replica,
    free_port,
    replica_environment,
    running_redis,
    running_replicas,
    temp_dir,
)
from tests.gateway.standins import openai_standin, serve

PAGE_ORIGIN = "https://detour.example.test"
STANDIN_KEY = "sk-deploy-standin"
REPLY = "Replicas behind nginx: this reply streams in eight pieces of 8."  # 64 characters
REPLICAS = 3


@dataclass
class Cluster:
    """nginx in front of the replicas, and the stand-in provider behind them."""

    url: str
    nginx: Nginx
    replicas: list[Replica]
    provider: str
    provider_seen: list[dict[str, Any]]


def replica_model_list(provider: str, target: Path) -> Path:
    """The example model_list with every deployment's api_base pointed at `provider`."""
    data = yaml.safe_load((DEPLOY / "gateway" / "model_list.example.yaml").read_text())
    for deployment in data["model_list"]:
        deployment["litellm_params"]["api_base"] = f"{provider}/v1"
    target.write_text(yaml.safe_dump(data))
    return target


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """The stand-in (8 pieces 0.1 s apart, after 0.1 s), Redis, the replicas and nginx."""
    app = openai_standin(api_key=STANDIN_KEY, reply=REPLY, piece=8, pace=0.1, slow=0.1)
    with serve(app) as provider, running_redis() as redis_port, temp_dir("detour-") as scratch:
        config = replica_model_list(provider, scratch / "models.yaml")
        env = replica_environment(
            config,
            PAGE_ORIGIN,
            {"ZAI_API_KEY_A": STANDIN_KEY, "ZAI_API_KEY_B": STANDIN_KEY,
             "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_port)},
        )  # fmt: skip
        with running_replicas(REPLICAS, env, warm_model="team-chat") as replicas:
            port = free_port()
            site = gateway_site(port, [r.port for r in replicas])
            with running_nginx([site], [port]) as nginx:
                yield Cluster(f"http://127.0.0.1:{port}", nginx, replicas, provider, app.state.seen)
