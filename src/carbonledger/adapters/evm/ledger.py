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
import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from carbonledger.adapters.evm.carried import (
    WrappedKey,
    decode_carried,
    encode_carried,
    new_keys,
)
from carbonledger.adapters.evm.chain import (
    DEFAULT_TIME_SKEW_MS,
    _is_anvil,
    _mine_and_wait,
    _Sender,
    artifact,
    deploy,
)
from carbonledger.adapters.evm.compact import compact_record, expand, is_compact
from carbonledger.adapters.evm.entries import (
    ENTRY_TOPIC,
    EntryLog,
    common_prefix,
    store_count,
    store_receipts,
    writer_lock,
)
from carbonledger.adapters.evm.reverts import errors_by_selector as _errors_by_selector
from carbonledger.adapters.evm.reverts import selector as _selector
from carbonledger.adapters.evm.reverts import translate
from carbonledger.adapters.evm.rpc import NodeUnreachable, Rpc, RpcError
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.authority import apply
from carbonledger.core.dao.model import iso_from_ms, ledger_ms
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, check_tx, tx_from_parts, utc_now
from carbonledger.crypto.keys import PrivateKey, checksum_address
from carbonledger.errors import CarbonLedgerError, ConfigurationError, Conflict, IntegrityError
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import (
    Checkpoint,
    InclusionProof,
    ItemQuery,
    PeriodKey,
    Receipt,
    StoredItem,
    VerifyReport,
)

if TYPE_CHECKING:
    from carbonledger.adapters.sqlstore import SqlLedger

__all__ = ["DEFAULT_TIME_SKEW_MS", "ROLE_BITS", "EvmLedger", "artifact", "deploy"]

#: The contracts whose custom errors a revert may carry (CarbonLedger, its Governor,
#: the Governor's item reader, and the ledger's reader of membership items).
CONTRACTS = ("CarbonLedger", "Governor", "DaoItems", "MemberItems")

#: The contract's role bits (contracts/src/Roles.sol): an account's roles on chain are
#: those of its registration, read there when it enrols.
ROLE_BITS = {
    "rec_dealer": 8,
    "offset_dealer": 16,
    "auditor": 32,
    "org_admin": 64,
    "member": 128,
    "consumer": 256,
}
TX_ABI = "(bytes,bytes32,bytes32,uint8,bytes[],uint256[],bytes[])[]"
#: Gas a DAO transaction may need beyond a plain entry, per byte of its items (a
#: proposal's items are read in full on chain) and per action of its proposals.
_DAO_GAS = {"dao_propose": 300_000, "dao_execute": 150_000, "dao_setup": 150_000}
_DAO_GAS_PER_BYTE = {"dao_propose": 400, "dao_setup": 200}
_DAO_GAS_PER_ACTION = {"issue_offset": 150_000, "issue_rec": 150_000, "fund": 60_000}


#: Transactions whose items the contract's membership reader checks (MemberItems.sol).
_MEMBERSHIP = frozenset(
    {"register_org", "register_site", "register_identity", "enroll", "channel_grant"}
)


def _carried(tx: SignedTx, items: list[dict[str, Any]]) -> list[bytes]:
    """The items as calldata carries them: emissions records compactly when they can be
    (:mod:`carbonledger.adapters.evm.compact`), everything else as its canonical JSON."""
    if tx.type != "record_emissions":
        return list(tx.items)
    return [compact_record(d, i) or d for d, i in zip(tx.items, items, strict=True)]


#: The gas estimate of an EVM transaction: a bound on what the contract spends per byte
#: of calldata (reading canonical JSON), per item and per carbonledger transaction.
_GAS_PER_BYTE, _GAS_PER_ITEM, _GAS_PER_TX = 40, 60_000, 60_000
#: What the membership reader contract adds per item it reads and stores.
_GAS_PER_MEMBER_ITEM = 60_000
#: No EVM transaction asks for more gas than this (block gas limits are 30 M and up).
_GAS_CAP = 29_000_000


def _encoded_size(tx: SignedTx) -> int:
    """About how many bytes of calldata ``tx`` takes (ABI words and padding included)."""
    parts = [tx.body_bytes, *tx.items, *tx.blobs]
    return sum(len(p) + 64 for p in parts) + 32 * 12


def _regroup(batches: int, owners: list[int], done: list[list[Receipt]]) -> list[list[Receipt]]:
    """The receipts of the parts of each batch (``owners[i]``: the batch of part ``i``)."""
    grouped: list[list[Receipt]] = [[] for _ in range(batches)]
    for n, receipts in zip(owners, done, strict=True):
        grouped[n].extend(receipts)
    return grouped


def _tx_gas(tx: SignedTx) -> int:
    """The gas estimate of ``tx`` alone."""
    per_item = _GAS_PER_ITEM + (_GAS_PER_MEMBER_ITEM if tx.type in _MEMBERSHIP else 0)
    return _GAS_PER_BYTE * _encoded_size(tx) + per_item * len(tx.items) + _GAS_PER_TX


def _entries_logged(receipt: dict[str, Any], address: str) -> int:
    """How many ``Entry`` events the contract at ``address`` emitted in ``receipt``."""
    return sum(
        1
        for log in receipt.get("logs", ())
        if log["address"].lower() == address.lower() and log["topics"][:1] == [ENTRY_TOPIC]
    )


def _dao_gas(state: LedgerState, tx: SignedTx, items: list[dict[str, Any]]) -> int:
    """A bound on the gas the Governor needs for ``tx`` (applied to ``state``)."""
    kind = tx.type
    gas = _DAO_GAS.get(kind, 100_000) + _DAO_GAS_PER_BYTE.get(kind, 60) * sum(map(len, tx.items))
    if kind in ("dao_propose", "dao_execute", "dao_vote"):
        for item in items:
            pid = item.get("id") if kind == "dao_propose" else item.get("proposal")
            proposal = state.dao.get(f"proposal:{pid}") or {}
            for part in proposal.get("parts", ()):
                gas += 25_000  # a tally, an action's storage
                for action in part["actions"] if kind != "dao_vote" else ():
                    gas += _DAO_GAS_PER_ACTION.get(action["type"], 40_000)
    return gas


#: One EVM transaction ready to send: its calldata, its gas limit and the checked
#: carbonledger transactions it carries.
Prepared = tuple[bytes, int, list[SignedTx]]


class EvmLedger:
    """Implements :class:`carbonledger.ports.ledger.LedgerPort` on a ``CarbonLedger`` contract.

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
        self._entry_log = EntryLog(self.rpc, self.address, deploy_block)
        self._operator = operator
        self.mirror: SqliteLedger | SqlLedger
        if isinstance(mirror, str) and "://" in mirror:
            from carbonledger.adapters.sqlstore import SqlLedger

            self.mirror = SqlLedger(mirror, operator=operator, checkpoint_signer=checkpoint_signer)
        else:
            self.mirror = SqliteLedger(
                mirror, operator=operator, checkpoint_signer=checkpoint_signer
            )
        self.channels: ChannelStore = self.mirror.channels
        self._abi = artifact()["abi"]
        self._errors = _errors_by_selector([e for n in CONTRACTS for e in artifact(n)["abi"]])
        self._submit_selector = _selector(f"submit({TX_ABI})")
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

    def _submit_many(
        self, batches: Sequence[Sequence[SignedTx]], *, chunk: int = 100
    ) -> list[list[Receipt]]:
        """Several atomic batches, one EVM transaction each, sent ``chunk`` at a time.

        A batch larger than one EVM transaction may be (``max_tx_bytes`` of calldata,
        ``max_tx_gas`` of estimated gas) is split between transactions, each atomic: if
        the chain refuses a later part, the earlier parts stay recorded. Chunks are
        pipelined: while one chunk is sent and mined (a network wait), the
        next is checked against the rules, encoded and signed here; once the chain has
        accepted a chunk whole, the next is sent before the accepted one is mirrored, so
        the node mines while the off-chain store commits. Each chunk is mirrored in one
        commit, in order; if the chain refuses anything, the chunks not yet sent are
        dropped, what it accepted is kept, and the error raised. A chunk is mirrored only
        after every chunk before it (if the store fails, ``sync`` catches it up).
        """
        sender = self._sender
        if sender is None:
            raise Conflict("writing needs the ledger admin's key (the operator)")
        self.sync()  # the rules run on the chain's state, not on a stale or diverged store
        # The relaying account's nonce as the chain has it (another process of this home,
        # a restarted node or a reorganisation may have moved it).
        sender.nonce = int(self.rpc.call("eth_getTransactionCount", sender.address, "pending"), 16)
        state = self.mirror.state()
        now_ms = self._ledger_ms()
        now = iso_from_ms(now_ms)
        second = now_ms // 1000
        # `state` is this call's own copy: a batch that breaks the rules raises before
        # anything is sent, so the batches are applied to it in turn without copying it
        # again for each one (the copy dominated the adapter's time for small batches).
        todo = [b for b in batches if b]
        units = [(n, part) for n, b in enumerate(todo) for part in self._parts(b)]
        chunks = self._flights(units, chunk)
        out: list[list[Receipt]] = []
        # The chunk on its way (mined or not), with what `_settle` needs to mirror it.
        flying: tuple[Future[list[dict[str, Any] | None]], list[Prepared]] | None = None
        store_failed = False
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evm-send") as pool:
            try:
                for part in chunks:
                    sender.refresh_fee()
                    prepared = [
                        self._prepare(state, b, now, copy=False, now_ms=now_ms) for _, b in part
                    ]
                    sent = [sender.sign(self.address, data, gas) for data, gas, _ in prepared]
                    if flying is None:
                        flying = (pool.submit(self._send_and_mine, sent, second), prepared)
                        continue
                    future, previous = flying
                    receipts = future.result()
                    flying = None
                    if all(r is not None and int(r["status"], 16) == 1 for r in receipts):
                        flying = (pool.submit(self._send_and_mine, sent, second), prepared)
                    store_failed = True
                    out.extend(self._settle(previous, receipts, now))  # raises what's refused
                    store_failed = False
                if flying is not None:
                    future, previous = flying
                    flying = None
                    store_failed = True
                    out.extend(self._settle(previous, future.result(), now))
                    store_failed = False
            except BaseException:
                if flying is not None:
                    future, previous = flying
                    with contextlib.suppress(BaseException):
                        receipts = future.result()
                        if not store_failed:
                            out.extend(self._settle(previous, receipts, now))
                if store_failed:
                    # What the chain accepted and the store did not take: read back.
                    with contextlib.suppress(Exception):
                        self.sync()
                sender.nonce = int(
                    self.rpc.call("eth_getTransactionCount", sender.address, "pending"), 16
                )
                raise
        return _regroup(len(todo), [n for n, _ in units], out)

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
            tx_size, tx_gas = _encoded_size(tx), _tx_gas(tx)
            if parts and size + tx_size <= self.max_tx_bytes and gas + tx_gas <= self.max_tx_gas:
                parts[-1].append(tx)
                size, gas = size + tx_size, gas + tx_gas
            else:
                parts.append([tx])
                size, gas = tx_size, tx_gas
        return parts

    def _ledger_ms(self) -> int:
        """This call's ledger time (ms): the operator's clock, never before the chain's
        latest block (whose second the next block is mined at, on anvil) nor before the
        previous call's."""
        now_ms = max(ledger_ms(utc_now()), self._last_ms)
        if self._mine:
            latest = self.rpc.call("eth_getBlockByNumber", "latest", False)
            now_ms = max(now_ms, int(latest["timestamp"], 16) * 1000)
        self._last_ms = now_ms
        return now_ms

    def _send_and_mine(
        self, sent: list[tuple[str, str]], second: int
    ) -> list[dict[str, Any] | None]:
        """Send, mine (on anvil), and wait for the receipts; None for a transaction that
        the chain did not mine in time."""
        answers = self.rpc.batch_raw([("eth_sendRawTransaction", [raw]) for raw, _ in sent])
        for answer in answers:
            if "error" in answer:
                raise Conflict(f"the chain refused the transaction: {answer['error']['message']}")
        hashes = [h for _, h in sent]
        return _mine_and_wait(self.rpc, hashes, self._mine, second, self.receipt_timeout)

    def _settle(
        self,
        prepared: list[Prepared],
        receipts: list[dict[str, Any] | None],
        now: str,
    ) -> list[list[Receipt]]:
        """Mirror what the chain accepted (one commit, one checkpoint); raise what it refused."""
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
        flat = self._mirror_accepted(chained, now)
        out: list[list[Receipt]] = []
        for batch in accepted:
            out.append(flat[: len(batch)])
            flat = flat[len(batch) :]
        if failure is not None:
            raise failure
        return out

    def _mirror_accepted(self, txs: list[SignedTx], now: str) -> list[Receipt]:
        """Put into the store what the chain accepted, in the chain's order: directly when
        they are the chain's next entries, else (another writer's entries came first, or
        another writer of this store took ours) by reading the chain back."""
        if not txs:
            return []
        entries = self.chain_entries()
        at = store_count(self.mirror)
        if at < len(entries) and entries[at]["tx_hash"] == txs[0].tx_hash.hex():
            try:
                return self.mirror.submit(txs, now=now, checked=True)
            except CarbonLedgerError:
                pass  # the store moved on meanwhile: the chain decides
        self.sync()
        return store_receipts(self.mirror, txs)

    def _prepare(
        self,
        state: LedgerState,
        batch: Sequence[SignedTx],
        now: str,
        *,
        copy: bool = True,
        now_ms: int | None = None,
    ) -> Prepared:
        """Run the rules (raising exactly what the embedded backend raises); encode the call.

        With ``copy=False`` the rules run on ``state`` itself, which a refused batch leaves
        half-applied: only for a state the caller discards on error.
        """
        work = state.copy() if copy else state
        if now_ms is None:
            now_ms = ledger_ms(now)
        checked_all: list[SignedTx] = []
        dao_gas = 0
        encoded: list[tuple[Any, ...]] = []
        periods: set[tuple[str, str, str]] = set()
        for tx in batch:
            checked = check_tx(tx)
            items = (
                list(tx.objects)
                if tx.objects is not None
                else [json.loads(d) for d in checked.items]
            )
            channels = dict(work.channels)
            apply(work, checked.body, items, now=now, blobs=checked.blob_map())
            carried = encode_carried(checked.blobs, self._wrapped(channels, work))
            self._check_periods(items, periods)
            hints = self._hints(work, checked, items, now_ms)
            if checked.type.startswith("dao_"):
                dao_gas += _dao_gas(work, checked, items)
            sig = checked.signature
            encoded.append(
                (
                    checked.body_bytes,
                    sig[:32],
                    sig[32:64],
                    sig[64],
                    _carried(checked, items),
                    hints,
                    carried,
                )
            )
            checked_all.append(checked)
        if work is not state:
            state.__dict__.update(work.__dict__)
        data = self._submit_selector + abi_encode([TX_ABI], [encoded])
        n_items = sum(len(t.items) for t in checked_all)
        # Membership items are read by the ledger's reader contract and stored.
        members = sum(len(t.items) for t in checked_all if t.type in _MEMBERSHIP)
        gas = 120_000 + _GAS_PER_BYTE * len(data) + _GAS_PER_ITEM * n_items
        gas += _GAS_PER_MEMBER_ITEM * members
        gas = min(_GAS_CAP, gas + _GAS_PER_TX * len(batch) + dao_gas)
        return data, gas, checked_all

    def _wrapped(self, before: dict[str, Any], state: LedgerState) -> list[WrappedKey]:
        """The channel keys a transaction wraps (recorded in ``state`` beyond ``before``),
        from the channel store where the services put them before submitting."""
        return [
            WrappedKey(c, e, m, self.channels.wrapped_key(c, e, m, d))
            for c, e, m, d in new_keys(before, state.channels)
        ]

    def _check_periods(self, items: list[dict[str, Any]], seen: set[tuple[str, str, str]]) -> None:
        """The embedded ledger's unique (account, period) index, checked before sending."""
        for item in items:
            if item.get("kind") != "emissions_record":
                continue
            account = f"{item['site']}/{item['account']}"
            key = (account, item["period"]["start"], item["period"]["end"])
            known = {(p.account, p.start, p.end) for p in self.mirror.periods([account])}
            if key in seen or key in known:
                raise Conflict(f"already recorded (same account and period): {key}")
            seen.add(key)

    @staticmethod
    def _hints(
        state: LedgerState, tx: SignedTx, items: list[dict[str, Any]], now_ms: int
    ) -> list[int]:
        """What the contract checks against the signed items and the block (never trusts).

        DAO transactions: ``[ledger time in ms]``, which the Governor bounds by the
        block's second.
        """
        kind = tx.type
        if kind.startswith("dao_"):
            return [now_ms]
        if kind != "issue_token":
            return []
        hints: list[int] = []
        for data, item in zip(tx.items, items, strict=True):
            anchor = b',"id":"' + str(item["id"]).encode() + b'","kind":"token"'
            hints.append(data.find(anchor) + 7)
            org = item.get("org")
            org_at = data.find(b',"org":"' + str(org).encode() + b'","period":') if org else -8
            hints.append(org_at + 8)
        return hints

    def _revert_reason(
        self, data: bytes, receipt: dict[str, Any], gas: int | None = None
    ) -> CarbonLedgerError:
        """Replay the call on the state before its block, at its block's time (the
        Governor judges windows by it), for the contract's error."""
        if gas is not None and int(receipt["gasUsed"], 16) >= gas:
            return Conflict(
                f"transaction {receipt['transactionHash']} ran out of gas (its limit,"
                f" {gas:,}, was all used); nothing of it was recorded: sign fewer items"
                " per transaction"
            )
        number = int(receipt["blockNumber"], 16)
        block = hex(number - 1)
        call = {"from": self._sender.address if self._sender else None, "to": self.address}
        mined = self.rpc.call("eth_getBlockByNumber", hex(number), False)
        at_time = [{}, {"time": mined["timestamp"], "number": hex(number)}]
        try:
            try:
                self.rpc.call("eth_call", {**call, "data": "0x" + data.hex()}, block, *at_time)
            except RpcError as exc:
                if exc.code == -32602:
                    # Hardhat's node takes no block overrides ("invalid params") but runs a
                    # call at a block in that block's own header, its time: replay on the
                    # state after the block, which the reverted call did not change.
                    self.rpc.call("eth_call", {**call, "data": "0x" + data.hex()}, hex(number))
                elif exc.data is None:  # a node without block overrides: replay as it is
                    self.rpc.call("eth_call", {**call, "data": "0x" + data.hex()}, block)
                else:
                    raise
        except RpcError as exc:
            raw = exc.data if isinstance(exc.data, str) else ""
            return self._translate(raw, str(exc))
        return Conflict(f"transaction {receipt['transactionHash']} reverted on chain")

    def _translate(self, raw: str, message: str) -> CarbonLedgerError:
        return translate(self._errors, raw, message)

    # -- reading (the off-chain mirror) ---------------------------------------------
    def state(self) -> LedgerState:
        """The store's state; a writer brings the store to the chain first (what it signs
        next must follow the chain's nonces, not a store left behind by a crash), and again
        whenever the chain holds entries the store does not (other nodes write too: what
        one signs must not repeat what another recorded, e.g. a calculation basis)."""
        if self._operator is not None:
            # Reads go on without the node (a write then names it unreachable).
            with contextlib.suppress(NodeUnreachable):
                if not self._synced_once or self._behind():
                    self.sync()
        return self.mirror.state()

    def _behind(self) -> bool:
        """Whether the chain holds more entries than the store (a few RPC calls)."""
        return len(self.chain_entries()) > store_count(self.mirror)

    @property
    def reloads(self) -> int:
        """How often the store was reopened after another process wrote it."""
        return int(getattr(self.mirror, "reloads", 0))

    def refresh(self, *, blocking: bool = True) -> bool:
        """Take in what other nodes added on chain (a writer) and what this home's other
        processes wrote to the store; True if the head moved (group commit, which keeps a
        state of its own, then takes the new one)."""
        moved = False
        if self._operator is not None:
            with contextlib.suppress(NodeUnreachable):
                moved = self._behind() and self.sync() > 0
        inner = getattr(self.mirror, "refresh", None)
        return bool(inner(blocking=blocking)) or moved if inner is not None else moved

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
    def chain_entries(self) -> list[dict[str, Any]]:
        """Every ``Entry`` event: sender, nonce, body hash, items root, EVM transaction, block."""
        self.check_chain()
        return self._entry_log.entries()

    def _mirror_rows(self) -> list[tuple[int, bytes, str, int]]:
        if not isinstance(self.mirror, SqliteLedger):
            return self.mirror.tx_rows()
        conn = sqlite3.connect(self.mirror.path)
        try:
            return [
                (seq, bytes(body), sender, nonce)
                for seq, body, sender, nonce in conn.execute(
                    "SELECT seq, body, sender, nonce FROM tx ORDER BY seq"
                )
            ]
        finally:
            conn.close()

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
        count = store_count(self.mirror)
        if count <= len(entries):
            tail = self._mirror_rows()[count - 1 :] if count else []
            if not tail or common_prefix(tail, entries[count - 1 :]) == 1:
                return self._take(entries, count)
        rows = self._mirror_rows()
        shared = common_prefix(rows, entries)
        if shared == len(rows):
            return self._take(entries, shared)
        self._rebuild()
        return self._take(entries, 0)

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
        return added

    def _rebuild(self) -> None:
        """Empty the store in place, to be rebuilt from the chain (a SQLite store is
        copied aside first, as ``*.diverged-TIME``)."""
        if isinstance(self.mirror, SqliteLedger):
            aside = f"{self.mirror.path}.diverged-{utc_now().replace(':', '')}"
            self.mirror.reset(keep=Path(aside))
        else:
            self.mirror.reset()

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
            return VerifyReport(
                False,
                report.entries,
                report.leaves,
                report.checkpoints,
                report.root,
                f"the chain holds {len(entries)} entries, the off-chain store {len(rows)}",
            )
        for (seq, body, sender, nonce), entry in zip(rows, entries, strict=True):
            body_obj = json.loads(body)
            if (
                hashlib.sha256(body).hexdigest() != entry["tx_hash"]
                or sender.lower() != entry["sender"]
                or nonce != entry["nonce"]
                or body_obj["items_root"] != entry["items_root"]
            ):
                return VerifyReport(
                    False,
                    report.entries,
                    report.leaves,
                    report.checkpoints,
                    report.root,
                    f"entry {seq} differs from the chain's commitment"
                    f" (EVM transaction {entry['evm_tx']})",
                    entry=seq,
                )
        report.notes.append(
            f"{len(entries)} entries match the chain's commitments at {self.address}"
        )
        return report

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
            "entries_off_chain": len(self._mirror_rows()),
        }

    def close(self) -> None:
        self.mirror.close()
        self.rpc.close()
