"""Which peers a node asks for sealed blobs: an announced URL never reaches the node's
own network unless its operator allows it.

An announcement (``chain announce``) is an organisation admin's word, on a ledger every
node follows, about where to ask; the network a node runs in is its operator's. Without
a check, one admin could make every node send requests to addresses inside the nodes'
networks (a cloud's metadata service, an internal API on loopback): the requests have a
fixed shape and every answer is checked against a hash, but the request alone may do
harm. So a node asks an ANNOUNCED URL only when its host is, or resolves to, a globally
routable address; a loopback, private, link-local, multicast, unspecified, reserved or
otherwise non-global address is refused before anything is sent, with the reason,
unless the operator allows private peers (``evm.allow_private_peers`` in config.json:
nodes on one private network, the tests). Peers the operator configured (``evm.peers``)
are its own word and trusted as they are.

A name is resolved once for each request and the request goes to the address that was
checked (the name kept for the ``Host`` header and TLS), so a name that resolves to a
public address when checked and to a private one when connecting (DNS rebinding) does
not get through. Redirects are not followed (the exchange never follows them).

Why the core's rule does not refuse private addresses itself: a name's addresses are
known only by resolving it, which the core (pure, no I/O) cannot do and which differs
from node to node, so the check must be here anyway; whether a private address is
reachable and meant is a fact of the network the nodes share (a consortium on one
private network announces 10.x addresses usefully), which only each node's operator
knows; and a rule changed now would void announcements already on ledgers (those of
the demo and the tests, at 127.0.0.1), changing what their history means.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "ALLOW_PRIVATE_PEERS",
    "PeerPolicy",
    "Route",
    "address_refusal",
    "url_refusal",
]

#: The key of a node's config.json ``evm`` section that lets it ask announced peers at
#: non-public addresses.
ALLOW_PRIVATE_PEERS = "allow_private_peers"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_v4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo's client), if any:
    that address is where a request to it ends up."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_refusal(address: str) -> str | None:
    """Why a node does not ask an announced peer at ``address`` (an IP address), e.g.
    ``"a loopback address"``; None for a globally routable unicast address."""
    ip: Address = ipaddress.ip_address(address)
    inner = _embedded_v4(ip)
    if inner is not None and (why := address_refusal(str(inner))) is not None:
        return why
    # Most specific first: a loopback address is private too.
    for kind, test in (
        ("an unspecified", ip.is_unspecified),
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("a reserved", ip.is_reserved),
        ("a private", ip.is_private),
    ):
        if test:
            return f"{kind} address"
    if not ip.is_global:
        return "an address that is not globally routable"
    return None


def _addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (itself, for an IP literal); OSError if none."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in found))


@dataclass(frozen=True)
class Route:
    """Where a request to a peer goes: ``base`` (the peer's URL, or the same with the
    checked address in place of its name), with ``headers`` and ``extensions`` for the
    HTTP client; ``refused``: why the peer is not asked at all (None: it is)."""

    peer: str
    base: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)
    refused: str | None = None


def _split(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a peer's base URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, host, port, parts.path


def _checked(url: str) -> tuple[str | None, str]:
    """(why ``url``'s host is refused, or None; the address checked last)."""
    _, host, port, _ = _split(url)
    addresses = _addresses(host, port)
    for address in addresses:
        why = address_refusal(address)
        if why is not None:
            shown = host if host == address else f"{host} (resolves to {address})"
            return f"its host {shown} is {why}", address
    return None, addresses[0]


def url_refusal(url: str) -> str | None:
    """Why an announced peer at ``url`` is not asked (its host is, or resolves to, a
    non-public address), else None. A host that does not resolve is not refused: a
    request to it fails like one to a node that is down."""
    try:
        return _checked(url)[0]
    except (OSError, UnicodeError, ValueError):
        return None


class PeerPolicy:
    """Which peers a node asks and where its requests go: ``trusted()`` (the peers its
    operator configured) as they are; any other peer (announced) only at a public
    address, unless ``allow_private()``. Both are read at each request, so a running
    server follows its operator's config."""

    def __init__(
        self,
        trusted: Callable[[], Collection[str]] = tuple,
        allow_private: Callable[[], bool] = lambda: False,
    ) -> None:
        self.trusted = trusted
        self.allow_private = allow_private

    def _open(self, url: str) -> bool:
        return url.rstrip("/") in {t.rstrip("/") for t in self.trusted()} or self.allow_private()

    def refusal(self, url: str) -> str | None:
        """Why the node does not ask ``url`` (None: it does), for ``chain peers`` and
        ``chain status``."""
        if self._open(url):
            return None
        why = url_refusal(url)
        return None if why is None else f"{why} ({_HOW})"

    def route(self, url: str) -> Route:
        """Where a request to the peer at ``url`` goes, its host resolved and checked once
        (OSError if it does not resolve)."""
        if self._open(url):
            return Route(url, url)
        why, address = _checked(url)
        if why is not None:
            return Route(url, url, refused=f"{why} ({_HOW})")
        scheme, host, port, path = _split(url)
        shown = f"[{address}]" if ":" in address else address
        netloc = urlsplit(url).netloc
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        return Route(url, f"{scheme}://{shown}:{port}{path}", {"Host": netloc}, extensions)


#: How an operator lets a node ask announced peers at private addresses.
_HOW = (
    f"an announced peer at a non-public address is asked only with evm.{ALLOW_PRIVATE_PEERS}:"
    " chain peers --allow-private-peers"
)
