"""Real servers for the deployment tests: Debian's nginx and redis-server, gateway replicas.

Each runs as this test's own process on 127.0.0.1, with its files in a temp dir,
and is stopped at the end. nginx runs the site files in `deploy/nginx/` as they
are, with only their site-specific values (listen address, root, the upstream's
replica list) swapped for the test's; the main config around them, which Debian's
`/etc/nginx/nginx.conf` provides on a real host, is written here. `make servers`
installs nginx, its brotli module and redis-server when missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.gateway.standins import closed_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from build import build  # noqa: E402

DEPLOY = ROOT / "deploy"
NGINX = "/usr/sbin/nginx"
REDIS_SERVER = "/usr/bin/redis-server"
BROTLI_MODULE = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so"
TOKEN = "deploy-test-token-0123456789"
# What the test's access log records per request: which replicas nginx tried.
LOG_FORMAT = (
    '$msec "$request_method $uri" "$http_x_test_id" "$upstream_addr" "$upstream_status" $status'
)
free_port = closed_port  # a loopback port nothing listens on yet
UPSTREAM_SERVER = re.compile(
    r"^(?P<indent>[ \t]*)server 127\.0\.0\.1:\d+(?P<params>[^;\n]*);\n", re.MULTILINE
)


def require(path: str) -> None:
    """Fail with the fix when a Debian package the suite runs is missing."""
    if not os.access(path, os.X_OK if not path.endswith(".so") else os.R_OK):
        raise AssertionError(f"{path} is missing: `make servers` installs it")


def site(name: str, replacements: Mapping[str, str]) -> str:
    """`deploy/nginx/<name>` with its site-specific values replaced (each must be there)."""
    text = (DEPLOY / "nginx" / name).read_text()
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"deploy/nginx/{name} no longer contains {old!r}")
        text = text.replace(old, new)
    return text


def with_replicas(text: str, ports: Sequence[int]) -> str:
    """The upstream's `server 127.0.0.1:N ...;` lines replaced by one per replica port."""
    found = list(UPSTREAM_SERVER.finditer(text))
    if not found:
        raise AssertionError("deploy/nginx/gateway.conf lists no `server 127.0.0.1:N` replica")
    indent, params = found[0]["indent"], found[0]["params"]
    lines = "".join(f"{indent}server 127.0.0.1:{port}{params};\n" for port in ports)
    return text[: found[0].start()] + lines + text[found[-1].end() :]


def page_site(port: int, root: Path) -> str:
    """deploy/nginx/page.conf serving `root` on 127.0.0.1:port."""
    return site("page.conf", {"listen 80;": f"listen 127.0.0.1:{port};",
                              "root /srv/detour/dist;": f"root {root};"})  # fmt: skip


def gateway_site(port: int, replica_ports: Sequence[int]) -> str:
    """deploy/nginx/gateway.conf on 127.0.0.1:port in front of the given replicas."""
    return with_replicas(site("gateway.conf", {"listen 80;": f"listen 127.0.0.1:{port};"}),
                         replica_ports)  # fmt: skip


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


def temp_dir(prefix: str) -> Path:
    """A temp dir nginx's unprivileged workers can read (mkdtemp makes it 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@contextmanager
def built_page(gateway_url: str) -> Iterator[Path]:
    """`make dist` into a temp dir, the page's gateway set to `gateway_url`."""
    where = temp_dir("detour-dist-")
    try:
        yield build({"LITELLM_GATEWAY_ENDPOINT": gateway_url}, where / "dist")
    finally:
        shutil.rmtree(where, ignore_errors=True)


@dataclass(frozen=True)
class AccessEntry:
    """One line of the test nginx's access log."""

    ended: float
    request: str
    test_id: str
    upstreams: tuple[str, ...]
    upstream_statuses: tuple[str, ...]
    status: int


@dataclass
class Nginx:
    """A running nginx: its prefix dir and log files."""

    prefix: Path
    process: subprocess.Popen[bytes]

    def access_log(self) -> list[AccessEntry]:
        """Parsed access log lines (the log is written as each request ends)."""
        entries = []
        pattern = re.compile(r'^(\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" (\d+)$')
        for line in (self.prefix / "access.log").read_text().splitlines():
            match = pattern.match(line)
            if match is None:
                raise AssertionError(f"unexpected access log line: {line!r}")
            ended, request, test_id, addrs, statuses, status = match.groups()
            entries.append(AccessEntry(
                float(ended), request, test_id,
                tuple(a.strip() for a in addrs.split(",")) if addrs != "-" else (),
                tuple(s.strip() for s in statuses.split(",")) if statuses != "-" else (),
                int(status),
            ))  # fmt: skip
        return entries

    def error_log(self) -> str:
        return (self.prefix / "error.log").read_text()


def main_config(prefix: Path, sites: Sequence[Path]) -> str:
    """What Debian's /etc/nginx/nginx.conf does on a host, with every path in `prefix`."""
    includes = "\n".join(f"    include {path};" for path in sites)
    temps = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""load_module {BROTLI_MODULE};
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{
    worker_connections 1024;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    log_format detour_test '{LOG_FORMAT}';
    access_log {prefix / "access.log"} detour_test;
{temps}
{includes}
}}
"""


@contextmanager
def running_nginx(sites: Sequence[str], ports: Sequence[int]) -> Iterator[Nginx]:
    """Debian's nginx with `sites` (server blocks) on loopback, in the foreground."""
    require(NGINX)
    require(BROTLI_MODULE)
    prefix = temp_dir("detour-nginx-")
    try:
        paths = []
        for number, text in enumerate(sites):
            path = prefix / f"site{number}.conf"
            path.write_text(text)
            paths.append(path)
        conf = prefix / "nginx.conf"
        conf.write_text(main_config(prefix, paths))
        command = [NGINX, "-p", f"{prefix}/", "-e", str(prefix / "error.log"), "-c", str(conf)]
        checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
        if checked.returncode != 0:
            raise AssertionError(f"nginx rejects the config: {checked.stderr.strip()}")
        process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        try:
            for port in ports:
                wait_listening(port, process, "nginx", 15)
            yield Nginx(prefix, process)
        finally:
            stop(process, signal.SIGQUIT)  # graceful: let workers finish writing the log
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


@contextmanager
def running_redis() -> Iterator[int]:
    """Debian's redis-server on a loopback port, nothing saved to disk; yields the port."""
    require(REDIS_SERVER)
    port = free_port()
    workdir = temp_dir("detour-redis-")
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
    logs = temp_dir("detour-replicas-")
    with ExitStack() as stack:
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
    shutil.rmtree(logs, ignore_errors=True)
