"""The relay policy, checked without connecting: hostile URLs, fake DNS answers, the pin."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx
import pytest

from gateway.errors import BadRequest, PolicyRefused, Unreachable
from gateway.pinning import pinned
from gateway.policy import (
    CachingResolver,
    CheckedUpstream,
    UpstreamPolicy,
    check_upstream,
    embedded_ipv4,
    literal_address,
)
from gateway.upstream import UpstreamTransport
from tests.gateway.conftest import NonLoopbackAttempt, fake_resolver, loopback_only

STRICT = UpstreamPolicy()
PRIVATE_OK = UpstreamPolicy(allow_private=True)
DNS = fake_resolver(
    {
        "api.example.com": ["93.184.216.34"],
        "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
        "internal.example.com": ["10.0.0.7"],
        "mixed.example.com": ["93.184.216.34", "192.168.0.5"],
        "mixed6.example.com": ["2606:2800:220:1:248:1893:25c8:1946", "::1"],
        "rebind.example.com": ["127.0.0.1"],
        "meta.example.com": ["169.254.169.254"],
        "mapped.example.com": ["::ffff:10.0.0.1"],
    }
)

HOSTILE = [
    ("http://10.0.0.1/v1", "private_address"),
    ("http://10.255.255.255/", "private_address"),
    ("http://172.16.0.1/", "private_address"),
    ("http://172.31.255.254/", "private_address"),
    ("http://192.168.1.1/", "private_address"),
    ("http://127.0.0.1:11434/", "private_address"),
    ("http://127.8.9.10/", "private_address"),
    ("http://localhost:8080/", "localhost"),
    ("http://LOCALHOST./", "localhost"),
    ("http://foo.localhost/", "localhost"),
    ("http://[::1]/", "private_address"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://169.254.1.1/", "private_address"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://METADATA.GOOGLE.INTERNAL./", "metadata"),
    ("http://2130706433/", "private_address"),
    ("http://0x7f000001/", "private_address"),
    ("http://0177.0.0.1/", "private_address"),
    ("http://127.1/", "private_address"),
    ("http://0x7f.1/", "private_address"),
    ("http://[::ffff:127.0.0.1]/", "private_address"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[::127.0.0.1]/", "private_address"),
    ("http://[64:ff9b::7f00:1]/", "private_address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
    ("http://[2002:7f00:1::]/", "private_address"),
    (
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "private_address",
    ),  # Teredo, client 127.0.0.1
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://100.64.0.1/", "private_address"),
    ("http://240.0.0.1/", "reserved"),
    ("http://[fc00::1]/", "private_address"),
    ("http://[fe80::1]/", "private_address"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://example.com:70/_x", "scheme"),
    ("ftp://example.com/", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("http://internal.example.com/v1", "private_address"),
    ("http://mixed.example.com/v1", "private_address"),
    ("https://mixed6.example.com/v1", "private_address"),
    ("http://rebind.example.com/", "private_address"),
    ("http://meta.example.com/", "metadata"),
    ("http://mapped.example.com/", "private_address"),
]


@pytest.mark.parametrize(("url", "rule"), HOSTILE)
async def test_hostile_upstream_is_refused_naming_the_rule(url: str, rule: str) -> None:
    with pytest.raises(PolicyRefused) as refused:
        await check_upstream(url, STRICT, DNS)
    assert refused.value.code == rule
    assert rule in refused.value.message
    assert refused.value.status == 403


async def test_a_name_that_does_not_resolve_is_unreachable_not_refused() -> None:
    with pytest.raises(Unreachable) as unreachable:
        await check_upstream("http://nxdomain.example.com/", STRICT, DNS)
    assert unreachable.value.status == 502
    assert "does not resolve" in unreachable.value.message


@pytest.mark.parametrize(
    "url",
    ["https://api.example.com/v1", "http://api.example.com:8080/x", "https://v6.example.com/",
     "https://93.184.216.34/v1", "https://[2606:2800:220:1:248:1893:25c8:1946]/"],
)  # fmt: skip
async def test_public_upstream_passes_with_its_checked_addresses(url: str) -> None:
    checked = await check_upstream(url, STRICT, DNS)
    assert checked.addresses
    assert all(ipaddress.ip_address(a).is_global for a in checked.addresses)
    assert checked.port in (443, 80, 8080)


async def test_private_upstreams_allowed_only_by_setting() -> None:
    dns = fake_resolver({"localhost": ["127.0.0.1"], "internal.example.com": ["10.0.0.7"]})
    urls = ["http://127.0.0.1:11434/", "http://localhost:11434/", "http://internal.example.com/",
            "http://[::1]:8080/", "http://192.168.1.20/", "http://[::ffff:127.0.0.1]/"]  # fmt: skip
    for url in urls:
        with pytest.raises(PolicyRefused):
            await check_upstream(url, STRICT, dns)
        assert (await check_upstream(url, PRIVATE_OK, dns)).addresses


@pytest.mark.parametrize(
    ("url", "rule"),
    [("http://169.254.169.254/", "metadata"), ("http://metadata.google.internal/", "metadata"),
     ("http://[fd00:ec2::254]/", "metadata"), ("http://224.0.0.1/", "multicast"),
     ("http://0.0.0.0/", "unspecified"), ("file:///etc/passwd", "scheme")],
)  # fmt: skip
async def test_metadata_multicast_and_schemes_stay_refused_with_private_allowed(
    url: str, rule: str
) -> None:
    with pytest.raises(PolicyRefused) as refused:
        await check_upstream(url, PRIVATE_OK, DNS)
    assert refused.value.code == rule


async def test_allowlist_limits_names_and_still_checks_addresses() -> None:
    policy = UpstreamPolicy(allowlist=frozenset({"api.example.com", "internal.example.com"}))
    assert (
        await check_upstream("https://api.example.com/v1", policy, DNS)
    ).host == "api.example.com"
    with pytest.raises(PolicyRefused) as other:
        await check_upstream("https://v6.example.com/v1", policy, DNS)
    assert other.value.code == "allowlist"
    with pytest.raises(PolicyRefused) as private:
        await check_upstream("https://internal.example.com/v1", policy, DNS)
    assert private.value.code == "private_address"


async def test_resolver_is_called_once_per_check() -> None:
    calls: list[str] = []

    async def counting(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["93.184.216.34"]

    await check_upstream("https://api.example.com/v1", STRICT, counting)
    assert calls == ["api.example.com"]
    cached = CachingResolver(counting, ttl=60)
    await cached("api.example.com", 443)
    await cached("api.example.com", 443)
    assert calls == ["api.example.com", "api.example.com"]


async def test_malformed_urls_are_bad_requests() -> None:
    for url in ("http://", "https://:80/x", "http://[::1/"):
        with pytest.raises((BadRequest, PolicyRefused)):
            await check_upstream(url, STRICT, DNS)


def test_literal_spellings_normalize_like_inet_aton() -> None:
    assert str(literal_address("2130706433")) == "127.0.0.1"
    assert str(literal_address("0x7f000001")) == "127.0.0.1"
    assert str(literal_address("0177.0.0.1")) == "127.0.0.1"
    assert str(literal_address("127.1")) == "127.0.0.1"
    assert literal_address("api.example.com") is None
    assert literal_address("deadbeef") is None


def test_embedded_ipv4_is_extracted_from_every_ipv6_form() -> None:
    def inner(text: str) -> list[str]:
        return [str(a) for a in embedded_ipv4(ipaddress.ip_address(text))]

    assert "127.0.0.1" in inner("::ffff:127.0.0.1")
    assert "127.0.0.1" in inner("::127.0.0.1")
    assert "127.0.0.1" in inner("2002:7f00:1::")
    assert "127.0.0.1" in inner("64:ff9b::7f00:1")
    assert "127.0.0.1" in inner("2001:0:4136:e378:8000:63bf:80ff:fffe")
    assert inner("2606:2800:220:1:248:1893:25c8:1946") == []


async def test_upstream_transport_refuses_names_that_were_not_checked() -> None:
    transport = UpstreamTransport()
    with pytest.raises(httpx.ConnectError, match="not checked"):
        await transport.connect(("https", "api.example.com", 443), 1.0)
    other = CheckedUpstream("https://a.example/", "https", "a.example", 443, ("93.184.216.34",))
    with pinned(other), pytest.raises(httpx.ConnectError, match="not checked"):
        await transport.connect(("https", "b.example", 443), 1.0)


async def test_upstream_transport_connects_to_the_checked_address_not_the_name(
    upstream: str,
) -> None:
    port = int(upstream.rsplit(":", 1)[1])
    # The name would resolve elsewhere (or nowhere); the pin says 127.0.0.1.
    url = f"http://provider.test:{port}/v1/models"
    checked = CheckedUpstream(url, "http", "provider.test", port, ("127.0.0.1",))
    transport = UpstreamTransport()
    request = httpx.Request("GET", url, headers={"authorization": "Bearer sk-standin-key"})
    with pinned(checked):
        response = await transport.handle_async_request(request)
    body = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    assert response.status_code == 200 and b"standin-model" in body
    assert len(transport.idle[("http", "provider.test", port)]) == 1  # kept alive for reuse
    await transport.aclose()


def test_the_suite_guard_blocks_non_loopback_connections() -> None:
    with loopback_only() as attempts:
        with pytest.raises(NonLoopbackAttempt):
            socket.create_connection(("93.184.216.34", 80), timeout=0.1)
        with socket.socket() as sock, pytest.raises(NonLoopbackAttempt):
            sock.connect(("10.0.0.1", 80))
    assert len(attempts) == 2


async def test_upstream_transport_sweeps_connections_the_upstream_closed(upstream: str) -> None:
    port = int(upstream.rsplit(":", 1)[1])
    url = f"http://127.0.0.1:{port}/v1/models"
    checked = CheckedUpstream(url, "http", "127.0.0.1", port, ("127.0.0.1",))
    transport = UpstreamTransport(keepalive_expiry=0.05)
    with pinned(checked):
        response = await transport.handle_async_request(httpx.Request("GET", url))
    await response.aread()
    await response.aclose()
    assert len(transport.idle[("http", "127.0.0.1", port)]) == 1
    await asyncio.sleep(0.1)
    transport.sweep()
    assert transport.idle == {}
