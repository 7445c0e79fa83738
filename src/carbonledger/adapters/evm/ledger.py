"""The ledger port on an EVM chain: the ``CarbonLedger`` contract plus an off-chain mirror.

Writing: each :meth:`EvmLedger.submit` batch is first checked with the core's
state machine (the same code, so the same errors as the embedded backend), then
sent as one EVM transaction to ``CarbonLedger.submit`` (all or nothing, like an
embedded commit), signed locally by the operator. The contract recovers every
carbonledger signature itself, checks nonces, roles and the token network, and
records each body's hash; its ``Governor`` enforces the DAO's rules (dao_*
transactions); reverts are translated into carbonledger errors.

Ledger time: the DAO's windows are measured in ledger time (ms). The ledger time
of a call is taken no earlier than the chain's latest block, each DAO
transaction carries it (``hints[0]``), and the Governor accepts it within the
second of the block that includes it or at most the deployment's time skew
before it, never before an earlier governance transaction's. On anvil the
adapter mines that block at that second (skew 0), so the core and the chain
judge every window at the same time; on chains it does not mine, the skew
(``DEFAULT_TIME_SKEW_MS`` unless given at deployment) bounds the lag.

Reading: accepted transactions are appended to the off-chain mirror (the
embedded ledger's format: query columns, Merkle tree, proofs, channel store), so
queries never touch the chain; :meth:`EvmLedger.sync` rebuilds the mirror from
the chain's calldata and events, and :meth:`EvmLedger.verify` checks the mirror
against the chain's commitments.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from carbonledger.adapters.evm.calls import ROLE_BITS, Prepared, _encoded_size, _tx_gas
from carbonledger.adapters.evm.chain import DEFAULT_TIME_SKEW_MS, _Sender, artifact, deploy
from carbonledger.adapters.evm.entries import writer_lock
from carbonledger.adapters.evm.exchange import keep_blobs
from carbonledger.adapters.evm.settle import Settler
from carbonledger.core.dao.model import iso_from_ms, ledger_ms
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, utc_now
from carbonledger.errors import Conflict
from carbonledger.ports.ledger import Receipt

__all__ = ["DEFAULT_TIME_SKEW_MS", "ROLE_BITS", "EvmLedger", "artifact", "deploy"]


#: Transactions of a chunk sent in one request while the rest are checked and signed;
#: the first request holds fewer, so that the node starts taking them in sooner.
_SEND_EVERY = 25
_SEND_FIRST = 5


def _regroup(batches: int, owners: list[int], done: list[list[Receipt]]) -> list[list[Receipt]]:
    """The receipts of the parts of each batch (``owners[i]``: the batch of part ``i``)."""
    grouped: list[list[Receipt]] = [[] for _ in range(batches)]
    for n, receipts in zip(owners, done, strict=True):
        grouped[n].extend(receipts)
    return grouped


class EvmLedger(Settler):
    """Implements :class:`carbonledger.ports.ledger.LedgerPort` on a ``CarbonLedger`` contract.

    Opened as :class:`~carbonledger.adapters.evm.base.EvmBase` says (the chain, the
    contract, the off-chain store, the relaying key); it follows the chain as
    :class:`~carbonledger.adapters.evm.follow.Follower` says, and writes here.
    """

    # -- writing ----------------------------------------------------------------
    def submit(self, txs: Sequence[SignedTx]) -> list[Receipt]:
        """Check ``txs`` with the state machine, append them on chain in one EVM transaction."""
        if not txs:
            return []
        return self.submit_many([txs])[0]

    def submit_many(
        self, batches: Sequence[Sequence[SignedTx]], *, chunk: int = 100
    ) -> list[list[Receipt]]:
        """See :meth:`_submit_many`; one writer of the store at a time (other processes
        writing from the same home wait)."""
        with writer_lock(self):
            return self._submit_many(batches, chunk=chunk)

    def _submit_many(  # noqa: PLR0915 - one pipeline: its chunks' states read in order
        self, batches: Sequence[Sequence[SignedTx]], *, chunk: int = 100
    ) -> list[list[Receipt]]:
        """Several atomic batches, one EVM transaction each, sent ``chunk`` at a time.

        A batch larger than one EVM transaction may be (``max_tx_bytes`` of calldata,
        ``max_tx_gas`` of estimated gas) is split between transactions, each atomic: if
        the chain refuses a later part, the earlier parts stay recorded. Chunks are
        pipelined: while one chunk is sent and mined (a network wait), the
        next is checked against the rules, encoded and signed here; once the chain has
        accepted a chunk whole, the next is sent. The first chunk (and one sent
        when nothing is on its way) goes out as it is signed, a few transactions at a
        time, and is mined once all are sent. Each chunk is committed to the off-chain
        store in one commit, in order, as soon as it is sent: the store takes it while
        the node mines, ahead of the chain, and the receipts then confirm it. If the
        chain refuses anything (or another writer's entry came first), the chunks not yet
        sent are dropped, the store is brought back to the chain (rebuilt from it when it
        holds entries the chain does not), what the chain accepted is kept, and the error
        raised; a crash while the store is ahead is repaired the same way by the next
        ``sync``.
        """
        sender = self._sender
        if sender is None:
            raise Conflict("writing needs the ledger admin's key (the operator)")
        self.sync()  # the rules run on the chain's state, not on a stale or diverged store
        latest, now_ms = self._start(sender)
        state = self.mirror.state()
        now, second = iso_from_ms(now_ms), now_ms // 1000
        # `state` is this call's own copy: a batch that breaks the rules raises before
        # anything is sent, so the batches are applied to it in turn without copying it
        # again for each one (the copy dominated the adapter's time for small batches).
        todo = [b for b in batches if b]
        units = [(n, part) for n, b in enumerate(todo) for part in self._parts(b)]
        chunks = self._flights(units, chunk)
        out: list[list[Receipt]] = []
        # The chunk on its way (mined or not), with what `_settle` needs to mirror it.
        flying: tuple[Future[list[dict[str, Any] | None]], list[Prepared]] | None = None
        # A chunk being sent as it is signed: what was sent, prepared, and the sends.
        partial: tuple[list[tuple[str, str]], list[Prepared], list[Future[None]]] | None = None
        store_failed = False
        # Where the store took the chunk on its way before the chain did (see `_commit_ahead`).
        ahead: list[Receipt] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evm-send") as pool:
            try:
                for n, part in enumerate(chunks):
                    sender.refresh_fee(latest if n == 0 else None)
                    if flying is None:
                        # Nothing on its way: every few transactions go out as soon as they
                        # are signed (in nonce order, by the one sending thread), so the
                        # node takes them in while the rest are checked and signed here.
                        partial = ([], [], [])
                        at = (state, now, now_ms)
                        flying = self._send_as_signed(pool, sender, at, part, partial)
                        partial = None
                        ahead = self._commit_ahead(flying[1], now)
                        continue
                    prepared = [
                        self._prepare(state, b, now, copy=False, now_ms=now_ms) for _, b in part
                    ]
                    # Sealed blobs are not in calldata: this node keeps them before sending.
                    keep_blobs(self.channels, [t for _, _, ts in prepared for t in ts])
                    sent = [sender.sign(self.address, data, gas) for data, gas, _ in prepared]
                    future, previous = flying
                    receipts = future.result()
                    flying = None
                    if all(r is not None and int(r["status"], 16) == 1 for r in receipts):
                        flying = (pool.submit(self._send_and_mine, sent, second), prepared)
                    taken, ahead = ahead, None
                    store_failed = True
                    # raises what the chain refused (the store brought back to the chain)
                    out.extend(self._settle(previous, receipts, now, taken))
                    store_failed = False
                    if flying is not None:
                        ahead = self._commit_ahead(prepared, now)
                if flying is not None:
                    future, previous = flying
                    flying = None
                    store_failed = True
                    out.extend(self._settle(previous, future.result(), now, ahead))
                    store_failed = False
            except BaseException:
                if partial is not None and partial[0]:
                    # A later transaction of the chunk broke a rule: what was sent before
                    # it is mined and mirrored (each is atomic), as an earlier chunk is.
                    flying = (self._mine_later(pool, partial, second), partial[1])
                if flying is not None:
                    future, previous = flying
                    with contextlib.suppress(BaseException):
                        receipts = future.result()
                        if not store_failed:
                            out.extend(self._settle(previous, receipts, now, ahead))
                # What the chain accepted and the store did not take, and what another
                # node recorded meanwhile (a refusal may be a race lost to it): read back,
                # so the caller's next read of the state is the chain's.
                with contextlib.suppress(Exception):
                    self.sync()
                sender.nonce = int(
                    self.rpc.call("eth_getTransactionCount", sender.address, "pending"), 16
                )
                raise
        return _regroup(len(todo), [n for n, _ in units], out)

    def _start(self, sender: _Sender) -> tuple[dict[str, Any], int]:
        """The relaying account's nonce as the chain has it (another process of this home,
        a restarted node or a reorganisation may have moved it), and the latest block,
        in one request: the block (for the fee) and the ledger time of this call. If the
        chain still holds transactions of this account unmined (a writer killed after
        sending them), they are mined first and the store brought to the chain with them."""
        calls: list[tuple[str, list[Any]]] = [
            ("eth_getTransactionCount", [sender.address, "pending"]),
            ("eth_getBlockByNumber", ["latest", False]),
            ("eth_getTransactionCount", [sender.address, "latest"]),
        ]
        nonce, latest, mined = self.rpc.batch(calls)
        if int(nonce, 16) > int(mined, 16) and self._await_own_pending():
            self.sync()
            nonce, latest = self.rpc.batch(calls[:2])
        sender.nonce = int(nonce, 16)
        return latest, self._ledger_ms(latest)

    def _flights(
        self, units: list[tuple[int, list[SignedTx]]], chunk: int
    ) -> list[list[tuple[int, list[SignedTx]]]]:
        """``units`` in flights of at most ``chunk`` EVM transactions and about
        ``max_flight_gas`` of estimated gas: each flight's fee is set from the base fee
        when it is signed, and a flight over many full blocks would outrun it."""
        flights: list[list[tuple[int, list[SignedTx]]]] = []
        gas = 0
        for unit in units:
            unit_gas = sum(_tx_gas(tx) for tx in unit[1])
            if flights and len(flights[-1]) < chunk and gas + unit_gas <= self.max_flight_gas:
                flights[-1].append(unit)
                gas += unit_gas
            else:
                flights.append([unit])
                gas = unit_gas
        return flights

    def _parts(self, batch: Sequence[SignedTx]) -> list[list[SignedTx]]:
        """``batch`` in consecutive parts that each fit one EVM transaction (a transaction
        too large alone still goes alone: its gas is capped below the block's limit)."""
        parts: list[list[SignedTx]] = []
        size = gas = 0
        for tx in batch:
            tx_size = _encoded_size(tx)
            tx_gas = _tx_gas(tx, tx_size)
            if parts and size + tx_size <= self.max_tx_bytes and gas + tx_gas <= self.max_tx_gas:
                parts[-1].append(tx)
                size, gas = size + tx_size, gas + tx_gas
            else:
                parts.append([tx])
                size, gas = tx_size, tx_gas
        return parts

    def _ledger_ms(self, latest: dict[str, Any]) -> int:
        """This call's ledger time (ms): the operator's clock, never before the chain's
        ``latest`` block (whose second the next block is mined at, on anvil) nor before
        the previous call's."""
        now_ms = max(ledger_ms(utc_now()), self._last_ms)
        if self._mine:
            now_ms = max(now_ms, int(latest["timestamp"], 16) * 1000)
        self._last_ms = now_ms
        return now_ms

    def _send_and_mine(
        self, sent: list[tuple[str, str]], second: int
    ) -> list[dict[str, Any] | None]:
        """Send, mine (on anvil), and wait for the receipts; None for a transaction that
        the chain did not mine in time."""
        self._send(sent, [])
        hashes = [h for _, h in sent]
        return self._mined(hashes, second)

    def _send(self, sent: list[tuple[str, str]], earlier: list[Future[None]]) -> None:
        """Send signed EVM transactions in one request, unless an ``earlier`` send of
        the same chunk was refused (its later nonces could never be mined)."""
        if any(f.exception() is not None for f in earlier):  # done: one thread sends
            return
        answers = self.rpc.batch_raw([("eth_sendRawTransaction", [raw]) for raw, _ in sent])
        for answer in answers:
            if "error" in answer:
                raise Conflict(f"the chain refused the transaction: {answer['error']['message']}")

    def _send_as_signed(
        self,
        pool: ThreadPoolExecutor,
        sender: _Sender,
        at: tuple[LedgerState, str, int],
        units: list[tuple[int, list[SignedTx]]],
        partial: tuple[list[tuple[str, str]], list[Prepared], list[Future[None]]],
    ) -> tuple[Future[list[dict[str, Any] | None]], list[Prepared]]:
        """Check ``units`` (``at``: on this state, at this ledger time, ISO and ms) and
        sign them, every ``_SEND_EVERY`` (the first ``_SEND_FIRST``) sent at once by the
        sending thread, in nonce order; then mine them. What was sent, prepared and the
        sends are kept in ``partial`` (a unit that breaks a rule leaves there what went
        before it). The receipts' future and what ``_settle`` needs."""
        state, now, now_ms = at
        bounds = [0, *range(_SEND_FIRST, len(units), _SEND_EVERY), len(units)]
        for i, j in itertools.pairwise(bounds):
            prepared = [
                self._prepare(state, b, now, copy=False, now_ms=now_ms) for _, b in units[i:j]
            ]
            # Sealed blobs are not in calldata: this node keeps them before sending (the
            # store may take these entries only from the chain, after another's).
            keep_blobs(self.channels, [t for _, _, ts in prepared for t in ts])
            signed = [sender.sign(self.address, data, gas) for data, gas, _ in prepared]
            partial[0].extend(signed)
            partial[1].extend(prepared)
            partial[2].append(pool.submit(self._send, signed, partial[2][:]))
        return self._mine_later(pool, partial, now_ms // 1000), partial[1]

    def _mine_later(
        self,
        pool: ThreadPoolExecutor,
        partial: tuple[list[tuple[str, str]], list[Prepared], list[Future[None]]],
        second: int,
    ) -> Future[list[dict[str, Any] | None]]:
        """Once the sends of a chunk sent as it was signed are done: mine (on anvil) and
        wait for its receipts; the first refusal of a send raised instead."""
        sent, _, sends = partial

        def mine() -> list[dict[str, Any] | None]:
            for send in sends:
                send.result()
            hashes = [h for _, h in sent]
            return self._mined(hashes, second)

        return pool.submit(mine)
