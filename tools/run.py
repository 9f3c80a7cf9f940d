"""Start Detour locally: the gateway and the page server, stopped together by Ctrl-C.

A gateway that exits is started again (the page keeps running and shows the
gateway down, then back); one that keeps exiting stops everything with a line
saying so. The page server exiting stops both.

Hosts and ports come from the environment (see the README). The page learns the
gateway's address from `config.json` (LITELLM_GATEWAY_ENDPOINT).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import build, gateway_endpoint  # noqa: E402

LOOPBACK = ("127.0.0.1", "localhost", "::1")
RESTARTS = 5  # gateway restarts allowed within RESTART_WINDOW seconds
RESTART_WINDOW = 60.0


def environment() -> dict[str, str]:
    """The environment both servers run with, defaults filled in."""
    env = dict(os.environ)
    env.setdefault("DETOUR_HOST", "127.0.0.1")
    env.setdefault("DETOUR_PORT", "8000")
    env.setdefault("GATEWAY_HOST", "127.0.0.1")
    env.setdefault("GATEWAY_PORT", "4000")
    page_host = env["DETOUR_HOST"]
    origins = [f"http://{page_host}:{env['DETOUR_PORT']}"]
    if page_host in ("127.0.0.1", "localhost"):
        other = "localhost" if page_host == "127.0.0.1" else "127.0.0.1"
        origins.append(f"http://{other}:{env['DETOUR_PORT']}")
    env.setdefault("GATEWAY_ALLOWED_ORIGINS", ",".join(origins))
    if "GATEWAY_CONFIG" not in env:
        env.setdefault("GATEWAY_NAME", "Detour demo")
    # A gateway that only loopback can reach may relay to local servers (Ollama, LM Studio).
    if env["GATEWAY_HOST"] in LOOPBACK:
        env.setdefault("GATEWAY_ALLOW_PRIVATE_UPSTREAMS", "true")
    env.setdefault("LITELLM_GATEWAY_ENDPOINT", gateway_endpoint(env))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def check_free(host: str, port: str, variable: str) -> None:
    """Stop with a clear line when a port is taken, naming the variable that moves it.

    The probe binds as the servers do (uvicorn and the page server set SO_REUSEADDR), so
    connections of a just-stopped run, left in TIME_WAIT, do not count as taken: only a
    socket that is really listening there does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
        except OSError as error:
            raise SystemExit(
                f"run: {host}:{port} is not available ({error.strerror}); "
                f"stop what uses it or set {variable} to another port"
            ) from None


def own_gateway_url(env: dict[str, str]) -> str:
    """The gateway this run starts, at its own address (LITELLM_GATEWAY_ENDPOINT may be elsewhere,
    e.g. a proxy in front of it or another gateway the page should use)."""
    return gateway_endpoint(
        {"GATEWAY_HOST": env["GATEWAY_HOST"], "GATEWAY_PORT": env["GATEWAY_PORT"]}
    )


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"run: a server exited while starting ({url})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise SystemExit(f"run: {url} did not answer within {seconds:.0f} s")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> int:
    env = environment()
    check_free(env["DETOUR_HOST"], env["DETOUR_PORT"], "DETOUR_PORT")
    check_free(env["GATEWAY_HOST"], env["GATEWAY_PORT"], "GATEWAY_PORT")
    build(env)
    python = sys.executable
    started: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C, kill and a closed terminal all stop both servers, even when the
    # launcher inherited an ignored SIGINT (as background jobs do).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    def start_gateway() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [python, "-m", "gateway"], cwd=ROOT, env=env, start_new_session=True
        )

    try:
        gateway = start_gateway()
        started.append(gateway)
        page = subprocess.Popen(
            [python, str(ROOT / "tools" / "serve.py")], cwd=ROOT, env=env, start_new_session=True
        )
        started.append(page)
        page_url = f"http://{env['DETOUR_HOST']}:{env['DETOUR_PORT']}/"
        wait_until_up(own_gateway_url(env) + "/health/readiness", gateway, 180)
        wait_until_up(page_url, page)
        print(f"\nDetour is running: open {page_url}", flush=True)
        print(f"  gateway: {own_gateway_url(env)}   (Ctrl-C stops both)", flush=True)
        if env["LITELLM_GATEWAY_ENDPOINT"] != own_gateway_url(env):
            print(f"  the page uses the gateway at {env['LITELLM_GATEWAY_ENDPOINT']}", flush=True)
        print(flush=True)
        restarts: list[float] = []
        while page.poll() is None:
            if started[0].poll() is not None:
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
                if len(restarts) > RESTARTS:
                    print("run: the gateway keeps exiting; stopping", file=sys.stderr)
                    return 1
                code = started[0].returncode
                print(f"run: the gateway exited ({code}); starting it again", file=sys.stderr)
                started[0] = start_gateway()
            time.sleep(0.3)
        print("run: the page server stopped; stopping the gateway", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nrun: stopping", flush=True)
        return 0
    finally:
        stop(started)


if __name__ == "__main__":
    sys.exit(main())
