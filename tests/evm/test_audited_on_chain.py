"""Audited-emissions tokens on a chain: chain and nodes agree on each one.

The contract checks of an audited-emissions issuance only what it can: the signer holds
the auditor role and the token id is new. The rest of the core's rule (the auditor's
current access to the organisation's channel, the organisation registered, the scope,
the period, the manifest's Merkle root) needs state the contract does not keep. Such a
token, sent straight to the contract, used to be taken by the chain and refused by
every following node, stopping them all. The contract keeps nothing of an audited
token that a later entry on chain can use (it holds no balance, is never transferable
or minted again; its id stays taken, so a later issuance with it reverts), so the core
judges one that breaks its rule void on a chain, every node alike, as it does an entry
the contract keeps only the nonce of.

A token's ``report`` is the auditor's reference to its report, a label: the core does
not resolve it, so a token citing an audit report that is void on every node is judged
by its own rule, alike everywhere.

Each attack is signed by a real identity of the conformance world and sent straight to
the contract (anvil) with the sender's own rules off, as an attacker's node would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.builders import audited_token
from carbonledger.core.merkle import root_from_leaf_hashes
from carbonledger.errors import Conflict, PermissionDenied
from carbonledger.services.channels import grant
from tests.conformance.world import World
from tests.evm.test_channel_owners import send_unchecked
from tests.evm.test_follow_rules import new_node
from tests.evm.test_rules import _tx

#: One record attested, by its leaf hash (the core checks the manifest's root, which
#: for a single leaf is that leaf's hash as RFC 6962 hashes it: computed, not typed).
LEAF = "ab" * 32
MANIFEST = {
    "entries": [{"record": "rec-1", "leaf": LEAF}],
    "root": root_from_leaf_hashes([bytes.fromhex(LEAF)]).hex(),
}


def _audited(token_id: str, *, report: str | None = None, org: str = "acme") -> dict[str, Any]:
    return dict(
        audited_token(
            token_id=token_id,
            mg_co2e=1_250_000,
            org=org,
            scope="2-location",
            audited={"start": "2024-01-01", "end": "2024-12-31"},
            manifest=MANIFEST,
            report=report,
        )
    )


def test_audited_tokens_sent_straight_to_the_contract_are_judged_alike_by_chain_and_nodes(
    chain: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    w = chain
    ledger: Any = w.ledger
    alice, dana = w.alice, w.dana  # an acme member; an auditor with no access to acme
    entries = len(ledger.chain_entries())

    # 1. An audit report by alice, who is no auditor: void on every node.
    item = {"kind": "audit_report", "id": "rep-1", "org": "acme"}
    report = _tx(w, alice, "audit_report", [item])
    send_unchecked(ledger, report, monkeypatch)

    # 2. dana mints audited emissions of acme, whose records she may not read, citing it.
    forged = _tx(w, dana, "issue_token", [_audited("aud-1", report="rep-1")])
    no_access = f"{dana.address} is not a member of channel 'acme'"
    with pytest.raises(PermissionDenied, match=no_access):
        ledger.submit([forged])  # her own node's rules refuse it
    send_unchecked(ledger, forged, monkeypatch)  # the chain checks her role only

    # 3. acme grants dana access; she mints audited emissions citing the void report, and
    # the forged token's id stays taken on chain (the contract keeps it).
    grant(ledger, w.store, w.admin, "acme", dana.address, role="auditor")
    ledger.submit([_tx(w, dana, "issue_token", [_audited("aud-2", report="rep-1")])])
    dave = w.user("acme", "dave", ["member"])  # later entries, judged as ever

    node = new_node(ledger, tmp_path / "node")
    try:
        node.sync()  # before: "breaks a rule ... this node does not follow it"
        checked = node.verify()
        assert checked.ok, checked.error
        notes = " ".join(checked.notes)
        why = f"audit report: signer {alice.address} does not hold the auditor role"
        assert f"entry {entries + 1} is void: {why}" in notes
        assert f"entry {entries + 2} is void: {no_access}" in notes
        mine = ledger.verify()  # the node that sent them judges them alike
        assert mine.ok, mine.error
        assert " ".join(mine.notes) == notes
        for state in (node.state(), ledger.state()):
            assert "aud-1" not in state.tokens
            token = state.tokens["aud-2"]
            assert token["meta"]["report"] == "rep-1"  # a label, as signed
            assert token["meta"]["auditor"] == dana.address
            assert (token["issued"], token["retired"]) == (1_250_000, 1_250_000)
            assert state.nonces[dana.address] == ledger.state().nonces[dana.address]
            assert state.identities[dave.address]["name"] == "dave"
    finally:
        node.close()  # the two share one JSON-RPC client: closed last


def test_an_auditor_without_access_cannot_take_a_token_id_that_a_later_token_needs(
    chain: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The id of a void audited token stays taken on chain: issuing it again is refused
    with the chain's reason, and no node records it."""
    w = chain
    ledger: Any = w.ledger
    send_unchecked(ledger, _tx(w, w.dana, "issue_token", [_audited("aud-9")]), monkeypatch)
    grant(ledger, w.store, w.admin, "acme", w.dana.address, role="auditor")
    again = _tx(w, w.dana, "issue_token", [_audited("aud-9")])
    with pytest.raises(Conflict, match=r"the contract refused the transaction: TokenExists\("):
        ledger.submit([again])
    node = new_node(ledger, tmp_path / "node")
    try:
        node.sync()
        assert "aud-9" not in node.state().tokens
        assert node.verify().ok
    finally:
        node.close()
