"""The upstream transport over TLS: SNI and certificate checks use the name, not the address."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.pinning import pinned
from gateway.policy import CheckedUpstream
from gateway.upstream import UpstreamTransport
from tests.gateway.standins import openai_standin

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=provider.test", "-addext", "subjectAltName=DNS:provider.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_upstream(certificate: tuple[Path, Path]) -> Iterator[int]:
    cert, key = certificate
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        openai_standin(), log_level="warning", ssl_certfile=str(cert), ssl_keyfile=str(key)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(10)
    sock.close()


async def fetch(transport: UpstreamTransport, name: str, port: int) -> httpx.Response:
    url = f"https://{name}:{port}/v1/models"
    checked = CheckedUpstream(url, "https", name, port, ("127.0.0.1",))
    with pinned(checked):
        response = await transport.handle_async_request(httpx.Request("GET", url))
    await response.aread()
    return response


async def test_tls_uses_the_name_for_sni_and_verification(
    certificate: tuple[Path, Path], tls_upstream: int
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    transport = UpstreamTransport(ssl_context=trusted)
    response = await fetch(transport, "provider.test", tls_upstream)
    assert response.status_code == 200 and b"standin-model" in response.content
    # Another name on the same checked address fails the certificate check.
    with pytest.raises(httpx.ConnectError):
        await fetch(transport, "other.test", tls_upstream)
    await transport.aclose()


async def test_tls_refuses_an_untrusted_certificate(tls_upstream: int) -> None:
    transport = UpstreamTransport()  # the default trust store does not know the stand-in
    with pytest.raises(httpx.ConnectError):
        await fetch(transport, "provider.test", tls_upstream)
    await transport.aclose()
