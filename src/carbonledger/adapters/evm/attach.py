"""Attaching a node: a new store built from the chain alone for a ledger already on it.

The node needs the chain's URL and the contract's address, nothing of another home:
the contract's first block (where its entries start) is found on the chain, and every
entry is read back from calldata through the core's rules
(:class:`~carbonledger.adapters.evm.follow.Follower`). The node's own key signs its
store's checkpoints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from carbonledger.adapters.evm.chain import fund_dev_account
from carbonledger.adapters.evm.exchange import (
    BlobsUnavailable,
    PeerExchange,
    announced_peers,
    check_peer_url,
)
from carbonledger.adapters.evm.ledger import EvmLedger
from carbonledger.adapters.evm.peer_policy import ALLOW_PRIVATE_PEERS, PeerPolicy
from carbonledger.adapters.evm.rpc import Rpc
from carbonledger.core.state import LedgerState
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import ConfigurationError

__all__ = ["attach", "first_block_with_code"]


def attach(
    rpc: str,
    contract: str,
    location: str | Path,
    key: PrivateKey,
    *,
    offchain: str,
    peers: Sequence[str] = (),
    waiting: Path | None = None,
    allow_private_peers: bool = False,
) -> tuple[dict[str, Any], LedgerState]:
    """Build the store at ``location`` (named ``offchain`` in the home's config) from the
    chain at ``rpc`` for the ledger at ``contract``; ``key`` is the node's own; sealed
    blobs come from ``peers`` (what is waited for is written to ``waiting``), then from
    the announced nodes (at public addresses only, unless ``allow_private_peers``). An entry
    whose blobs no peer has yet stops the store before it: the node takes it when it
    follows. Returns the ``evm`` section for config.json and the ledger's state."""
    shown = [check_peer_url(p) for p in peers]
    client = Rpc(rpc)
    chain_id = int(client.call("eth_chainId"), 16)
    block = first_block_with_code(client, contract)
    # The node relays its users' transactions: on a local chain it gets gas money here.
    fund_dev_account(client, key.address)
    ledger = EvmLedger(
        client,
        contract,
        location,
        key,
        deploy_block=block,
        chain_id=chain_id,
        checkpoint_signer=key.address,
    )
    ledger.exchange = PeerExchange(
        lambda: announced_peers(ledger.mirror.state(), shown),
        waiting,
        hints=ledger.ahead.urls,
        policy=PeerPolicy(lambda: shown, lambda: allow_private_peers),
    )
    try:
        if ledger.status()["entries_off_chain"]:
            raise ConfigurationError(
                f"the off-chain store {offchain!r} is not empty: give an empty database"
            )
        with contextlib.suppress(BlobsUnavailable):  # named by chain status; taken later
            ledger.sync()
        state = ledger.state()
    finally:
        ledger.close()
    section = {
        "rpc": rpc,
        "contract": ledger.address,
        "chain_id": chain_id,
        "deploy_block": block,
        "offchain": offchain,
        "peers": shown,
        ALLOW_PRIVATE_PEERS: allow_private_peers,
    }
    return section, state


def first_block_with_code(rpc: Any, address: str) -> int:
    """The block that created the contract at ``address`` (the first with its code)."""
    latest = int(rpc.call("eth_blockNumber"), 16)
    if rpc.call("eth_getCode", address, hex(latest)) in (None, "0x"):
        raise ConfigurationError(f"no contract at {address} on the node at {rpc.url}")
    lo, hi = 0, latest
    while lo < hi:
        mid = (lo + hi) // 2
        if rpc.call("eth_getCode", address, hex(mid)) in (None, "0x"):
            lo = mid + 1
        else:
            hi = mid
    return lo
