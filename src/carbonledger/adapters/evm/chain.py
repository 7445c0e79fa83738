"""The operator's side of a JSON-RPC chain: the compiled contracts, EVM transactions
signed and sent here, mining (on anvil or Hardhat's node) and receipts, and deploying a ledger.

web3.py's per-call defaults (a few requests and a receipt poll per transaction)
cap a client at under ten transactions a second; :class:`_Sender` signs EIP-1559
transactions locally with a nonce kept here, so a batch goes out in one request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

from eth_abi.abi import encode as abi_encode

from carbonledger.adapters.evm.rpc import Rpc, RpcError
from carbonledger.crypto.keys import PrivateKey, checksum_address, keccak256
from carbonledger.crypto.recipes import sign_evm_transaction
from carbonledger.errors import Conflict, InvalidInput

__all__ = [
    "DEFAULT_TIME_SKEW_MS",
    "artifact",
    "deploy",
    "fund_dev_account",
    "rlp_bytes",
    "rlp_int",
    "rlp_list",
]


def artifact(name: str = "CarbonLedger") -> dict[str, Any]:
    """The committed ABI and bytecode of a contract (built by contracts/build.js)."""
    text = resources.files(__package__).joinpath(f"artifacts/{name}.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


class _Sender:
    """Signs and sends EVM transactions from one operator key, managing its nonce locally."""

    def __init__(self, rpc: Rpc, key: PrivateKey) -> None:
        self.rpc = rpc
        self._key = key
        self.address = key.address
        chain, nonce, price = rpc.batch(
            [
                ("eth_chainId", []),
                ("eth_getTransactionCount", [key.address, "pending"]),
                ("eth_gasPrice", []),
            ]
        )
        self.chain_id = int(chain, 16)
        self.nonce = int(nonce, 16)
        self.fee = max(int(price, 16) * 2, 2_000_000_000)

    def refresh_fee(self, latest: dict[str, Any] | None = None) -> None:
        """The fee cap from the latest block's base fee (``latest``, when the caller has
        just read it), with room for it to rise over the next blocks (it grows by an
        eighth per full block: a long import fills many)."""
        if latest is None:
            latest = self.rpc.call("eth_getBlockByNumber", "latest", False)
        base = int(latest.get("baseFeePerGas") or "0x0", 16)
        self.fee = max(3 * base + 1_000_000_000, 2_000_000_000)

    def sign(self, to: str | None, data: bytes, gas: int) -> tuple[str, str]:
        """An EIP-1559 transaction, RLP-encoded and signed here (no per-call validation layers)."""
        # The fields' RLP, each item once (pyrlp's generic encoder took most of the time
        # of signing a transaction): chain id, nonce, max priority fee, max fee, gas, to,
        # value 0, data, an empty access list.
        head = b"".join(
            (
                rlp_int(self.chain_id),
                rlp_int(self.nonce),
                rlp_int(1_000_000_000),
                rlp_int(self.fee),
                rlp_int(gas),
                rlp_bytes(bytes.fromhex(to[2:]) if to is not None else b""),
                rlp_int(0),
                rlp_bytes(data),
                b"\xc0",
            )
        )
        v, r, s = sign_evm_transaction(self._key, b"\x02" + rlp_list(head))
        raw = b"\x02" + rlp_list(head + rlp_int(v) + rlp_int(r) + rlp_int(s))
        self.nonce += 1
        return "0x" + raw.hex(), "0x" + keccak256(raw).hex()


def _rlp_length(size: int, offset: int) -> bytes:
    """The RLP prefix of a string (``offset`` 0x80) or a list (0xc0) of ``size`` bytes."""
    if size < 56:
        return bytes([offset + size])
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(length)]) + length


def rlp_bytes(data: bytes) -> bytes:
    """The RLP encoding of the byte string ``data``."""
    if len(data) == 1 and data[0] < 0x80:
        return data
    return _rlp_length(len(data), 0x80) + data


def rlp_int(value: int) -> bytes:
    """The RLP encoding of the non-negative integer ``value`` (big-endian, no leading zeros)."""
    return rlp_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rlp_list(payload: bytes) -> bytes:
    """The RLP encoding of a list whose items' encodings, concatenated, are ``payload``."""
    return _rlp_length(len(payload), 0xC0) + payload


#: Local development nodes the operator mines, by what ``web3_clientVersion`` starts with,
#: and the prefix of their own JSON-RPC methods (``anvil_setBalance``, ``hardhat_setBalance``).
#: Both mine a block at a given second with the standard ``evm_mine [timestamp]``.
_DEV_NODES = {"anvil": "anvil", "hardhatnetwork": "hardhat"}


def _dev_node(rpc: Rpc) -> str | None:
    """The method prefix of the local development node behind ``rpc`` (anvil or Hardhat's
    node, which the operator mines), or None for any other chain."""
    try:
        version = str(rpc.call("web3_clientVersion")).lower()
    except RpcError:
        return None
    return next((p for name, p in _DEV_NODES.items() if version.startswith(name)), None)


def _is_anvil(rpc: Rpc) -> bool:
    """Whether ``rpc`` is a local development node the operator mines: anvil, or
    Hardhat's node, which takes the same standard ``evm_mine`` (the name is kept for its
    callers)."""
    return _dev_node(rpc) is not None


def fund_dev_account(rpc: Rpc, address: str) -> bool:
    """Give ``address`` gas money on anvil or Hardhat's node (as :func:`deploy` does for the
    operator): a node attached there relays its users' transactions at once. False on any
    other chain, where its operator funds it."""
    dev = _dev_node(rpc)
    if dev is None:
        return False
    rpc.call(f"{dev}_setBalance", address, hex(10**24))
    return True


def _mine_at(rpc: Rpc, timestamp: int | None) -> None:
    """Mine one block at ``timestamp`` if the chain takes it (the same second, so DAO
    windows hold), else at the chain's next second: another node mining the same
    development chain may have mined a later second since this node chose its time."""
    if timestamp is not None:
        try:
            rpc.call("evm_mine", timestamp)
            return
        except RpcError:
            pass
    rpc.call("evm_mine")


def _mine_and_wait(
    rpc: Rpc,
    hashes: Sequence[str],
    mine: bool,
    timestamp: int | None = None,
    timeout: float = 120.0,
) -> list[dict[str, Any] | None]:
    """The receipts of ``hashes`` (mining first if ``mine``); None for those not mined
    within ``timeout`` seconds.

    When the operator mines, it mines until every transaction is in a block: what does
    not fit under one block's gas limit goes into the next (one block, mined once,
    left the rest pending until the timeout).
    """
    if mine:
        _mine_at(rpc, timestamp)
    deadline = time.monotonic() + timeout
    mined_more = 0
    while True:
        receipts: list[dict[str, Any] | None] = rpc.batch(
            [("eth_getTransactionReceipt", [h]) for h in hashes]
        )
        if all(r is not None for r in receipts) or time.monotonic() > deadline:
            return receipts
        if mine and mined_more < len(hashes):
            mined_more += 1
            _mine_at(rpc, timestamp)
            continue
        time.sleep(0.05)


def _create_address(sender: str, nonce: int) -> str:
    """The address of the contract that ``sender`` creates with its transaction ``nonce``."""
    return checksum_address(
        "0x" + keccak256(rlp_list(rlp_bytes(bytes.fromhex(sender[2:])) + rlp_int(nonce)))[12:].hex()
    )


#: On chains the operator does not mine: how long (ms) before its block a governance
#: transaction's ledger time may be (the Governor's ``timeSkewMs``).
DEFAULT_TIME_SKEW_MS = 60_000


def deploy(
    rpc: Rpc,
    operator: PrivateKey,
    ledger_id: str,
    *,
    mine: bool | None = None,
    time_skew_ms: int | None = None,
) -> dict[str, Any]:
    """Deploy ``CarbonLedger`` for ``ledger_id`` with ``operator`` as operator and admin.

    Its ``Governor`` (the DAO's rules) is deployed just before it, for the address the
    ledger will have, and the ledger checks the link when it is created. On anvil or Hardhat's
    node the operator is funded first. ``time_skew_ms`` bounds how far the ledger time of a
    governance transaction may lag its block: 0 when the operator mines (anvil or
    Hardhat's node), else ``DEFAULT_TIME_SKEW_MS``. Returns ``{address, governor, block, chain_id,
    time_skew_ms}``.
    """
    dev = _dev_node(rpc)
    if mine is None:
        mine = dev is not None
    if time_skew_ms is None:
        time_skew_ms = 0 if mine else DEFAULT_TIME_SKEW_MS
    if not 0 <= time_skew_ms <= 3_600_000:
        raise InvalidInput(f"time skew must be 0-3,600,000 ms, got {time_skew_ms}")
    if dev is not None:
        rpc.call(f"{dev}_setBalance", operator.address, hex(10**24))
    sender = _Sender(rpc, operator)
    ledger_at = _create_address(sender.address, sender.nonce + 1)
    gov_code = bytes.fromhex(artifact("Governor")["bytecode"][2:])
    gov_args = abi_encode(["address", "uint256"], [ledger_at, time_skew_ms])
    sent = [sender.sign(None, gov_code + gov_args, 12_000_000)]
    governor = _create_address(sender.address, sender.nonce - 1)
    args = abi_encode(["string", "address", "address"], [ledger_id, operator.address, governor])
    code = bytes.fromhex(artifact()["bytecode"][2:])
    sent.append(sender.sign(None, code + args, 8_000_000))
    for raw, _ in sent:
        rpc.call("eth_sendRawTransaction", raw)
    receipts = _mine_and_wait(rpc, [h for _, h in sent], mine)
    for (_, tx_hash), got, name in zip(sent, receipts, ("Governor", "CarbonLedger"), strict=True):
        if got is None:
            raise Conflict(f"deploying {name}: transaction {tx_hash} was not mined within 120 s")
        if int(got["status"], 16) != 1:
            raise Conflict(f"deploying {name} failed (transaction {tx_hash})")
    receipt = receipts[1]
    assert receipt is not None
    return {
        "address": checksum_address(receipt["contractAddress"]),
        "governor": governor,
        "block": int(receipt["blockNumber"], 16),
        "chain_id": sender.chain_id,
        "time_skew_ms": time_skew_ms,
    }
