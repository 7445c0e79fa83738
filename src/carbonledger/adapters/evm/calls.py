"""The EVM call of a batch: the core's rules run on it, its calldata, its gas, and the
reason the contract gives when it refuses one.

The estimates bound what the contract spends (reading canonical JSON per byte, per
item, per carbonledger transaction; the membership reader and the Governor beyond
that), so that a batch is split before it would outgrow one EVM transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from carbonledger.adapters.evm.carried import WrappedKey, encode_carried, new_keys
from carbonledger.adapters.evm.entries import ENTRY_TOPIC
from carbonledger.adapters.evm.follow import Follower
from carbonledger.adapters.evm.packed import encode_call, encode_typed, typed_items
from carbonledger.adapters.evm.reverts import translate
from carbonledger.adapters.evm.rpc import RpcError
from carbonledger.core.authority import apply
from carbonledger.core.dao.model import ledger_ms
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, check_tx
from carbonledger.core.typed import TYPED_VERSION
from carbonledger.errors import CarbonLedgerError, Conflict, InvalidInput

__all__ = ["ROLE_BITS", "Calls", "Prepared", "calldata_floor"]

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
#: Gas a DAO transaction may need beyond a plain entry, per byte of its items (a
#: proposal's items are read in full on chain) and per action of its proposals.
_DAO_GAS = {"dao_propose": 300_000, "dao_execute": 150_000, "dao_setup": 150_000}
_DAO_GAS_PER_BYTE = {"dao_propose": 400, "dao_setup": 200}
_DAO_GAS_PER_ACTION = {"issue_offset": 150_000, "issue_rec": 150_000, "fund": 60_000}


#: Transactions whose items the contract's membership reader checks (MemberItems.sol).
_MEMBERSHIP = frozenset(
    {"register_org", "register_site", "register_identity", "enroll", "channel_grant"}
)


#: The gas estimate of an EVM transaction: a bound on what the contract spends per byte
#: of calldata (reading canonical JSON), per item and per carbonledger transaction.
_GAS_PER_BYTE, _GAS_PER_ITEM, _GAS_PER_TX = 40, 60_000, 60_000
#: What the membership reader contract adds per item it reads and stores.
_GAS_PER_MEMBER_ITEM = 60_000
#: What the reader adds per byte of an item carrying an X.509 certificate (enrolments,
#: organisations with a CA), which it decodes from base64 and parses (Certificates.sol).
_GAS_PER_CERT_BYTE = 500
_CERTIFIED = frozenset({"register_org", "enroll"})
#: No EVM transaction asks for more gas than this (block gas limits are 30 M and up).
_GAS_CAP = 29_000_000


def calldata_floor(data: bytes) -> int:
    """The least gas an EVM transaction carrying ``data`` uses (EIP-7623: 21,000, then 10
    gas a zero byte and 40 a non-zero one), whatever it executes."""
    return 21_000 + 10 * (len(data) + 3 * (len(data) - data.count(0)))


def _encoded_size(tx: SignedTx) -> int:
    """About how many bytes of calldata ``tx`` takes (ABI words and padding included)."""
    parts = [tx.body_bytes, *tx.items]
    return sum(len(p) + 64 for p in parts) + 32 * 12


def _tx_gas(tx: SignedTx, size: int | None = None) -> int:
    """The gas estimate of ``tx`` alone (``size``: its :func:`_encoded_size`, if known)."""
    per_item = _GAS_PER_ITEM + (_GAS_PER_MEMBER_ITEM if tx.type in _MEMBERSHIP else 0)
    if tx.type == "record_emissions" and tx.body.get("v") == TYPED_VERSION:
        per_item //= 6  # hashed as they are, never read as JSON
    size = _encoded_size(tx) if size is None else size
    return _GAS_PER_BYTE * size + per_item * len(tx.items) + _GAS_PER_TX


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


class Calls(Follower):
    """Checks a batch with the core's rules and encodes it as one call of the contract."""

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
        encoded: list[tuple[Any, ...] | bytes] = []
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
            # Sealed blobs stay off chain (peers serve them by hash); wrapped keys travel here.
            carried = encode_carried((), self._wrapped(channels, work))
            self._check_periods(items, periods)
            hints = self._hints(work, checked, items, now_ms)
            if checked.type.startswith("dao_"):
                dao_gas += _dao_gas(work, checked, items)
            sig = checked.signature
            packed = typed_items(checked)
            if packed is not None:
                encoded.append(encode_typed(checked, packed, carried))
            else:
                body, items_ = checked.body_bytes, list(checked.items)
                encoded.append((body, sig[:32], sig[32:64], sig[64], items_, hints, carried))
            checked_all.append(checked)
        if work is not state:
            state.__dict__.update(work.__dict__)
        data = encode_call(self._selectors, encoded)
        n_items = sum(len(t.items) for t in checked_all if t.body.get("v") != TYPED_VERSION)
        # Typed items are hashed as they are: a record costs little beyond its calldata.
        n_items += sum(
            len(t.items) // (6 if t.type == "record_emissions" else 1)
            for t in checked_all
            if t.body.get("v") == TYPED_VERSION
        )
        # Membership items are read by the ledger's reader contract and stored.
        members = sum(len(t.items) for t in checked_all if t.type in _MEMBERSHIP)
        gas = 120_000 + _GAS_PER_BYTE * len(data) + _GAS_PER_ITEM * n_items
        gas += _GAS_PER_MEMBER_ITEM * members
        gas += _GAS_PER_CERT_BYTE * sum(
            len(i) for t in checked_all if t.type in _CERTIFIED for i in t.items
        )
        floor = calldata_floor(data)
        if floor > _GAS_CAP:
            # Never mined: its calldata alone costs more gas than a block holds (a node
            # may still take it into its pool, where it would wait until the timeout).
            n = sum(len(t.items) for t in checked_all)
            raise InvalidInput(
                f"a transaction of {n:,} items takes {len(data):,} bytes of calldata,"
                f" {floor:,} gas, more than one EVM transaction may use ({_GAS_CAP:,}):"
                f" sign at most {self.max_tx_items} items per transaction"
            )
        gas = min(_GAS_CAP, max(floor, gas + _GAS_PER_TX * len(batch) + dao_gas))
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
