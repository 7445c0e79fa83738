"""Following the chain: the off-chain store brought to the chain's entries, and checked.

A node's store takes each entry the chain holds beyond it, read from the calldata of
its EVM transaction and run through the core's rules as it is taken (an entry that
breaks one is refused, naming it); a store that diverged from the chain is rebuilt
(:mod:`~carbonledger.adapters.evm.recovery`). :meth:`Follower.verify` checks the store
against the chain's commitments.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carbonledger.adapters.evm.ahead import AnnouncedAhead
from carbonledger.adapters.evm.base import EvmBase
from carbonledger.adapters.evm.calldata import Calls
from carbonledger.adapters.evm.carried import WrappedKey, decode_carried
from carbonledger.adapters.evm.entries import store_count, writer_lock
from carbonledger.adapters.evm.exchange import BlobSource, fill_blobs
from carbonledger.adapters.evm.packed import typed_digest_hex, typed_tx
from carbonledger.adapters.evm.recovery import entries_kept, store_beside
from carbonledger.adapters.evm.rpc import NodeUnreachable
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.dao.model import iso_from_ms
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, tx_from_parts
from carbonledger.core.typed import chain_commitment
from carbonledger.errors import CarbonLedgerError, IntegrityError
from carbonledger.ports.ledger import VerifyReport

if TYPE_CHECKING:
    from carbonledger.adapters.sqlstore import SqlLedger

#: A transaction read from calldata (or why the core refused it), the keys it wraps and
#: the ledger time of its batch when the call carried one.
Decoded = tuple[SignedTx | CarbonLedgerError, list[WrappedKey], str | None]

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

    #: Where sealed blobs this node does not hold are fetched (None: from nowhere).
    exchange: BlobSource | None = None
    _ahead: AnnouncedAhead | None = None
    _calls: Calls | None = None

    @property
    def calls(self) -> Calls:
        """The calls of the EVM transactions this node reads, each read once for the
        look-ahead and the entries taken (:mod:`~carbonledger.adapters.evm.calldata`)."""
        if self._calls is None:
            self._calls = Calls(self.rpc, self._selectors)
        return self._calls

    @property
    def ahead(self) -> AnnouncedAhead:
        """The node URLs announced in the entries this node has not taken yet (where it
        also asks for blobs it misses, see :mod:`~carbonledger.adapters.evm.ahead`)."""
        if self._ahead is None:
            self._ahead = AnnouncedAhead(self.calls)
        return self._ahead

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
        signs next must follow the chain's nonces, not a store left behind or ahead by a
        crash, nor the chain without what it still holds unmined from this node)."""
        if self._operator is not None and not self._synced_once:
            # Reads go on without the node (a write then names it unreachable).
            # Under the writer's lock: what this home's key has unmined is then no other
            # writer's chunk on its way, but what a writer killed after sending it left.
            with contextlib.suppress(NodeUnreachable), writer_lock(self):
                self.check_chain()
                self._await_own_pending()
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
        writers) is rebuilt from the chain: a new store is filled beside it and swapped
        in at once, so readers see the old store or the new one (a SQLite store's old
        copy is kept beside it, as ``*.diverged-TIME``). Each entry goes through the
        core's rules as the store takes it: an entry that breaks one is refused with an
        error naming it (its EVM transaction, sender and nonce), and the store stays at
        the entry before it.
        """
        with writer_lock(self):
            return self._sync(confirmations)

    def _sync(self, confirmations: int = 0) -> int:
        self.check_chain()
        entries = self._entry_log.entries(depth=confirmations)
        self._synced_once = True
        have = entries_kept(self.mirror, self._mirror_rows, entries)
        if have is None:
            return self._rebuild(entries)
        return self._take(entries, have, self.mirror)

    def _rebuild(self, entries: list[dict[str, Any]]) -> int:
        """Fill a new store beside the store from the chain's ``entries``, then swap it in
        in one commit: a server's readers see the old store or the new one, never one
        half refilled (nor an empty one, where its users are unknown). An entry that
        breaks a rule leaves the store at the entry before it, as :meth:`_take` does; a
        node that stops answering mid-way leaves the old store as it was."""
        if self._ledger_id is None:  # the new store names its ledger only once refilled
            with contextlib.suppress(CarbonLedgerError):
                self._ledger_id = self.mirror.state().ledger_id or None
        with store_beside(self.mirror, self._operator) as (fresh, swap):
            try:
                taken = self._take(entries, 0, fresh)
            except IntegrityError:
                swap()  # the chain up to the entry it refuses, as a store following it keeps
                self._moves += 1
                raise
            swap()
            self._moves += 1
        return taken

    def _take(
        self, entries: list[dict[str, Any]], have: int, store: SqliteLedger | SqlLedger
    ) -> int:
        """Append ``entries[have:]`` to ``store``, each through the core's rules."""
        added = 0
        decoded: dict[str, dict[str, Decoded]] = {}
        self.ahead.pending = [e["evm_tx"] for e in entries[have:]]
        for at, entry in enumerate(entries[have:]):
            self.ahead.at = at
            txs = decoded.get(entry["evm_tx"])
            if txs is None:
                txs = decoded[entry["evm_tx"]] = self._decode_calldata(entry["evm_tx"])
            signed, keys, now = txs[entry["tx_hash"]]
            try:
                if isinstance(signed, CarbonLedgerError):
                    raise signed  # the core refused what the chain took as signed
                store.submit([signed], now=now)
            except CarbonLedgerError as exc:
                raise IntegrityError(
                    f"the chain's entry {have + added + 1} (sender {entry['sender']}, nonce"
                    f" {entry['nonce']}, EVM transaction {entry['evm_tx']}) breaks a rule:"
                    f" {exc}; this node does not follow it"
                ) from exc
            for key in keys:
                store.channels.put_keys(key.channel, key.epoch, {key.member: key.wrapped})
            added += 1
            if store is self.mirror:  # a store filled beside it moves once, when swapped in
                self._moves += 1
        return added

    def _decode_calldata(self, evm_tx: str) -> dict[str, Decoded]:
        """Each transaction of an EVM call by body hash, with the keys it wraps and the
        ledger time of its batch when the call carried one (in a DAO transaction's hints)."""
        where = f"EVM transaction {evm_tx}"
        signed: list[tuple[str, SignedTx | CarbonLedgerError, list[WrappedKey]]] = []
        times = []
        # Typed transactions name their ledger only through their signature's domain: the
        # ledger id is the genesis entry's, kept once known (a rebuilt store has none).
        ledger_id = self._ledger_id or self.mirror.state().ledger_id
        for entry in self.calls.read(evm_tx):
            if isinstance(entry[0], bytes):  # a Tx tuple (JSON form)
                body, r, s, v, items, hints, elements = entry
                carried = decode_carried(elements, where)
                t = tx_from_parts(body, items, r + s + bytes([v]), carried.blobs)
                if t.type.startswith("dao_") and hints:
                    times.append(hints[0])
                ledger_id = ledger_id or str(t.body["ledger"])
                self._ledger_id = ledger_id
            else:  # typed: its packed items, unpacked and checked by the core
                carried = decode_carried(entry[7], where)
                try:
                    t = typed_tx(str(ledger_id), entry, carried.blobs)
                except CarbonLedgerError as exc:  # named with its entry by _take
                    signed.append((typed_digest_hex(str(ledger_id), entry), exc, []))
                    continue
            signed.append((chain_commitment(t.body_bytes)[0], t, list(carried.keys)))
        now = iso_from_ms(times[0]) if times else None
        # Sealed blobs are not in calldata: the store's, else the peers' (checked by hash).
        filled = fill_blobs(self.mirror, self.exchange, [t for _, t, _ in signed], where, now)
        self.calls.taken(evm_tx)  # decoded whole: the entries are taken from what is returned
        signed = [(d, t, k) for (d, _, k), t in zip(signed, filled, strict=True)]
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
            if (
                chain_commitment(body) != (entry["tx_hash"], entry["items_root"])
                or sender.lower() != entry["sender"]
                or nonce != entry["nonce"]
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
