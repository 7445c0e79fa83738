"""The typed-data form of a transaction: EIP-712 over its items' packed bytes.

A token transfer, a retirement and a batch of emissions records are signed as
EIP-712 typed data rather than ``personal_sign`` over a JSON body, so that an EVM
contract checks the signature by hashing a few fixed-width fields and the items'
packed bytes, never by reading JSON. The struct signed is::

    EIP712Domain(string name,string version,bytes32 salt)
        name "carbonledger", version "2", salt keccak256(ledger id)
    Transaction(string type,uint64 nonce,string created,bytes32 itemsRoot,bytes[] items)

where ``items`` are the items *packed* (below) and ``itemsRoot`` the RFC 6962 root
of their canonical JSON (the ledger's Merkle leaves: an inclusion proof of an
item ends at a root the sender signed). EIP-712 hashes a ``bytes[]`` as keccak256
of its elements' keccak256s laid end to end: that *items hash* is the one value
the contract folds the whole batch into. The contract cannot read JSON, so it
takes ``itemsRoot`` as signed; every node's core checks it against the items.

The transaction keeps its canonical JSON body and items, so the embedded backend
stores, proves and verifies it like any other: the body says ``"v": 2`` and
carries the items hash as ``packed`` (hex), beside ``items_root`` over the JSON
items. The core checks both against the items (packing each again) and the
signature against the typed-data digest, which depends on the body alone.

Packed items (each must give back its exact canonical JSON when unpacked, or the
transaction is signed in the JSON form instead):

* ``token_transfer``: ``to`` (20 bytes) ``| amount`` (8) ``| len | token | id``;
  ``from`` is the sender.
* ``token_retirement``: ``amount`` (8) ``| len | token |`` canonical JSON of the
  other fields; ``holder`` is the sender.
* ``record_emissions``: each emissions record compactly
  (:mod:`carbonledger.core.compact_record`); any other item as its JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from carbonledger.core.canonical import canonical, loads_canonical
from carbonledger.core.compact_record import (
    compact_from_json,
    compact_record,
    expand,
    is_compact,
)
from carbonledger.crypto.keys import checksum_address, is_address, keccak256
from carbonledger.errors import InvalidInput

__all__ = [
    "TYPED_TYPES",
    "TYPED_VERSION",
    "chain_commitment",
    "check_packed",
    "domain_separator",
    "items_hash",
    "pack_items",
    "typed_data",
    "typed_digest",
    "unpack_item",
]

TYPED_VERSION = 2
#: The transaction types signed as typed data, with their code in packed calldata.
TYPED_TYPES: Mapping[str, int] = {"transfer_token": 1, "retire_token": 2, "record_emissions": 3}

_DOMAIN_TYPE = b"EIP712Domain(string name,string version,bytes32 salt)"
_TX_TYPE = b"Transaction(string type,uint64 nonce,string created,bytes32 itemsRoot,bytes[] items)"
_NAME, _VERSION = "carbonledger", "2"
_MAX_AMOUNT = 2**64 - 1
_TRANSFER_KEYS = frozenset({"kind", "id", "token", "from", "to", "amount"})
_RETIRE_FIXED = ("kind", "token", "holder", "amount")


@lru_cache(maxsize=64)
def domain_separator(ledger_id: str) -> bytes:
    """The EIP-712 domain separator of a ledger (no chain id: the same signature holds on
    the embedded backend and on any chain the ledger is deployed to)."""
    return keccak256(
        keccak256(_DOMAIN_TYPE)
        + keccak256(_NAME.encode())
        + keccak256(_VERSION.encode())
        + keccak256(ledger_id.encode())
    )


_TX_TYPEHASH = keccak256(_TX_TYPE)
_TYPE_HASHES = {name: keccak256(name.encode()) for name in TYPED_TYPES}


def items_hash(packed: Sequence[bytes]) -> bytes:
    """EIP-712's hash of a ``bytes[]``: keccak256 of the elements' keccak256s."""
    return keccak256(b"".join(keccak256(p) for p in packed))


def _struct_hash(tx_type: str, nonce: int, created: str, root: bytes, packed: bytes) -> bytes:
    return keccak256(
        _TX_TYPEHASH
        + (_TYPE_HASHES.get(tx_type) or keccak256(tx_type.encode()))
        + nonce.to_bytes(32, "big")
        + keccak256(created.encode())
        + root
        + packed
    )


def typed_digest(body: Mapping[str, Any]) -> bytes:
    """The 32 bytes the sender of a typed-data (``v`` 2) body signs."""
    try:
        tx_type, ledger, nonce = str(body["type"]), str(body["ledger"]), int(body["nonce"])
        created, packed = body["created"], bytes.fromhex(str(body["packed"]))
        root = bytes.fromhex(str(body["items_root"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"typed transaction body: {exc}") from exc
    if not isinstance(created, str) or len(created.encode()) > 255 or len(packed) != 32:
        raise InvalidInput("typed transaction body: created or packed is malformed")
    if len(root) != 32:
        raise InvalidInput("typed transaction body: items_root is malformed")
    if not 0 <= nonce <= _MAX_AMOUNT:
        raise InvalidInput("typed transaction body: nonce out of range")
    struct = _struct_hash(tx_type, nonce, created, root, packed)
    return keccak256(b"\x19\x01" + domain_separator(ledger) + struct)


def typed_data(body: Mapping[str, Any], packed: Sequence[bytes]) -> dict[str, Any]:
    """The EIP-712 message of a typed-data body and its packed items, as wallets take
    it (``eth_signTypedData_v4``)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "salt", "type": "bytes32"},
            ],
            "Transaction": [
                {"name": "type", "type": "string"},
                {"name": "nonce", "type": "uint64"},
                {"name": "created", "type": "string"},
                {"name": "itemsRoot", "type": "bytes32"},
                {"name": "items", "type": "bytes[]"},
            ],
        },
        "primaryType": "Transaction",
        "domain": {
            "name": _NAME,
            "version": _VERSION,
            "salt": keccak256(str(body["ledger"]).encode()),
        },
        "message": {
            "type": body["type"],
            "nonce": body["nonce"],
            "created": body["created"],
            "itemsRoot": bytes.fromhex(str(body["items_root"])),
            "items": list(packed),
        },
    }


def chain_commitment(body_bytes: bytes) -> tuple[str, str]:
    """What an EVM chain's ``Entry`` event holds for a stored body (hex): the SHA-256 of
    the body and its ``items_root``, or for a typed-data body its digest and items hash."""
    body = loads_canonical(body_bytes, "transaction body")
    if isinstance(body, dict) and body.get("v") == TYPED_VERSION:
        return typed_digest(body).hex(), str(body["packed"])
    return hashlib.sha256(body_bytes).hexdigest(), str(body["items_root"])


# -- packing -------------------------------------------------------------------------


def _is_amount(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v <= _MAX_AMOUNT


def _token_bytes(token: object) -> bytes | None:
    if not isinstance(token, str):
        return None
    raw = token.encode()
    return raw if len(raw) <= 255 else None


def _pack_transfer(sender: str, item: Mapping[str, Any]) -> bytes | None:
    to, token = item.get("to"), _token_bytes(item.get("token"))
    if set(item) != _TRANSFER_KEYS or item["kind"] != "token_transfer" or token is None:
        return None
    if item["from"] != sender or not is_address(to) or not isinstance(item["id"], str):
        return None
    if not _is_amount(item["amount"]):
        return None  # (an address not in its checksummed form fails the round trip)
    to_bytes = bytes.fromhex(str(to)[2:])
    amount = int(item["amount"]).to_bytes(8, "big")
    return to_bytes + amount + bytes([len(token)]) + token + str(item["id"]).encode()


def _pack_retirement(item: Mapping[str, Any]) -> bytes | None:
    token = _token_bytes(item.get("token"))
    if item.get("kind") != "token_retirement" or token is None:
        return None
    if not _is_amount(item.get("amount")) or "holder" not in item:
        return None
    rest = {k: v for k, v in item.items() if k not in _RETIRE_FIXED}
    amount = int(item["amount"]).to_bytes(8, "big")
    return amount + bytes([len(token)]) + token + canonical(rest)


def _pack(tx_type: str, sender: str, data: bytes, item: Mapping[str, Any]) -> bytes | None:
    if tx_type == "transfer_token":
        packed = _pack_transfer(sender, item)
    elif tx_type == "retire_token":
        if item.get("holder") != sender:
            return None
        packed = _pack_retirement(item)
    elif item.get("kind") == "emissions_record":
        return compact_record(data, dict(item))
    else:
        return data if data[:1] == b"{" else None
    if packed is None:
        return None
    try:
        return packed if unpack_item(tx_type, sender, packed) == data else None
    except InvalidInput:
        return None


def pack_items(
    tx_type: str,
    sender: str,
    items: Sequence[bytes],
    objects: Sequence[Mapping[str, Any]] | None = None,
    known: Sequence[bytes | None] | None = None,
) -> tuple[bytes, ...] | None:
    """The packed items of a transaction of ``tx_type`` by ``sender`` (their canonical
    JSON ``items``, decoded as ``objects`` when the caller has them), or None when the
    type is not signed as typed data or an item does not pack to exactly its bytes.

    ``known``: records' compact forms written with their JSON by
    :func:`~carbonledger.core.compact_record.encode_record` (None for any other item)."""
    if tx_type not in TYPED_TYPES:
        return None
    records = tx_type == "record_emissions"
    out = []
    for n, data in enumerate(items):
        # A record in the plain shape is packed from its bytes alone (what decoding and
        # packing field by field would give, without either); any other goes the long way.
        fast = known[n] if known is not None else None
        if fast is None and records:
            fast = compact_from_json(data)
        if fast is not None:
            out.append(fast)
            continue
        try:
            item = objects[n] if objects is not None else loads_canonical(data, f"item {n}")
        except InvalidInput:
            return None
        if not isinstance(item, Mapping):
            return None
        packed = _pack(tx_type, sender, data, item)
        if packed is None:
            return None
        out.append(packed)
    return tuple(out)


def unpack_item(tx_type: str, sender: str, packed: bytes) -> bytes:
    """The canonical JSON of a packed item of a ``tx_type`` transaction by ``sender``
    (as read from calldata; the core packs it again to check it)."""
    try:
        if tx_type == "transfer_token":
            n = packed[28]
            item: dict[str, Any] = {
                "kind": "token_transfer",
                "id": packed[29 + n :].decode(),
                "token": packed[29 : 29 + n].decode(),
                "from": sender,
                "to": checksum_address("0x" + packed[:20].hex()),
                "amount": int.from_bytes(packed[20:28], "big"),
            }
            if len(packed) < 29 + n:
                raise InvalidInput("packed transfer: token cut short")
            return canonical(item)
        if tx_type == "retire_token":
            n = packed[8]
            rest = loads_canonical(packed[9 + n :], "packed retirement")
            if not isinstance(rest, dict) or any(k in rest for k in _RETIRE_FIXED):
                raise InvalidInput("packed retirement: its fields are malformed")
            rest.update(
                kind="token_retirement",
                token=packed[9 : 9 + n].decode(),
                holder=sender,
                amount=int.from_bytes(packed[:8], "big"),
            )
            return canonical(rest)
        if tx_type == "record_emissions":
            return expand(packed) if is_compact(packed) else packed
    except (IndexError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"packed {tx_type} item is malformed: {exc}") from exc
    raise InvalidInput(f"{tx_type} transactions are not signed as typed data")


def check_packed(body: Mapping[str, Any], items: Sequence[bytes]) -> None:
    """Check that a typed-data body's ``packed`` is the items hash of exactly ``items``."""
    packed = pack_items(str(body["type"]), str(body["sender"]), items)
    if packed is None:
        raise InvalidInput(f"{body['type']}: an item has no packed form (typed transaction)")
    if items_hash(packed).hex() != body.get("packed"):
        raise InvalidInput("transaction items do not match its packed items hash")
