"""Real servers for the deployment tests: redis-server, gateway replicas, a built page.

Each runs as this test's own process on 127.0.0.1, with its files in a temp dir,
and is stopped at the end (nginx: `tests/deploy/nginx.py`). `make servers`
installs nginx, its brotli module and redis-server when missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.gateway.standins import closed_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from build import build  # noqa: E402

DEPLOY = ROOT / "deploy"
REDIS_SERVER = "/usr/bin/redis-server"
TOKEN = "deploy-test-token-0123456789"
free_port = closed_port  # a loopback port nothing listens on yet


def require(path: str) -> None:
    """Fail with the fix when a Debian package the suite runs is missing."""
    if not os.access(path, os.X_OK if not path.endswith(".so") else os.R_OK):
        raise AssertionError(f"{path} is missing: `make servers` installs it")


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str, seconds: float) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early ({process.returncode})")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds} s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, seconds: float = 10) -> None:
    """Stop a process we started: `sig`, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temp dir nginx's unprivileged workers can read (mkdtemp makes it 0700), then gone."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def built_page(gateway_url: str) -> Iterator[Path]:
    """`make dist` into a temp dir, the page's gateway set to `gateway_url`."""
    with temp_dir("detour-dist-") as where:
        yield build({"LITELLM_GATEWAY_ENDPOINT": gateway_url}, where / "dist")


@contextmanager
def running_redis() -> Iterator[int]:
    """Debian's redis-server on a loopback port, nothing saved to disk; yields the port."""
    require(REDIS_SERVER)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="detour-redis-"))
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port, process, "redis-server", 15)
        client = redis.Redis(host="127.0.0.1", port=port)
        assert client.ping() is True
        client.close()
        yield port
    finally:
        stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Replica:
    """One gateway process (`python -m gateway`) on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """How nginx names it in `$upstream_addr`."""
        return f"127.0.0.1:{self.port}"


def replica_environment(
    config: Path, origins: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment README's "Deploying" gives every replica."""
    return {
        **os.environ,
        "GATEWAY_CONFIG": str(config),
        "GATEWAY_TOKEN": TOKEN,
        "GATEWAY_ALLOWED_ORIGINS": origins,
        "GATEWAY_ALLOW_PRIVATE_UPSTREAMS": "true",  # the stand-in providers are on loopback
        "GATEWAY_LOG_LEVEL": "warning",
        **(extra or {}),
    }


def start_replica(env: Mapping[str, str], logs: Path) -> Replica:
    """Start one replica on a free port (without waiting for it)."""
    port = free_port()
    log = logs / f"replica-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Replica(port, process, log)


def wait_ready(replica: Replica, model: str, seconds: float = 180) -> None:
    """Wait for /health, then for one chat on `model` (LiteLLM loads in the background)."""
    wait_listening(replica.port, replica.process, f"replica on {replica.port}", seconds)
    request = urllib.request.Request(
        f"{replica.url}/v1/chat/completions",
        data=f'{{"model":"{model}","messages":[{{"role":"user","content":"warm-up"}}]}}'.encode(),
        headers={"Content-Type": "application/json", "X-Detour-Token": TOKEN},
    )
    with urllib.request.urlopen(request, timeout=seconds) as response:
        assert response.status == 200, f"warm-up chat on {replica.url}: {response.status}"


@contextmanager
def running_replicas(
    count: int, env: Mapping[str, str], warm_model: str = "detour-demo"
) -> Iterator[list[Replica]]:
    """`count` replicas with the same environment, each ready to chat."""
    with ExitStack() as stack:
        logs = stack.enter_context(temp_dir("detour-replicas-"))  # removed after the stops
        replicas = []
        for _ in range(count):
            replica = start_replica(env, logs)
            stack.callback(stop, replica.process)
            replicas.append(replica)
        try:
            for replica in replicas:
                wait_ready(replica, warm_model)
        except BaseException:
            for replica in replicas:
                stop(replica.process)
                sys.stderr.write(replica.log.read_text(errors="replace")[-2000:])
            raise
        yield replicas
