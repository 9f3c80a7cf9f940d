"""Which upstreams the relay and the probe may reach — decided without connecting.

Rules, in the order they are checked (the rule name is the error `code`):

- ``scheme``: only http and https.
- ``allowlist``: when GATEWAY_UPSTREAM_ALLOWLIST is set, only those host names.
- ``metadata``: cloud metadata names and addresses (169.254.169.254,
  fd00:ec2::254, metadata.google.internal, ...). Always refused, even with
  private upstreams allowed: no local model server lives there, and a relay
  that can reach it leaks cloud credentials.
- ``localhost``: `localhost` and `*.localhost` names (private upstreams only).
- ``resolve``: the resolver gave an answer that is not an address.

A name that does not resolve at all is not a refusal but `Unreachable` (502).
- ``multicast`` / ``unspecified`` / ``reserved``: never a valid upstream.
- ``private_address``: any answer (or IPv4 embedded in an IPv6 answer:
  mapped, compatible, 6to4, NAT64, Teredo) that is not globally routable —
  allowed only with GATEWAY_ALLOW_PRIVATE_UPSTREAMS.

The name is resolved once; the relay then connects to a checked address
(see `gateway.pinning`), so DNS rebinding cannot swap it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.errors import BadRequest, PolicyRefused, Unreachable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
IPV4_RESERVED = ipaddress.ip_network("240.0.0.0/4")  # incl. broadcast; never an upstream
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-FxX.]+$")


@dataclass(frozen=True, slots=True)
class UpstreamPolicy:
    """What the operator allows."""

    allow_private: bool = False
    allowlist: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class CheckedUpstream:
    """An upstream URL that passed the policy, with the addresses to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


class CachingResolver:
    """Remembers answers for a few seconds so a busy relay does not resolve every request."""

    def __init__(self, resolver: Resolver, ttl: float = 10.0) -> None:
        self._resolver = resolver
        self._ttl = ttl
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        cached = self._answers.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        answers = await self._resolver(host, port)
        if len(self._answers) > 1024:
            self._answers.clear()
        self._answers[(host, port)] = (now + self._ttl, answers)
        return answers


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's getaddrinfo (runs in a thread)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def literal_address(host: str) -> IPAddress | None:
    """The address a host spelled as an IP literal means, in any spelling getaddrinfo accepts."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:  # decimal 2130706433, hex 0x7f000001, octal 0177.0.0.1, short 127.1
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 one (mapped, compatible, 6to4, NAT64, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    as_int = int(address)
    if as_int >> 32 == 0 and as_int > 1:  # ::a.b.c.d (IPv4-compatible, deprecated)
        found.append(ipaddress.IPv4Address(as_int & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if any(address in net for net in NAT64):
        found.append(ipaddress.IPv4Address(as_int & 0xFFFFFFFF))
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def address_refusal(address: IPAddress, policy: UpstreamPolicy) -> tuple[str, str] | None:
    """(rule, reason) when `address` may not be an upstream, else None."""
    if address in METADATA_ADDRESSES:
        return "metadata", f"{address} is a cloud metadata address"
    if address.is_multicast:
        return "multicast", f"{address} is a multicast address"
    if address.is_unspecified:
        return "unspecified", f"{address} is the unspecified address"
    for inner in embedded_ipv4(address):
        refusal = address_refusal(inner, policy)
        if refusal is not None:
            rule, reason = refusal
            return rule, f"{address} embeds {inner}: {reason}"
    if isinstance(address, ipaddress.IPv4Address) and address in IPV4_RESERVED:
        return "reserved", f"{address} is a reserved address"
    if not address.is_global and not policy.allow_private:
        return (
            "private_address",
            f"{address} is not a public address (private, loopback, link-local or shared); "
            "set GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true to relay to local servers",
        )
    return None


def parse_upstream(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an upstream URL, or BadRequest/PolicyRefused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"upstream URL is not valid: {exc}", code="bad_upstream") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise PolicyRefused(
            "upstream refused by policy rule 'scheme': "
            f"only http and https, not {scheme or 'none'!r}",
            code="scheme",
        )
    host = (parts.hostname or "").rstrip(".")
    try:  # the spelling the HTTP client connects with (punycode)
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise BadRequest(
            f"upstream host {host!r} is not a valid name", code="bad_upstream"
        ) from None
    if not host:
        raise BadRequest(
            "upstream URL has no host, e.g. https://api.z.ai/api/paas/v4", code="bad_upstream"
        )
    return scheme, host, port or (443 if scheme == "https" else 80)


def _refuse(rule: str, host: str, reason: str) -> PolicyRefused:
    return PolicyRefused(f"upstream {host} refused by policy rule '{rule}': {reason}", code=rule)


async def check_upstream(
    url: str, policy: UpstreamPolicy, resolver: Resolver = system_resolver
) -> CheckedUpstream:
    """Check `url` against the policy, resolving its host once.

    Raises PolicyRefused for a forbidden upstream, Unreachable for a name that
    does not resolve.
    """
    scheme, host, port = parse_upstream(url)
    if policy.allowlist is not None and host not in policy.allowlist:
        raise _refuse("allowlist", host, "not in GATEWAY_UPSTREAM_ALLOWLIST")
    if host in METADATA_NAMES:
        raise _refuse("metadata", host, "cloud metadata service")
    literal = literal_address(host)
    if (
        literal is None
        and (host == "localhost" or host.endswith(".localhost"))
        and not policy.allow_private
    ):
        raise _refuse("localhost", host, "names under localhost are this machine")
    if literal is not None:
        answers = [literal]
    else:
        try:
            resolved = await resolver(host, port)
        except OSError as exc:  # a name that does not resolve is unreachable, not forbidden
            raise Unreachable(
                f"upstream {host} could not be found: the name does not resolve "
                f"({exc.__class__.__name__})"
            ) from None
        try:
            answers = [ipaddress.ip_address(a) for a in resolved]
        except ValueError:
            raise _refuse("resolve", host, "the resolver gave a malformed answer") from None
        if not answers:
            raise Unreachable(f"upstream {host} could not be found: the name has no address")
    for answer in answers:
        refusal = address_refusal(answer, policy)
        if refusal is not None:
            raise _refuse(refusal[0], host, refusal[1])
    return CheckedUpstream(
        url=url, scheme=scheme, host=host, port=port, addresses=tuple(str(a) for a in answers)
    )
