"""Typed-data transactions in calldata: fixed-width fields and packed items.

A transaction signed as EIP-712 typed data (:mod:`carbonledger.core.typed`) travels
to the contract's ``submitPacked(Tx[] txs, bytes packed)`` as::

    code(1) | sender(20) | nonce(8) | created (1-byte length, text) | items root(32)
    | r(32) | s(32) | v(1)
    | count(2) | count x (length(2), packed item) | blob count(2) | blob count x (length(4), blob)

``code`` is the type's (1 transfer_token, 2 retire_token, 3 record_emissions);
a 0x00 byte in ``packed`` stands for the next transaction of ``txs`` (JSON
form), so one call mixes both forms in their order. A call of JSON transactions
only goes to ``submit(Tx[])`` as before, and a call of typed transactions only is
the packed bytes alone, to the contract's fallback (no selector, no ABI words:
calldata is what a transaction pays for by the byte), unless its first four bytes
happen to be a function's selector. The contract hashes the packed items as
they are; a node reading calldata back unpacks them to the canonical JSON items
(and the core packs them again when it checks the signature).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from carbonledger.core.canonical import canonical
from carbonledger.core.tx import SignedTx, tx_from_parts
from carbonledger.core.typed import (
    TYPED_TYPES,
    TYPED_VERSION,
    items_hash,
    pack_items,
    typed_digest,
    unpack_item,
)
from carbonledger.crypto.keys import checksum_address, keccak256
from carbonledger.errors import IntegrityError, InvalidInput

__all__ = [
    "TX_ABI",
    "Selectors",
    "Typed",
    "decode_call",
    "encode_call",
    "encode_typed",
    "function_selectors",
    "typed_digest_hex",
    "typed_items",
    "typed_tx",
]

TX_ABI = "(bytes,bytes32,bytes32,uint8,bytes[],uint256[],bytes[])[]"
_NAMES = {code: name for name, code in TYPED_TYPES.items()}


@dataclass(frozen=True)
class Selectors:
    """The contract's selectors: ``submit(Tx[])``, ``submitPacked(Tx[],bytes)`` and all
    its functions' (calldata of typed transactions alone must not start with one)."""

    submit: bytes
    packed: bytes
    functions: frozenset[bytes]


#: A typed transaction as calldata carries it: type, sender, nonce, created, items
#: root, signature, packed items and carried elements (sealed blobs, wrapped keys).
Typed = tuple[str, str, int, str, bytes, bytes, tuple[bytes, ...], tuple[bytes, ...]]


def typed_items(tx: SignedTx) -> tuple[bytes, ...] | None:
    """The packed items of a typed-data transaction (None for the JSON form)."""
    if tx.body.get("v") != TYPED_VERSION:
        return None
    if tx.packed is not None:
        return tx.packed
    packed = pack_items(tx.type, tx.sender, tx.items, tx.objects)
    if packed is None:  # the core refused it on submit: not reached
        raise InvalidInput(f"{tx.type}: a typed transaction whose items do not pack")
    return packed


def encode_typed(tx: SignedTx, packed: Sequence[bytes], carried: Sequence[bytes]) -> bytes:
    """The bytes of one typed transaction in ``submitPacked``'s ``packed``."""
    created = str(tx.body["created"]).encode()
    sig = tx.signature
    out = [
        bytes([TYPED_TYPES[tx.type]]),
        bytes.fromhex(tx.sender[2:]),
        tx.nonce.to_bytes(8, "big"),
        bytes([len(created)]),
        created,
        bytes.fromhex(str(tx.body["items_root"])),
        sig,
        len(packed).to_bytes(2, "big"),
    ]
    for item in packed:
        if len(item) > 0xFFFF:
            raise InvalidInput(f"{tx.type}: a packed item over 65,535 bytes")
        out += [len(item).to_bytes(2, "big"), item]
    out.append(len(carried).to_bytes(2, "big"))
    for element in carried:
        out += [len(element).to_bytes(4, "big"), element]
    return b"".join(out)


def function_selectors(abi: Sequence[dict[str, Any]]) -> frozenset[bytes]:
    """The selectors of the functions in a contract's ``abi``."""
    return frozenset(
        keccak256(f"{f['name']}({','.join(_abi_type(i) for i in f['inputs'])})".encode())[:4]
        for f in abi
        if f["type"] == "function"
    )


def _abi_type(param: dict[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


def encode_call(selectors: Selectors, entries: Sequence[tuple[Any, ...] | bytes]) -> bytes:
    """Calldata for ``entries`` in order: JSON-form ``Tx`` tuples and typed transactions
    (bytes from :func:`encode_typed`)."""
    if all(isinstance(e, tuple) for e in entries):
        return selectors.submit + abi_encode([TX_ABI], [list(entries)])
    if all(isinstance(e, bytes) for e in entries):
        raw = b"".join(e for e in entries if isinstance(e, bytes))
        if raw[:4] not in selectors.functions:
            return raw
    txs = [e for e in entries if isinstance(e, tuple)]
    packed = b"".join(b"\x00" if isinstance(e, tuple) else e for e in entries)
    return selectors.packed + abi_encode([TX_ABI, "bytes"], [txs, packed])


def decode_call(selectors: Selectors, data: bytes, where: str) -> list[tuple[Any, ...] | Typed]:
    """The transactions of a call made by :func:`encode_call`, in order: ``Tx`` tuples
    (7 fields, ``bytes`` first) and :data:`Typed` ones (8 fields, ``str`` first)."""
    if data[:4] == selectors.submit:
        (entries,) = abi_decode([TX_ABI], data[4:])
        return list(entries)
    try:
        if data[:4] == selectors.packed:
            txs, packed = abi_decode([TX_ABI, "bytes"], data[4:])
        else:
            txs, packed = [], data
        out: list[tuple[Any, ...] | Typed] = []
        at, nxt = 0, 0
        while at < len(packed):
            if packed[at] == 0:
                out.append(txs[nxt])
                nxt, at = nxt + 1, at + 1
                continue
            typed, at = _decode_typed(packed, at)
            out.append(typed)
    except (IndexError, KeyError, ValueError) as exc:
        raise IntegrityError(f"{where}: packed calldata is malformed ({exc})") from exc
    return out


def _decode_typed(p: bytes, at: int) -> tuple[Typed, int]:
    tx_type = _NAMES[p[at]]
    sender = "0x" + p[at + 1 : at + 21].hex()
    nonce = int.from_bytes(p[at + 21 : at + 29], "big")
    end = at + 30 + p[at + 29]
    created = p[at + 30 : end].decode()
    root = p[end : end + 32]
    sig = p[end + 32 : end + 97]
    count = int.from_bytes(p[end + 97 : end + 99], "big")
    at = end + 99
    items = []
    for _ in range(count):
        n = int.from_bytes(p[at : at + 2], "big")
        items.append(p[at + 2 : at + 2 + n])
        at += 2 + n
    carried = []
    blobs = int.from_bytes(p[at : at + 2], "big")
    at += 2
    for _ in range(blobs):
        n = int.from_bytes(p[at : at + 4], "big")
        carried.append(p[at + 4 : at + 4 + n])
        at += 4 + n
    if at > len(p) or len(sig) != 65:
        raise ValueError("a typed transaction is cut short")
    return (tx_type, sender, nonce, created, root, sig, tuple(items), tuple(carried)), at


def typed_digest_hex(ledger_id: str, typed: Typed) -> str:
    """The digest a typed transaction of calldata was signed over, which its ``Entry``
    event holds (hex), from the calldata alone."""
    tx_type, _, nonce, created, root, _, packed, _ = typed
    fields = {"type": tx_type, "ledger": ledger_id, "nonce": nonce, "created": created}
    return typed_digest(
        {**fields, "items_root": root.hex(), "packed": items_hash(packed).hex()}
    ).hex()


def typed_tx(ledger_id: str, typed: Typed, blobs: Sequence[bytes]) -> SignedTx:
    """The signed transaction a typed one of calldata stands for, checked by the core
    (its JSON items unpacked, then packed again for the signature's check)."""
    tx_type, sender, nonce, created, root, sig, packed, _ = typed
    who = checksum_address(sender)
    items = [unpack_item(tx_type, who, p) for p in packed]
    body = {
        "v": TYPED_VERSION,
        "type": tx_type,
        "ledger": ledger_id,
        "sender": who,
        "nonce": nonce,
        "created": created,
        "count": len(items),
        "items_root": root.hex(),  # the core checks it against the items
        "packed": items_hash(packed).hex(),
    }
    return tx_from_parts(canonical(body), items, sig, blobs)
