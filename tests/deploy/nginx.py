"""Debian's nginx running the site files in `deploy/nginx/` on loopback.

The site files run as they are, with only their site-specific values (listen
address, root, the upstream's replica list) swapped for the test's; the main
config around them, which Debian's `/etc/nginx/nginx.conf` provides on a real
host, is written here, with every path in a temp dir. The access log records
which replicas nginx tried for each request.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.servers import DEPLOY, require, stop, temp_dir, wait_listening

NGINX = "/usr/sbin/nginx"
BROTLI_MODULE = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so"
# What the test's access log records per request: which replicas nginx tried.
LOG_FORMAT = (
    '$msec "$request_method $uri" "$http_x_test_id" "$upstream_addr" "$upstream_status" $status'
)
UPSTREAM_SERVER = re.compile(
    r"^(?P<indent>[ \t]*)server 127\.0\.0\.1:\d+(?P<params>[^;\n]*);\n", re.MULTILINE
)


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
    with temp_dir("detour-nginx-") as prefix:
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
