"""`make run`'s launcher: a port left in TIME_WAIT is free, and it waits on its own gateway."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.gateway.standins import closed_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import run  # noqa: E402

RUNNING = b"Detour is running"


def leave_time_wait(port: int) -> None:
    """Accept one connection on `port` and close it from the server side first, as a web
    server does, so the server's end of it sits in TIME_WAIT."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", port))
        server_side, _ = listener.accept()
        server_side.close()
        client.recv(1)  # sees the server's FIN
        client.close()


def test_a_port_in_time_wait_counts_as_free() -> None:
    port = closed_port()
    leave_time_wait(port)
    run.check_free("127.0.0.1", str(port), "DETOUR_PORT")


def test_a_listening_port_is_refused_naming_the_variable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(SystemExit, match="set GATEWAY_PORT to another port"):
            run.check_free("127.0.0.1", str(port), "GATEWAY_PORT")


@contextmanager
def launcher(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "run.py")],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_for_running(process: subprocess.Popen[bytes], seconds: float = 60) -> bytes:
    """Read the launcher's output until it says it is running; fail if it exits first."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + seconds
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        chunk = process.stdout.read() or b""
        seen += chunk
        if RUNNING in seen:
            return seen
        if process.poll() is not None:
            seen += process.stdout.read() or b""
            pytest.fail(f"the launcher exited ({process.returncode}): {seen.decode()[-500:]}")
        time.sleep(0.1)
    pytest.fail(f"the launcher was not running after {seconds:.0f} s: {seen.decode()[-500:]}")


def test_stopped_and_started_again_at_once_it_starts() -> None:
    env = {"DETOUR_PORT": str(closed_port()), "GATEWAY_PORT": str(closed_port())}
    page = f"http://127.0.0.1:{env['DETOUR_PORT']}/"
    with launcher(env) as first:
        wait_for_running(first)
        for _ in range(3):  # connections the page server closes: TIME_WAIT on its port
            with urllib.request.urlopen(page, timeout=10) as answer:
                assert answer.status == 200
    assert first.returncode == 0
    # What a browser's connections leave behind when the server closed them first.
    leave_time_wait(int(env["DETOUR_PORT"]))
    leave_time_wait(int(env["GATEWAY_PORT"]))
    with launcher(env) as second:
        output = wait_for_running(second)
    assert b"not available" not in output


def test_it_waits_for_the_gateway_it_started_not_the_pages_endpoint() -> None:
    elsewhere = f"http://127.0.0.1:{closed_port()}"
    env = {
        "DETOUR_PORT": str(closed_port()),
        "GATEWAY_PORT": str(closed_port()),
        "LITELLM_GATEWAY_ENDPOINT": elsewhere,
    }
    with launcher(env) as process:
        output = wait_for_running(process, seconds=45)
    assert f"the page uses the gateway at {elsewhere}".encode() in output
