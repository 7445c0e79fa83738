"""``verify`` on the EVM backend: the off-chain store against the chain's commitments.

The off-chain store checks itself (hash chain, Merkle tree, checkpoints signed by
the operator); these tests give it stores that pass those checks and still do not
hold what the chain committed to: a copy taken before the last transaction (and
brought back by ``sync`` from the chain's calldata), and a store rewritten by the
holder of the operator key with one transaction replaced by another, validly
signed by the same user with the same nonce.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.tokens import transfer
from tests.conformance.suite import _rec
from tests.conformance.world import LEDGER_ID, World, build_world


def _world(anvil_url: str, path: Path) -> World:
    from carbonledger.adapters.evm import EvmLedger, Rpc, deploy

    def backend(admin: PrivateKey, where: Path) -> tuple[LedgerPort, ChannelStore]:
        rpc = Rpc(anvil_url)
        info = deploy(rpc, admin, LEDGER_ID)
        ledger = EvmLedger(
            rpc, info["address"], where / "offchain.db", admin, deploy_block=info["block"]
        )
        return ledger, ledger.channels

    world = build_world(backend, path)
    _rec(world, 10, token_id="rec-v")
    return world


def _copy(db: Path, to: Path) -> Path:
    """A consistent copy of a SQLite store (the online backup API)."""
    to.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(db), sqlite3.connect(to)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return to


def _reopen(world: World, mirror: Path) -> Any:
    from carbonledger.adapters.evm import EvmLedger

    ledger = world.ledger
    return EvmLedger(
        ledger.rpc, ledger.address, mirror, world.admin, deploy_block=ledger.deploy_block
    )  # type: ignore[attr-defined]


def test_a_store_missing_the_last_transaction_fails_and_sync_restores_it(
    anvil_url: str, tmp_path: Path
) -> None:
    world = _world(anvil_url, tmp_path / "a")
    before = _copy(tmp_path / "a" / "offchain.db", tmp_path / "old" / "offchain.db")
    transfer(world.ledger, world.alice, "rec-v", to="globex/bob", amount=3)
    entries = len(world.ledger.chain_entries())  # type: ignore[attr-defined]
    assert world.ledger.verify().ok

    old = _reopen(world, before)
    try:
        report = old.verify()
        assert not report.ok
        assert report.error == (
            f"the chain holds {entries} entries, the off-chain store {entries - 1}"
        )
        assert old.sync() == 1  # the transfer, read back from the chain's calldata
        report = old.verify()
        assert report.ok, report.error
        bob = world.bob.address
        assert old.state().balances[f"{bob}/rec-v"]["available"] == 3
    finally:
        old.close()
        world.ledger.close()  # type: ignore[attr-defined]


def test_a_rewritten_store_that_checks_itself_still_fails_against_the_chain(
    anvil_url: str, tmp_path: Path
) -> None:
    from carbonledger.adapters.evm import EvmLedger, Rpc, deploy

    world = _world(anvil_url, tmp_path / "a")
    ledger = world.ledger
    assert isinstance(ledger, EvmLedger)
    before = len(ledger.chain_entries())
    transfer(ledger, world.alice, "rec-v", to="globex/bob", amount=3)

    # The operator replays the same signed history on a deployment of its own, but in
    # place of alice's transfer of 3 puts another she signed (4, same nonce), so its
    # store is complete, chained and checkpointed with the operator's key.
    info = deploy(Rpc(anvil_url), world.admin, LEDGER_ID)
    shutil.rmtree(tmp_path / "b", ignore_errors=True)
    (tmp_path / "b").mkdir()
    store = tmp_path / "b" / "offchain.db"
    forged = EvmLedger(anvil_url, info["address"], store, world.admin)
    try:
        for entry in ledger.chain_entries()[:before]:
            signed, keys, _ = ledger._decode_calldata(entry["evm_tx"])[entry["tx_hash"]]
            for key in keys:  # the channel keys the entry wraps travel with it
                forged.channels.put_keys(key.channel, key.epoch, {key.member: key.wrapped})
            forged.submit([signed])
        transfer(forged, world.alice, "rec-v", to="globex/bob", amount=4)
    finally:
        forged.close()
    # ... with the channels' wrapped keys and sealed blobs copied over as they are.
    conn = sqlite3.connect(store)
    try:
        conn.execute("ATTACH DATABASE ? AS a", (str(tmp_path / "a" / "offchain.db"),))
        for table in ("channel_key", "blob"):
            conn.execute(f"INSERT OR IGNORE INTO {table} SELECT * FROM a.{table}")
        conn.commit()
    finally:
        conn.close()
    forged = EvmLedger(anvil_url, info["address"], store, world.admin)
    try:
        report = forged.verify()
        assert report.ok, report.error  # against its own deployment, all holds
    finally:
        forged.close()

    swapped = _reopen(world, store)
    try:
        assert swapped.mirror.verify().ok  # the store alone cannot tell
        report = swapped.verify()
        assert not report.ok
        # Entries are numbered from 1: the transfer is entry before + 1.
        assert report.entry == before + 1
        assert report.error.startswith(f"entry {before + 1} differs from the chain's commitment")
    finally:
        swapped.close()
        ledger.close()
