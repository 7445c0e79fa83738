"""Announced nodes at private addresses: an organisation's admin cannot make every node
send requests into the nodes' own networks.

An announcement is an admin's word, on a shared ledger, about where to ask; a node's
network is its operator's. A node asks an ANNOUNCED URL only when its host is (and
resolves to) a globally routable address: loopback, private, link-local, multicast,
unspecified and reserved addresses are refused before anything is sent, unless the
node's operator allows them (``evm.allow_private_peers``: ``chain attach
--allow-private-peers`` or ``chain peers --allow-private-peers``). Peers the operator
configured (``evm.peers``) are trusted as before. ``chain status`` and ``chain peers``
say why a refused peer is not used.

The "internal service" here is a real HTTP listener on loopback that records every
request it gets: a refusal must mean it heard nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from carbonledger.adapters.evm.peer_policy import address_refusal, url_refusal
from tests.cli_helpers import _clean
from tests.evm.test_announce import _first_with
from tests.evm.test_blobs import _blob_ids, _first, _stored
from tests.evm_homes import cli_json, cli_ok
from tests.process_helpers import free_port, run_cli, serving


@pytest.fixture
def internal() -> Iterator[tuple[int, list[str]]]:
    """A service on loopback that no announcement should reach: its port and the
    requests it heard ("METHOD path")."""
    heard: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            heard.append(f"GET {self.path}")
            self.send_error(404)

        def do_POST(self) -> None:
            heard.append(f"POST {self.path}")
            self.send_error(404)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), heard
    finally:
        server.shutdown()
        server.server_close()


def test_an_announced_private_address_is_never_asked_until_the_operator_allows_it(
    tmp_path: Path, node: Any, internal: tuple[int, list[str]]
) -> None:
    port, heard = internal
    first, contract = _first(tmp_path, node.url)  # bench's sealed records, on first only
    ids = _blob_ids(first)
    # bench's "admin" (here the network admin) points every node at a loopback service,
    # by a name that resolves to loopback: nothing in the URL itself says so.
    target = f"http://localhost:{port}"
    cli_ok(first, "chain", "announce", target, "--org", "bench")

    third = tmp_path / "third"
    out = _clean(cli_ok(third, "chain", "attach", "--rpc", node.url, "--contract", contract))
    assert "waiting for sealed blobs" in out
    status = cli_json(third, "chain", "status")
    assert status["entries_off_chain"] < status["entries_on_chain"]
    waiting = status["waiting_for_blobs"]
    assert waiting["peers_tried"] == []  # nothing was sent anywhere
    assert f"{target} refused" in waiting["reason"]
    assert "loopback" in waiting["reason"]
    assert "evm.allow_private_peers" in waiting["reason"]
    # The announcement is in an entry the node has not taken (it is after the sealed
    # ones): no peer of the node yet, only a place it would have asked.
    assert cli_json(third, "chain", "peers") == []
    res = run_cli(third, "chain", "sync")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "refused" in _clean(res.stderr)
    assert heard == []  # the internal service heard nothing, attach and sync both

    # Its operator allows private peers (a network of nodes on one private network):
    # the same announcement is asked, with the one fixed-shape request of the exchange.
    cli_ok(third, "chain", "peers", "--allow-private-peers")
    res = run_cli(third, "chain", "sync")
    assert res.returncode == 2
    assert heard == ["POST /api/v1/blobs"]
    with serving(first) as url:
        cli_ok(first, "chain", "announce", url, "--org", "bench")
        synced = cli_json(third, "chain", "sync")
    assert synced["entries_off_chain"] == synced["entries_on_chain"]
    assert cli_json(third, "verify")["ok"] is True
    assert all(_stored(third, b) is not None for b in ids)

    # ... and takes the permission back: the loopback node is refused again.
    cli_ok(third, "chain", "peers", "--refuse-private-peers")
    (listed,) = cli_json(third, "chain", "peers")
    assert listed["url"] == url
    assert "loopback" in listed["refused"]


def test_a_peer_the_operator_configured_is_trusted_at_a_private_address(
    tmp_path: Path, node: Any
) -> None:
    port = free_port()
    # bench's node announced at 127.0.0.1 before its sealed entries: a peer once taken.
    first, contract = _first_with(tmp_path, node.url, f"http://127.0.0.1:{port}")
    third = tmp_path / "third"
    with serving(first, port=port) as url:
        cli_ok(third, "chain", "attach", "--rpc", node.url, "--contract", contract)
        status = cli_json(third, "chain", "status")
        assert status["entries_off_chain"] < status["entries_on_chain"]
        assert status["peers"] == []
        assert [p["url"] for p in status["peers_refused"]] == [url]
        assert "loopback" in status["peers_refused"][0]["reason"]
        # The operator names the same node as a peer: its own word, trusted.
        cli_ok(third, "chain", "peers", "--add", url)
        synced = cli_json(third, "chain", "sync")
        assert synced["entries_off_chain"] == synced["entries_on_chain"]
        status = cli_json(third, "chain", "status")
    assert status["peers"] == [url]
    assert status["peers_refused"] == []
    assert status["waiting_for_blobs"] is None
    assert cli_json(third, "chain", "peers") == [
        {"url": url, "org": None, "source": "config", "refused": None}
    ]
    assert cli_json(third, "verify")["ok"] is True


# What each address is, from RFC 6890's special-purpose registries (IANA) as Python's
# ipaddress module reads them; the reason names the kind.
@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("[::1]", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("[fc00::1]", "private"),
        ("169.254.169.254", "link-local"),  # a cloud's metadata service
        ("[fe80::1]", "link-local"),
        ("224.0.0.1", "multicast"),
        ("[ff02::1]", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT (RFC 6598)
        ("192.0.2.1", "private"),  # documentation (RFC 5737), in ipaddress's private table
        ("[::ffff:10.0.0.1]", "private"),  # IPv4-mapped: the IPv4 address decides
        ("[2002:a00:1::1]", "private"),  # 6to4 of 10.0.0.1
    ],
)
def test_each_kind_of_non_public_address_is_refused_naming_it(host: str, kind: str) -> None:
    why = url_refusal(f"http://{host}:8000/node")
    assert why is not None
    assert kind in why


@pytest.mark.parametrize("host", ["8.8.8.8", "[2606:4700::1]", "203.0.114.1"])
def test_a_public_address_is_asked(host: str) -> None:
    assert url_refusal(f"https://{host}") is None


def test_a_name_that_resolves_to_loopback_is_refused() -> None:
    why = url_refusal("http://localhost:8000")
    assert why is not None
    assert "loopback" in why
    assert "localhost" in why
    assert address_refusal("127.0.0.1") == "a loopback address"
