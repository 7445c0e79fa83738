"""Nodes announced on the ledger (``announce_node``), on every backend.

Part of :class:`tests.conformance.backend.BackendConformance`. Announcements are signed
transactions sent straight to the port, past every service, so what is checked is the
core's rule as each backend applies it: who may announce an organisation's node, which
URLs are refused, and that the latest announcement wins and is kept.
"""

from __future__ import annotations

from typing import Any

import pytest

from carbonledger.core.rules.nodes import announced_nodes
from carbonledger.core.tx import SignedTx, build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput, PermissionDenied
from tests.conformance.world import LEDGER_ID, World, reopen


def _announce(w: World, key: PrivateKey, url: str, org: str = "acme") -> SignedTx:
    item: dict[str, Any] = {"kind": "node", "org": org, "url": url}
    nonce = w.ledger.state().next_nonce(key.address)
    return build_tx(
        key, tx_type="announce_node", ledger_id=LEDGER_ID, nonce=nonce, created=utc_now(),
        items=[item],
    )  # fmt: skip


class NodeConformance:
    """``announce_node`` through the port; whether the port's entries are ordered by a
    chain that other nodes write to."""

    #: Whether the backend's entries are ordered by a chain other nodes write to, where
    #: an entry may come back void (the EVM backends set it).
    FOLLOWS_CHAIN = False

    def test_the_port_says_whether_a_chain_orders_its_entries_and_settles_what_it_took(
        self, w: World
    ) -> None:
        assert w.ledger.follows_chain is self.FOLLOWS_CHAIN
        w.ledger.submit([_announce(w, w.admin, "https://acme.example")])
        w.ledger.settle()  # nothing queued is left: it returns, the entry in the ledger
        assert announced_nodes(w.ledger.state()) == [("acme", "https://acme.example")]

    def test_only_an_organisations_admin_announces_its_node_and_the_latest_wins(
        self, w: World
    ) -> None:
        with pytest.raises(PermissionDenied, match="is not an admin of 'acme'"):
            w.ledger.submit([_announce(w, w.alice, "http://alice.example")])  # a member
        with pytest.raises(PermissionDenied, match="is not an admin of 'globex'"):
            w.ledger.submit([_announce(w, w.alice, "http://alice.example", "globex")])
        bad = (
            "http://acme.example\n",  # a final newline is no part of a URL
            "ftp://acme.example",
            "http://acme example",
            "http://user@acme.example",
            "http://acme.example/#x",
            "http://" + "a" * 194,  # 201 characters
        )
        for url in bad:
            with pytest.raises(InvalidInput, match=r"is not a node.s base URL|longer than 200"):
                w.ledger.submit([_announce(w, w.admin, url)])
        # acme has no admin of its own yet: the network admin announces for it.
        w.ledger.submit([_announce(w, w.admin, "http://127.0.0.1:8000")])
        assert announced_nodes(w.ledger.state()) == [("acme", "http://127.0.0.1:8000")]
        ada = w.user("acme", "ada", ["org_admin"])
        with pytest.raises(PermissionDenied, match="has its own admin"):
            w.ledger.submit([_announce(w, w.admin, "http://admin.example")])
        w.ledger.submit([_announce(w, ada, "https://node.acme.example:8443/carbon")])
        w.ledger = reopen(w.ledger, w.admin)
        state = w.ledger.state()
        assert announced_nodes(state) == [("acme", "https://node.acme.example:8443/carbon")]
        assert state.orgs["acme"]["node"]["by"] == ada.address
        report = w.ledger.verify()
        assert report.ok, report.error
