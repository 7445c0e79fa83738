"""A node runs the core's rules on every entry it takes from the chain.

What the contract does not check an attacker can put on chain: here alice, a writer
of acme, sends straight to the contract a record the core refuses (its scope is not a
scope, and it names a sealed blob it does not carry). The contract accepts it; a node
syncing the chain refuses to follow it, naming the entry, and its store stays at the
entry before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.tx import utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import IntegrityError
from tests.conformance.test_evm import _evm_world
from tests.conformance.world import World
from tests.evm.test_rules import UUID, _record, _tx


@pytest.fixture
def world(anvil_url: str, tmp_path: Path) -> Iterator[World]:
    w = _evm_world(anvil_url, tmp_path)
    yield w
    w.ledger.close()  # type: ignore[attr-defined]


def send_raw(ledger: Any, data: bytes, gas: int) -> str:
    """Send ``data`` to the ledger's contract from a fresh funded account, as anyone may;
    the EVM transaction's hash, once mined and accepted."""
    from carbonledger.adapters.evm.chain import _mine_and_wait, _Sender

    relayer = PrivateKey.generate()
    ledger.rpc.call("anvil_setBalance", relayer.address, hex(10**21))
    raw, tx_hash = _Sender(ledger.rpc, relayer).sign(ledger.address, data, gas)
    ledger.rpc.call("eth_sendRawTransaction", raw)
    (receipt,) = _mine_and_wait(ledger.rpc, [tx_hash], True)
    assert receipt is not None
    assert int(receipt["status"], 16) == 1
    return str(tx_hash)


def refusal(entry: int, sender: str, nonce: int, tx_hash: str, reason: str) -> str:
    """The pattern of a node's refusal to follow the chain's ``entry`` (``reason``: a
    regular expression for the rule it breaks)."""
    return (
        rf"the chain's entry {entry} \(sender {sender.lower()}, nonce {nonce}, EVM"
        rf" transaction {tx_hash}\) breaks a rule: {reason};"
        " this node does not follow it"
    )


def new_node(ledger: Any, path: Path) -> Any:
    """Another node of the same chain, with its own key and an empty store at ``path``."""
    from carbonledger.adapters.evm import EvmLedger

    node_key = PrivateKey.generate()
    path.mkdir()
    return EvmLedger(
        ledger.rpc,
        ledger.address,
        path / "offchain.db",
        node_key,
        deploy_block=ledger.deploy_block,
        checkpoint_signer=node_key.address,
    )


def test_a_node_refuses_to_follow_an_entry_that_breaks_a_rule(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from carbonledger.adapters.evm import calls as evm_calls

    w = world
    ledger: Any = w.ledger
    entries = len(ledger.chain_entries())
    tx = _tx(w, w.alice, "record_emissions", [_record("acme-chi", "acme")])
    with monkeypatch.context() as m:  # the attacker's own client: no rules
        m.setattr(evm_calls, "apply", lambda *args, **kwargs: None)
        data, gas, _ = ledger._prepare(ledger.state(), [tx], utc_now())
    tx_hash = send_raw(ledger, data, gas)  # the chain cannot see what is sealed
    assert len(ledger.chain_entries()) == entries + 1

    node = new_node(ledger, tmp_path / "node")
    try:
        pattern = refusal(entries + 1, w.alice.address, tx.nonce, tx_hash, f"record '{UUID}':.*")
        with pytest.raises(IntegrityError, match=pattern):
            node.sync()
        # Everything before it was taken, and checks out.
        assert node.mirror.verify().ok
        assert len(node._mirror_rows()) == entries
        with pytest.raises(IntegrityError, match="does not follow it"):
            node.sync()  # and it stays refused
    finally:
        node.close()


def test_a_reorganised_block_is_undone_and_confirmations_hold_back(
    world: World, tmp_path: Path
) -> None:
    from carbonledger.adapters.evm import EvmLedger, Rpc
    from carbonledger.services.tokens import transfer
    from tests.conformance.suite import _rec

    w = world
    ledger: Any = w.ledger
    _rec(w, 10, token_id="rec-reorg")
    node = new_node(ledger, tmp_path / "node")
    try:
        base = node.sync()
        assert base == len(ledger.chain_entries())
        snapshot = ledger.rpc.call("evm_snapshot")
        transfer(ledger, w.alice, "rec-reorg", to="globex/bob", amount=3)
        # One block deep: held back with one confirmation, taken with none.
        assert node.sync(confirmations=1) == 0
        assert node.sync() == 1
        bob = f"{w.bob.address}/rec-reorg"
        assert node.state().balances[bob]["available"] == 3
        # The chain reorganises: that block is gone, another takes its place.
        ledger.rpc.call("evm_revert", snapshot)
        # The writer's store is ahead of the chain now: repaired when it is next opened.
        writer = EvmLedger(
            Rpc(ledger.rpc.url), ledger.address, ledger.mirror.path, w.admin,
            deploy_block=ledger.deploy_block,
        )  # fmt: skip
        try:
            transfer(writer, w.alice, "rec-reorg", to="globex/bob", amount=4)
        finally:
            writer.close()
        assert node.sync() == base + 1  # rebuilt from the chain as it now is
        assert node.state().balances[bob]["available"] == 4
        report = node.verify()
        assert report.ok, report.error
        assert list((tmp_path / "node").glob("offchain.db.diverged-*"))
    finally:
        node.close()
