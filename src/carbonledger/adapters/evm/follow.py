"""Following the chain: the off-chain store brought to the chain's entries, and checked.

A node's store takes each entry the chain holds beyond it, read from the calldata of
its EVM transaction and run through the core's rules as it is taken (an entry that
breaks one is refused, naming it); a store that diverged from the chain is rebuilt
(:mod:`~carbonledger.adapters.evm.recovery`). :meth:`Follower.verify` checks the store
against the chain's commitments.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode

from carbonledger.adapters.evm.base import TX_ABI, EvmBase
from carbonledger.adapters.evm.carried import WrappedKey, decode_carried
from carbonledger.adapters.evm.compact import expand, is_compact
from carbonledger.adapters.evm.entries import store_count, writer_lock
from carbonledger.adapters.evm.recovery import entries_kept, rebuild
from carbonledger.adapters.evm.rpc import NodeUnreachable
from carbonledger.core.dao.model import iso_from_ms
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, tx_from_parts
from carbonledger.errors import CarbonLedgerError, IntegrityError
from carbonledger.ports.ledger import VerifyReport

__all__ = ["Followed", "Follower"]


@dataclass(frozen=True)
class Followed:
    """One round of following: the block the store was brought to (``confirmations``
    below the chain's latest then), the entries it took, the entries it holds."""

    block: int
    taken: int
    entries: int


class Follower(EvmBase):
    """Brings the off-chain store to the chain (:meth:`sync`, again and again with
    :meth:`follow`) and checks it (:meth:`verify`)."""

    @property
    def reloads(self) -> int:
        """How many times the store changed under a reader: entries taken from the chain
        or the store rebuilt here, or commits of another process to a SQLite store (a
        server's group commit then starts again from the store's state)."""
        return self._moves + int(getattr(self.mirror, "reloads", 0))

    def refresh(self, *, blocking: bool = True) -> bool:
        """Catch up with what other processes committed to the store; True if it moved.
        No request to the chain: :meth:`follow` brings the store to the chain."""
        refresh = getattr(self.mirror, "refresh", None)
        return bool(refresh(blocking=blocking)) if refresh is not None else False

    def follow(
        self,
        stop: threading.Event,
        *,
        confirmations: int = 0,
        interval: float = 1.0,
        report: Callable[[Followed], None] | None = None,
        on_error: Callable[[CarbonLedgerError], bool] | None = None,
    ) -> None:
        """:meth:`sync` every ``interval`` seconds at ``confirmations`` depth until
        ``stop`` is set; ``report`` hears each round. An error of a round goes to
        ``on_error``, which says whether to go on (without it, or if it says no, it
        is raised): a node that cannot be reached may come back, an entry that breaks
        a rule stays refused."""
        while not stop.is_set():
            try:
                taken = self.sync(confirmations=confirmations)
                if report is not None:
                    report(Followed(self._entry_log.block, taken, store_count(self.mirror)))
            except CarbonLedgerError as exc:
                if on_error is None or not on_error(exc):
                    raise
            stop.wait(interval)

    def state(self) -> LedgerState:
        """The store's state; a writer brings the store to the chain first, once (what it
        signs next must follow the chain's nonces, not a store left behind by a crash)."""
        if self._operator is not None and not self._synced_once:
            # Reads go on without the node (a write then names it unreachable).
            with contextlib.suppress(NodeUnreachable):
                self.sync()
        return self.mirror.state()

    def sync(self, *, confirmations: int = 0) -> int:
        """Bring the store to the chain; the number of entries it took from the chain.

        One writer of the store at a time, as for :meth:`submit_many`. With
        ``confirmations``, only blocks that many below the latest are taken (a follower's
        depth: a block reorganised away is then rarely taken at all). A block taken and
        then reorganised away is undone: the store no longer matches the chain there and
        is rebuilt.

        A store behind the chain takes what the chain holds beyond it (read from
        calldata); a store that holds entries the chain does not (ahead of it after a
        crash or a node restarted from older state, or in another order after two
        writers) is rebuilt from the chain (a SQLite store is kept beside it, renamed
        ``*.diverged-TIME``). Each entry goes through the core's rules as the store
        takes it: an entry that breaks one is refused with an error naming it (its EVM
        transaction, sender and nonce), and the store stays at the entry before it.
        """
        with writer_lock(self):
            return self._sync(confirmations)

    def _sync(self, confirmations: int = 0) -> int:
        self.check_chain()
        entries = self._entry_log.entries(depth=confirmations)
        self._synced_once = True
        have = entries_kept(self.mirror, self._mirror_rows, entries)
        if have is None:
            rebuild(self.mirror)
            self._moves += 1
            have = 0
        return self._take(entries, have)

    def _take(self, entries: list[dict[str, Any]], have: int) -> int:
        """Append ``entries[have:]`` to the store, each through the core's rules."""
        added = 0
        decoded: dict[str, dict[str, tuple[SignedTx, list[WrappedKey], str | None]]] = {}
        for entry in entries[have:]:
            txs = decoded.get(entry["evm_tx"])
            if txs is None:
                txs = decoded[entry["evm_tx"]] = self._decode_calldata(entry["evm_tx"])
            signed, keys, now = txs[entry["tx_hash"]]
            try:
                self.mirror.submit([signed], now=now)
            except CarbonLedgerError as exc:
                raise IntegrityError(
                    f"the chain's entry {have + added + 1} (sender {entry['sender']}, nonce"
                    f" {entry['nonce']}, EVM transaction {entry['evm_tx']}) breaks a rule:"
                    f" {exc}; this node does not follow it"
                ) from exc
            for key in keys:
                self.channels.put_keys(key.channel, key.epoch, {key.member: key.wrapped})
            added += 1
            self._moves += 1
        return added

    def _decode_calldata(
        self, evm_tx: str
    ) -> dict[str, tuple[SignedTx, list[WrappedKey], str | None]]:
        """Each transaction of an EVM call by body hash, with the keys it wraps and the
        ledger time of its batch when the call carried one (in a DAO transaction's hints)."""
        tx = self.rpc.call("eth_getTransactionByHash", evm_tx)
        data = bytes.fromhex(tx["input"][2:])
        (entries,) = abi_decode([TX_ABI], data[4:])
        signed = []
        for body, r, s, v, items, _, elements in entries:
            carried = decode_carried(elements, f"EVM transaction {evm_tx}")
            whole = [expand(i) if is_compact(i) else i for i in items]
            t = tx_from_parts(body, whole, r + s + bytes([v]), carried.blobs)
            signed.append((hashlib.sha256(body).hexdigest(), t, list(carried.keys)))
        times = [
            hints[0]
            for (*_, hints, _), (_, t, _) in zip(entries, signed, strict=True)
            if t.type.startswith("dao_") and hints
        ]
        now = iso_from_ms(times[0]) if times else None
        return {digest: (t, keys, now) for digest, t, keys in signed}

    def verify(self, *, max_errors: int = 100) -> VerifyReport:
        """The mirror's own checks, then each of its entries against the chain's commitment."""
        report = self.mirror.verify(max_errors=max_errors)
        if not report.ok:
            return report
        rows = self._mirror_rows()
        entries = self.chain_entries()
        if len(entries) != len(rows):
            return _failed(
                report, f"the chain holds {len(entries)} entries, the off-chain store {len(rows)}"
            )
        for (seq, body, sender, nonce), entry in zip(rows, entries, strict=True):
            body_obj = json.loads(body)
            if (
                hashlib.sha256(body).hexdigest() != entry["tx_hash"]
                or sender.lower() != entry["sender"]
                or nonce != entry["nonce"]
                or body_obj["items_root"] != entry["items_root"]
            ):
                return _failed(
                    report,
                    f"entry {seq} differs from the chain's commitment"
                    f" (EVM transaction {entry['evm_tx']})",
                    entry=seq,
                )
        report.notes.append(
            f"{len(entries)} entries match the chain's commitments at {self.address}"
        )
        return report


def _failed(report: VerifyReport, error: str, *, entry: int | None = None) -> VerifyReport:
    """``report`` (the store's own checks, passed) failed against the chain with ``error``."""
    return VerifyReport(
        False, report.entries, report.leaves, report.checkpoints, report.root, error, entry=entry
    )
