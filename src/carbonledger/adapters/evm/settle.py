"""The chain's answer to what a node sent, and the off-chain store brought to it.

:meth:`Settler._mined` mines (where the operator mines) and reads what the chain did with
each EVM transaction; :meth:`Settler._settle` then confirms what the store took ahead of
the chain (:meth:`Settler._commit_ahead`, while the node mined), or mirrors what the chain
accepted, or brings the store back to the chain (rebuilt from it when the store holds
entries the chain does not), and raises what the chain refused.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from carbonledger.adapters.evm.calls import Calls, Prepared, _entries_logged
from carbonledger.adapters.evm.chain import _mine_and_wait, _mine_at
from carbonledger.adapters.evm.entries import ENTRY_TOPIC, store_count, store_receipts
from carbonledger.core.tx import SignedTx
from carbonledger.core.typed import chain_commitment
from carbonledger.errors import CarbonLedgerError, Conflict, DuplicateEntity, IntegrityError
from carbonledger.ports.ledger import Receipt

__all__ = ["Settler"]


class Settler(Calls):
    """Reads the chain's receipts for what a node sent and brings the store to them."""

    def _mined(self, hashes: list[str], second: int) -> list[dict[str, Any] | None]:
        """Mine (where the operator mines, at ``second``) and the receipts of ``hashes``;
        None for a transaction the chain did not mine in time.

        Where the operator mines and one block took them all, a transaction that recorded
        entries succeeded: its receipt is that block's ``Entry`` events of it (what
        :meth:`_settle` reads), taken from the entries read for the store, not asked
        for one by one; only one without entries has its receipt read (why it failed)."""
        if not self._mine:
            return _mine_and_wait(self.rpc, hashes, False, None, self.receipt_timeout)
        _mine_at(self.rpc, second)
        block = self.rpc.call("eth_getBlockByNumber", "latest", False)
        if not set(hashes) <= set(block["transactions"]):  # more than one block's worth
            return _mine_and_wait(self.rpc, hashes, True, second, self.receipt_timeout)
        number = int(block["number"], 16)
        logged = Counter(
            e["evm_tx"] for e in self.chain_entries(upto=number) if e["block"] == number
        )
        failed = [h for h in hashes if not logged[h]]
        read = dict(
            zip(
                failed,
                self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in failed]),
                strict=True,
            )
        )
        entry = {"address": self.address, "topics": [ENTRY_TOPIC]}
        return [
            read[h]
            if h in read
            else {
                "transactionHash": h,
                "blockNumber": block["number"],
                "status": "0x1",
                "logs": [entry] * logged[h],
            }
            for h in hashes
        ]

    def _commit_ahead(self, prepared: list[Prepared], now: str) -> list[Receipt] | None:
        """Put a chunk on its way into the store before the chain has mined it (one commit,
        one checkpoint), while the node mines: where its entries landed, or None if the
        store did not take them (they are then mirrored once the chain has accepted them).

        The store is then ahead of the chain until the receipts say otherwise; if the chain
        does not take the chunk whole and in that order (a refusal, another writer's entry
        first, a crash before the receipts), :meth:`_settle` or the next :meth:`sync`
        rebuilds the store from the chain (:mod:`~carbonledger.adapters.evm.recovery`).
        """
        txs = [t for _, _, checked in prepared for t in checked]
        if not txs:
            return None
        try:
            return self.mirror.submit(txs, now=now, checked=True)
        except CarbonLedgerError:
            return None  # the store moved on meanwhile: the chain decides, after its receipts

    def _settle(
        self,
        prepared: list[Prepared],
        receipts: list[dict[str, Any] | None],
        now: str,
        ahead: list[Receipt] | None = None,
    ) -> list[list[Receipt]]:
        """Mirror what the chain accepted (one commit, one checkpoint), or confirm what the
        store took ``ahead`` of the chain; raise what the chain refused."""
        accepted: list[list[SignedTx]] = []
        failure: CarbonLedgerError | None = None
        for (data, gas, checked), receipt in zip(prepared, receipts, strict=True):
            if receipt is None:
                failure = failure or Conflict(
                    f"the chain did not mine the transaction within {self.receipt_timeout:g} s;"
                    " nothing of it was recorded"
                )
                continue
            if int(receipt["status"], 16) != 1:
                failure = failure or self._revert_reason(data, receipt, gas)
                continue
            if _entries_logged(receipt, self.address) != len(checked):
                # Status 1 alone proves nothing (a call to an address without code
                # succeeds): only the contract's Entry events say what it recorded.
                failure = failure or IntegrityError(
                    f"EVM transaction {receipt['transactionHash']} was mined, but the contract"
                    f" at {self.address} recorded {_entries_logged(receipt, self.address)} of its"
                    f" {len(checked)} entries; nothing of it was recorded here"
                )
                continue
            accepted.append(checked)
        # The SQL store records the ledger time the rules were checked at.
        chained = [t for batch in accepted for t in batch]
        mined = [int(r["blockNumber"], 16) for r in receipts if r is not None]
        upto = max(mined, default=None)
        if ahead is not None:
            whole = failure is None and len(chained) == len(ahead)
            flat = self._confirm_ahead(chained, ahead if whole else None, upto)
        else:
            flat = self._mirror_accepted(chained, now, upto)
        # Another node's entry recorded the same account and period first: the chain took
        # ours (and the signer's nonce), every node keeps it void, nothing of it recorded.
        voids = self.mirror.voids() if flat else {}
        for mirrored in flat:
            why = voids.get(mirrored.seq)
            if why is not None:
                failure = failure or DuplicateEntity(
                    f"the chain's entry {mirrored.seq} is void, nothing of it recorded: {why}"
                )
        out: list[list[Receipt]] = []
        for batch in accepted:
            out.append(flat[: len(batch)])
            flat = flat[len(batch) :]
        if failure is not None:
            raise failure
        return out

    def _confirm_ahead(
        self, txs: list[SignedTx], ahead: list[Receipt] | None, upto: int | None
    ) -> list[Receipt]:
        """Where the chain's accepted ``txs`` are in a store that took a chunk ahead of the
        chain: there (``ahead``) when the chain holds that chunk whole, in the store's order;
        else the store is brought back to the chain (rebuilt: it holds entries the chain
        does not, or in another order) and they are looked for there."""
        if ahead is not None:
            at = ahead[0].seq - 1
            mine = [chain_commitment(t.body_bytes)[0] for t in txs]
            # Where the node mines, `_mined` has just read the chain's entries up to `upto`.
            held = self._entry_log.held(at, at + len(mine), upto)
            if held is None:
                held = self.chain_entries(upto=upto)[at : at + len(mine)]
            if [e["tx_hash"] for e in held] == mine:
                return ahead
        self.sync()
        return store_receipts(self.mirror, txs) if txs else []

    def _mirror_accepted(self, txs: list[SignedTx], now: str, upto: int | None) -> list[Receipt]:
        """Put into the store what the chain accepted, in the chain's order: directly when
        they are the chain's next entries, else (another writer's entries came first, or
        another writer of this store took ours) by reading the chain back. ``upto``: the
        block that mined the last of them (the chain is read up to it, in one request)."""
        if not txs:
            return []
        entries = self.chain_entries(upto=upto)
        at = store_count(self.mirror)
        if at < len(entries) and entries[at]["tx_hash"] == chain_commitment(txs[0].body_bytes)[0]:
            try:
                return self.mirror.submit(txs, now=now, checked=True)
            except CarbonLedgerError:
                pass  # the store moved on meanwhile: the chain decides
        self.sync()
        return store_receipts(self.mirror, txs)
