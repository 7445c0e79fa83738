"""An organisation's channel is run by its own admins once one of them holds its key.

The network admin registers an organisation and so starts as its channel's only admin.
Once it has granted the organisation's own admin (an identity of the organisation with
the org_admin role) the key, it still does network things (registers organisations,
revokes identities) but never again grants, revokes or rotates in that channel, by any
path: the embedded ledger's rules refuse it, the contract reverts it when it is signed
and sent straight to the chain with the core's rules off, and a revocation that wraps
the channel's next key for the network admin (which the contract does not read) is
refused by a node following the chain.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.rules.channels import valid_members
from carbonledger.core.tx import SignedTx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import IntegrityError, PermissionDenied
from carbonledger.services.channels import grant, revoke, rotate
from carbonledger.services.identity import revoke_user
from tests.conformance.world import World
from tests.evm.test_follow_rules import new_node, refusal, send_raw
from tests.evm.test_rules import _forge, _tx

OWN = "run by its organisation's own admins"


def _take_over(w: World) -> PrivateKey:
    """acme's own admin enrols and the network admin grants it the channel's key."""
    ada = w.user("acme", "ada", ["org_admin"])
    grant(w.ledger, w.store, w.admin, "acme", ada.address)
    return ada


def _digests(addresses: Any) -> dict[str, str]:
    # The rules check the wrapped keys' names (SHA-256s), never the keys themselves.
    return {a: hashlib.sha256(a.encode()).hexdigest() for a in addresses}


def _rotation(w: World, signer: PrivateKey) -> SignedTx:
    """``signer``'s own ``channel_rotate`` of acme: a next epoch for its valid members."""
    state = w.ledger.state()
    chan = state.channels["acme"]
    members = valid_members(state, chan, utc_now())
    item = {"kind": "channel_rotate", "channel": "acme", "epoch": chan["epoch"] + 1}
    return _tx(w, signer, "channel_rotate", [{**item, "keys": _digests(members)}])


def _auditor_grant(w: World, signer: PrivateKey) -> SignedTx:
    epochs = w.ledger.state().channels["acme"]["keys"]
    item = {"kind": "channel_grant", "channel": "acme", "member": w.dana.address}
    item |= {"role": "auditor", "until": None, "keys": dict.fromkeys(epochs, "ab" * 32)}
    return _tx(w, signer, "channel_grant", [item])


def _removal(w: World, signer: PrivateKey, member: str) -> SignedTx:
    state = w.ledger.state()
    chan = state.channels["acme"]
    others = [a for a in valid_members(state, chan, utc_now()) if a != member]
    item = {"kind": "channel_revoke", "channel": "acme", "member": member}
    item |= {"epoch": chan["epoch"] + 1, "keys": _digests(others)}
    return _tx(w, signer, "channel_revoke", [item])


def _revocation_with_key(w: World, signer: PrivateKey, address: str) -> SignedTx:
    """A revocation of ``address`` carrying acme's next key, wrapped for the signer too."""
    state = w.ledger.state()
    chan = state.channels["acme"]
    stay = [a for a in valid_members(state, chan, utc_now()) if a != address]
    item = {"kind": "revocation", "address": address, "reason": "left"}
    item["channels"] = {"acme": _digests([*stay, signer.address])}
    return _tx(w, signer, "revoke_identity", [item])


def test_the_network_admin_runs_a_channel_only_until_its_own_admin_holds_the_key(
    embedded: World,
) -> None:
    w = embedded
    # The bootstrap: the network admin is acme's only admin, and rotates at will.
    rotate(w.ledger, w.store, w.admin, "acme")
    ada = _take_over(w)
    epoch = w.ledger.state().channels["acme"]["epoch"]
    for tx in (
        _rotation(w, w.admin),
        _auditor_grant(w, w.admin),
        _removal(w, w.admin, w.alice.address),
        _revocation_with_key(w, w.admin, w.alice.address),
    ):
        with pytest.raises(PermissionDenied, match=OWN + "|may not make its new key"):
            w.ledger.submit([tx])
    assert w.ledger.state().channels["acme"]["epoch"] == epoch
    assert w.dana.address not in w.ledger.state().channels["acme"]["members"]

    # acme's own admin takes the network admin out; the network admin still revokes
    # acme's people (a network thing), and the channel then waits, keyless, for ada.
    revoke(w.ledger, w.store, ada, "acme", w.admin.address)
    revoke_user(w.ledger, w.admin, None, w.alice.address, reason="left", store=w.store)
    chan = w.ledger.state().channels["acme"]
    assert chan["epoch"] == epoch + 2
    assert str(chan["epoch"]) not in chan["keys"]  # no key made by the network admin
    with pytest.raises(PermissionDenied, match=OWN):
        rotate(w.ledger, w.store, w.admin, "acme")
    rotate(w.ledger, w.store, ada, "acme")
    chan = w.ledger.state().channels["acme"]
    assert set(chan["keys"][str(chan["epoch"])]) == {ada.address}
    report = w.ledger.verify()
    assert report.ok, report.error


def test_the_contract_reverts_the_network_admins_change_to_an_owned_channel(
    chain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = chain
    # Before the organisation's admin holds the key, the chain lets the network admin in.
    rotate(w.ledger, w.store, w.admin, "acme")
    ada = _take_over(w)
    with pytest.raises(PermissionDenied, match=OWN):  # the node's own rules, first
        w.ledger.submit([_rotation(w, w.admin)])
    for tx in (
        _rotation(w, w.admin),
        _auditor_grant(w, w.admin),
        _removal(w, w.admin, w.alice.address),
    ):
        _forge(w, monkeypatch, tx, PermissionDenied, "ChannelOfItsOwn")
    # Someone of another organisation, not even an admin: refused by the chain too.
    _forge(w, monkeypatch, _rotation(w, w.bob), PermissionDenied, "NotOrgAdmin")
    # The organisation's own admin goes on running it.
    revoke(w.ledger, w.store, ada, "acme", w.admin.address)
    rotate(w.ledger, w.store, ada, "acme")
    assert w.admin.address not in w.ledger.state().channels["acme"]["members"]
    report = w.ledger.verify()
    assert report.ok, report.error


def test_a_following_node_refuses_a_revocation_that_makes_an_owned_channels_key(
    chain: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    w = chain
    ledger: Any = w.ledger
    _take_over(w)
    entries = len(ledger.chain_entries())
    # The network admin may revoke alice on chain, and the contract does not read the
    # channel keys a revocation carries: the attacker's client wraps acme's next key
    # for the network admin itself.
    tx = _revocation_with_key(w, w.admin, w.alice.address)
    tx_hash = send_unchecked(ledger, tx, monkeypatch)
    reason = "revoke: .* is not an admin of channel 'acme' and may not make its new key.*"
    refused_by_a_follower(ledger, tmp_path / "node", entries, tx, tx_hash, reason)


def send_unchecked(ledger: Any, tx: SignedTx, monkeypatch: pytest.MonkeyPatch) -> str:
    """Send ``tx`` straight to the contract, the sender's core rules off: the EVM
    transaction's hash, once the contract has taken it."""
    from carbonledger.adapters.evm import calls as evm_calls

    with monkeypatch.context() as m:
        m.setattr(evm_calls, "apply", lambda *args, **kwargs: None)
        data, gas, _ = ledger._prepare(ledger.state(), [tx], utc_now())
    return send_raw(ledger, data, gas)


def refused_by_a_follower(
    ledger: Any, path: Path, entries: int, tx: SignedTx, tx_hash: str, reason: str
) -> None:
    """A new node at ``path`` refuses to follow ``tx``, the chain's entry after
    ``entries``, for ``reason`` (a pattern), and its store stays at the entry before."""
    node = new_node(ledger, path)
    try:
        pattern = refusal(entries + 1, tx.body["sender"], tx.nonce, tx_hash, reason)
        with pytest.raises(IntegrityError, match=pattern):
            node.sync()
        assert len(node._mirror_rows()) == entries
    finally:
        node.close()
