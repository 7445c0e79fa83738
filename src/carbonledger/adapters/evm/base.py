"""What every part of the EVM ledger shares: the chain, the contract and the off-chain store.

:class:`EvmBase` opens them (a node's chain checked once, before its first use) and
serves reads from the store; :mod:`~carbonledger.adapters.evm.follow` brings the store
to the chain, :mod:`~carbonledger.adapters.evm.calls` checks and encodes what is sent,
and :class:`~carbonledger.adapters.evm.ledger.EvmLedger` writes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carbonledger.adapters.evm.chain import _is_anvil, _Sender, artifact
from carbonledger.adapters.evm.entries import EntryLog, store_count
from carbonledger.adapters.evm.packed import TX_ABI, Selectors, function_selectors
from carbonledger.adapters.evm.reverts import errors_by_selector as _errors_by_selector
from carbonledger.adapters.evm.reverts import selector as _selector
from carbonledger.adapters.evm.rpc import Rpc, RpcError
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.crypto.keys import PrivateKey, checksum_address
from carbonledger.errors import ConfigurationError
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import (
    Checkpoint,
    InclusionProof,
    ItemQuery,
    PeriodKey,
    StoredItem,
)

if TYPE_CHECKING:
    from carbonledger.adapters.sqlstore import SqlLedger

__all__ = ["CONTRACTS", "TX_ABI", "EvmBase"]

#: The contracts whose custom errors a revert may carry (CarbonLedger, its Governor,
#: the Governor's item reader, and the ledger's reader of membership items).
CONTRACTS = ("CarbonLedger", "Governor", "DaoItems", "MemberItems")
#: The ABI of ``CarbonLedger.submit``'s argument: body, r, s, v, items, hints, carried.


class EvmBase:
    """The chain, the contract and the off-chain store of a ``CarbonLedger`` ledger.

    ``max_tx_items``: how many items importers put in one signed transaction on this
    backend, so that each fits in one EVM transaction of bounded calldata and gas.

    ``mirror`` is the off-chain store that only this adapter writes: a file path
    (an embedded ledger file, SQLite, the default) or a database URL
    (``postgresql+psycopg://...``: :class:`~carbonledger.adapters.sqlstore.SqlLedger`,
    the same log and channel store in PostgreSQL, schema by alembic). ``operator``
    relays and pays gas, and signs the mirror's checkpoints: the ledger admin's key,
    or a node's own key with ``checkpoint_signer`` its address (a node attached to
    the chain, which holds no other key: its store's authority is the chain).
    """

    #: Items per signed transaction for importers (about 800 bytes and 30,000 gas each).
    max_tx_items = 100

    def __init__(
        self,
        rpc: Rpc | str,
        address: str,
        mirror: str | Path,
        operator: PrivateKey | None = None,
        *,
        deploy_block: int = 0,
        mine: bool | None = None,
        receipt_timeout: float = 120.0,
        chain_id: int | None = None,
        checkpoint_signer: str | None = None,
    ) -> None:
        self.rpc = Rpc(rpc) if isinstance(rpc, str) else rpc
        self.address = checksum_address(address)
        self.deploy_block = deploy_block
        #: The chain this ledger was deployed on (checked before the first use of the chain).
        self.chain_id = chain_id
        self._chain_checked = False
        self._synced_once = False
        #: The ledger's id once known (typed calldata names it only through its
        #: signature's domain): kept across rebuilds of the store.
        self._ledger_id: str | None = None
        #: Changes of the store made here from the chain (see ``Follower.reloads``).
        self._moves = 0
        self._entry_log = EntryLog(self.rpc, self.address, deploy_block)
        self._operator = operator
        self.mirror: SqliteLedger | SqlLedger
        if isinstance(mirror, str) and "://" in mirror:
            from carbonledger.adapters.sqlstore import SqlLedger

            self.mirror = SqlLedger(
                mirror, operator=operator, checkpoint_signer=checkpoint_signer, follows_chain=True
            )
        else:
            self.mirror = SqliteLedger(
                mirror, operator=operator, checkpoint_signer=checkpoint_signer, follows_chain=True
            )
        self.channels: ChannelStore = self.mirror.channels
        self._abi = artifact()["abi"]
        self._errors = _errors_by_selector([e for n in CONTRACTS for e in artifact(n)["abi"]])
        self._submit_selector = _selector(f"submit({TX_ABI})")
        self._selectors = Selectors(
            self._submit_selector,
            _selector(f"submitPacked({TX_ABI},bytes)"),
            function_selectors(self._abi),
        )
        # Both ask the node: made on the first write, so reads need no chain.
        self._mine_choice = mine
        #: Seconds to wait for a transaction to be mined before counting it as refused.
        self.receipt_timeout = receipt_timeout
        #: Bounds of one EVM transaction: bytes of calldata (geth's pool takes up to
        #: 128 KiB) and estimated gas (a few fit in one block).
        self.max_tx_bytes = 120_000
        self.max_tx_gas = 12_000_000
        #: Estimated gas of the EVM transactions sent at once (a few blocks' worth).
        self.max_flight_gas = 60_000_000
        self._sender_cache: _Sender | None = None
        # The latest ledger time given to a batch (ms): ledger time never runs backwards.
        self._last_ms = 0

    @property
    def _mine(self) -> bool:
        if self._mine_choice is None:
            self._mine_choice = _is_anvil(self.rpc)
        return self._mine_choice

    @property
    def _sender(self) -> _Sender | None:
        if self._sender_cache is None and self._operator is not None:
            self.check_chain()
            self._sender_cache = _Sender(self.rpc, self._operator)
        return self._sender_cache

    def _await_own_pending(self) -> bool:
        """Let the chain mine what this node's relaying key sent and it has not mined yet
        (a writer killed after sending a chunk, before its receipts): mined now where the
        operator mines (anvil, Hardhat's node), else waited for up to ``receipt_timeout``.
        The store is then brought to the chain with those entries, rather than new ones
        being signed past them with the same nonces. True if there were any."""
        if self._operator is None:
            return False
        address = self._operator.address
        deadline = time.monotonic() + self.receipt_timeout
        waited, before = False, -1
        while True:
            mined, pending = (
                int(n, 16)
                for n in self.rpc.batch(
                    [
                        ("eth_getTransactionCount", [address, "latest"]),
                        ("eth_getTransactionCount", [address, "pending"]),
                    ]
                )
            )
            # A block mined here that took none of them: the chain will not take them.
            stuck = self._mine and mined == before
            if pending <= mined or stuck or time.monotonic() > deadline:
                return waited
            waited, before = True, mined
            if self._mine:
                self.rpc.call("evm_mine")
            else:
                time.sleep(0.5)

    def check_chain(self) -> None:
        """Refuse a node that is not on this ledger's chain: another chain id, or no
        ``CarbonLedger`` code at the address (a fresh chain, a reset node). A plain
        transaction to an address without code succeeds, so nothing sent there would be
        recorded although every receipt says so. Checked once, before the chain is used.
        """
        if self._chain_checked:
            return
        chain, code = self.rpc.batch(
            [("eth_chainId", []), ("eth_getCode", [self.address, "latest"])]
        )
        if self.chain_id is not None and int(chain, 16) != self.chain_id:
            raise ConfigurationError(
                f"the node at {self.rpc.url} is on chain {int(chain, 16)}, not on chain"
                f" {self.chain_id} where the ledger's contract {self.address} was deployed"
            )
        if code in (None, "0x", "0x0"):
            raise ConfigurationError(
                f"no contract at {self.address} on the node at {self.rpc.url} (chain"
                f" {int(chain, 16)}): the ledger is not on this chain (a new or reset node?)"
            )
        try:
            governor = self._view(self.address, "governor()")
        except RpcError:
            governor = b""
        if len(governor) != 32:
            raise ConfigurationError(
                f"the contract at {self.address} on the node at {self.rpc.url} is not a"
                " carbonledger ledger"
            )
        self._chain_checked = True

    def items(self, query: ItemQuery) -> Iterator[StoredItem]:
        return self.mirror.items(query)

    def periods(self, accounts: Sequence[str]) -> list[PeriodKey]:
        return self.mirror.periods(accounts)

    def proof(self, leaf_index: int, *, with_tx: bool = True) -> InclusionProof:
        return self.mirror.proof(leaf_index, with_tx=with_tx)

    def latest_checkpoint(self) -> Checkpoint:
        return self.mirror.latest_checkpoint()

    def checkpoints(self, *, limit: int = 20) -> list[Checkpoint]:
        return self.mirror.checkpoints(limit=limit)

    # -- the chain --------------------------------------------------------------------
    def chain_entries(self, *, upto: int | None = None) -> list[dict[str, Any]]:
        """Every ``Entry`` event: sender, nonce, body hash, items root, EVM transaction,
        block (up to block ``upto``, when the caller knows it is on the chain)."""
        self.check_chain()
        return self._entry_log.entries(upto=upto)

    def _mirror_rows(self, since: int = 1) -> list[tuple[int, bytes, str, int]]:
        """(seq, body, sender, nonce) of the store's entries from ``since`` on, in order."""
        if not isinstance(self.mirror, SqliteLedger):
            return self.mirror.tx_rows(since)
        conn = sqlite3.connect(self.mirror.path)
        try:
            return [
                (seq, bytes(body), sender, nonce)
                for seq, body, sender, nonce in conn.execute(
                    "SELECT seq, body, sender, nonce FROM tx WHERE seq >= ? ORDER BY seq", (since,)
                )
            ]
        finally:
            conn.close()

    def _view(self, to: str, signature: str) -> bytes:
        data = "0x" + _selector(signature).hex()
        return bytes.fromhex(self.rpc.call("eth_call", {"to": to, "data": data}, "latest")[2:])

    def status(self) -> dict[str, Any]:
        self.check_chain()
        block, chain = self.rpc.batch([("eth_blockNumber", []), ("eth_chainId", [])])
        governor = checksum_address("0x" + self._view(self.address, "governor()")[-20:].hex())
        return {
            "rpc": self.rpc.url,
            "contract": self.address,
            "governor": governor,
            "time_skew_ms": int.from_bytes(self._view(governor, "timeSkewMs()"), "big"),
            "chain_id": int(chain, 16),
            "block": int(block, 16),
            "entries_on_chain": len(self.chain_entries()),
            "entries_off_chain": store_count(self.mirror),
        }

    @property
    def follows_chain(self) -> bool:
        """True: the chain, which other nodes write to, orders this node's entries."""
        return True

    def settle(self) -> None:
        """Nothing to wait for: ``submit`` returns once the chain took its transactions."""

    def close(self) -> None:
        self.mirror.close()
        self.rpc.close()
