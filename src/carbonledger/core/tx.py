"""Ledger transactions: build, sign and check, without I/O.

A transaction is a canonical-JSON *body* signed by its sender, plus the items it
carries. Each item (an organisation, a site, one emissions record) is its own
leaf of the ledger's Merkle tree; the body commits to them through
``items_root``, the RFC 6962 root of their leaf hashes, so one signature covers
a batch of a thousand records and each record still has its own proof.

The signature is Ethereum ``personal_sign`` (EIP-191) over the SHA-256 of the
body, made with the sender's secp256k1 key, so the same identity signs here and
on any EVM chain. Token transfers, retirements and emissions records are signed
as EIP-712 typed data over their items' packed bytes instead (body ``"v": 2``,
see :mod:`carbonledger.core.typed`), which an EVM contract checks without
reading JSON.

The ledger then links each accepted transaction into a hash chain: the *entry
hash* commits to the previous entry, the sequence number, the ledger time, the
transaction hash and the signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

from carbonledger.core.canonical import canonical, loads_canonical
from carbonledger.core.compact_record import encode_record
from carbonledger.core.item_parts import TxBody
from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes
from carbonledger.core.typed import (
    TYPED_VERSION,
    check_packed,
    items_hash,
    pack_items,
    typed_digest,
)
from carbonledger.crypto.keys import PrivateKey, eip191_digest, recover_address
from carbonledger.errors import InvalidInput, SignatureInvalid

__all__ = [
    "GENESIS_PREV",
    "TX_VERSION",
    "SignedTx",
    "build_tx",
    "build_tx_from_encoded",
    "check_tx",
    "entry_hash",
    "signing_digest",
    "tx_from_parts",
    "utc_now",
]

TX_VERSION = 1
GENESIS_PREV = bytes(32)


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction with its items, as bytes ready to store."""

    body: TxBody
    body_bytes: bytes
    items: tuple[bytes, ...]
    item_hashes: tuple[bytes, ...]
    signature: bytes
    #: The decoded items when this process built them (saves decoding on submit);
    #: ``None`` for transactions received as bytes.
    objects: tuple[dict[str, Any], ...] | None = field(default=None, compare=False)
    #: Sealed blobs the items name, carried beside the transaction (not signed: each
    #: item that names a blob commits to its SHA-256, and the rules refuse an item
    #: whose blob is not carried, so the bytes are bound all the same).
    blobs: tuple[bytes, ...] = field(default=(), compare=False)
    #: A typed-data transaction's packed items when this process built them (the EVM
    #: adapter sends them); ``None`` otherwise.
    packed: tuple[bytes, ...] | None = field(default=None, compare=False)

    def blob_map(self) -> dict[str, bytes]:
        """The carried blobs by their SHA-256 (hex)."""
        return {hashlib.sha256(b).hexdigest(): b for b in self.blobs}

    def with_blobs(self, blobs: Sequence[bytes]) -> SignedTx:
        """The same signed transaction carrying ``blobs``."""
        return replace(self, blobs=tuple(blobs))

    def decoded(self) -> list[dict[str, Any]]:
        """The items as objects: those built in this process equal their bytes (build_tx
        made both); anything else is decoded from the bytes that were signed."""
        if self.objects is not None:
            return list(self.objects)
        return [loads_canonical(d, f"item {n}") for n, d in enumerate(self.items)]

    @property
    def tx_hash(self) -> bytes:
        return hashlib.sha256(self.body_bytes).digest()

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @property
    def sender(self) -> str:
        return str(self.body["sender"])

    @property
    def nonce(self) -> int:
        return int(self.body["nonce"])


def signing_digest(body_bytes: bytes, body: TxBody | None = None) -> bytes:
    """The 32 bytes a sender signs: EIP-191 over the SHA-256 of the body, or for a
    typed-data body (``v`` 2) its EIP-712 digest (``body``: the decoded body)."""
    if body is not None and body.get("v") == TYPED_VERSION:
        return typed_digest(body)
    return eip191_digest(hashlib.sha256(body_bytes).digest())


def build_tx(
    key: PrivateKey,
    *,
    tx_type: str,
    ledger_id: str,
    nonce: int,
    created: str,
    items: Sequence[Mapping[str, Any]],
    payload: dict[str, Any] | None = None,
    blobs: Sequence[bytes] = (),
    checked: bool = False,
) -> SignedTx:
    """Encode, commit to and sign a transaction carrying ``items`` (and the sealed
    ``blobs`` they name).

    The transaction keeps references to ``items`` (as ``objects``): do not
    modify them afterwards. ``checked``: the items hold no float by construction
    (see :func:`carbonledger.core.canonical.canonical`), so none is looked for.
    """
    if not items:
        raise InvalidInput(f"{tx_type}: a transaction must carry at least one item")
    known: list[bytes | None] | None = None
    if tx_type == "record_emissions" and not payload:
        # Records of plain values are written with their compact form from their fields
        # (an import's thousand a transaction); any other item is encoded as usual.
        encoded, known = [], []
        for item in items:
            both = encode_record(item)
            encoded.append(canonical(item, checked=checked) if both is None else both[0])
            known.append(None if both is None else both[1])
    signed = build_tx_from_encoded(
        key,
        tx_type=tx_type,
        ledger_id=ledger_id,
        nonce=nonce,
        created=created,
        items=(
            tuple(canonical(item, checked=checked) for item in items)
            if known is None
            else tuple(encoded)
        ),
        payload=payload,
        blobs=blobs,
        objects=items,
        known=known,
    )
    # Items are JSON objects (dicts at run time, typed in core.items).
    return replace(signed, objects=cast(tuple[dict[str, Any], ...], tuple(items)))


def build_tx_from_encoded(
    key: PrivateKey,
    *,
    tx_type: str,
    ledger_id: str,
    nonce: int,
    created: str,
    items: Sequence[bytes],
    payload: dict[str, Any] | None = None,
    blobs: Sequence[bytes] = (),
    objects: Sequence[Mapping[str, Any]] | None = None,
    known: Sequence[bytes | None] | None = None,
) -> SignedTx:
    """Commit to and sign a transaction whose items are already canonical JSON bytes
    (encoded elsewhere, e.g. by import worker processes; ``objects``: the same items
    decoded, when the caller has them); the one place a ledger transaction's body is
    built and signed. Transfers, retirements and emissions records whose items all
    pack (:mod:`carbonledger.core.typed`) are signed as EIP-712 typed data. ``known``:
    the records' compact forms where :func:`build_tx` wrote them (see
    :func:`~carbonledger.core.typed.pack_items`)."""
    if not items:
        raise InvalidInput(f"{tx_type}: a transaction must carry at least one item")
    item_bytes = tuple(items)
    hashes = tuple(leaf_hash(data) for data in item_bytes)
    body: TxBody = {
        "v": TX_VERSION,
        "type": tx_type,
        "ledger": ledger_id,
        "sender": key.address,
        "nonce": nonce,
        "created": created,
        "count": len(item_bytes),
        "items_root": root_from_leaf_hashes(hashes).hex(),
    }
    if payload:
        body["payload"] = payload
    packed = None if payload else pack_items(tx_type, key.address, item_bytes, objects, known)
    if packed is not None:
        body["v"] = TYPED_VERSION
        body["packed"] = items_hash(packed).hex()
    body_bytes = canonical(body)
    signature = key.sign_digest(signing_digest(body_bytes, body))
    return SignedTx(body, body_bytes, item_bytes, hashes, signature, None, tuple(blobs), packed)


def check_tx(tx: SignedTx) -> SignedTx:
    """Check a transaction before it is appended; see :func:`tx_from_parts`.

    A transaction built by :func:`build_tx` in this process already has leaf
    hashes that match its items, so only its body and signature are checked.
    """
    if tx.objects is None:
        return tx_from_parts(tx.body_bytes, tx.items, tx.signature, tx.blobs)
    _check_signature(tx.body, tx.body_bytes, tx.signature)
    return tx


def _check_signature(body: TxBody, body_bytes: bytes, signature: bytes) -> None:
    signer = recover_address(signing_digest(body_bytes, body), signature)
    if signer != body["sender"]:
        raise SignatureInvalid(
            f"signature is by {signer}, transaction names sender {body['sender']}"
        )


def tx_from_parts(
    body_bytes: bytes, items: Sequence[bytes], signature: bytes, blobs: Sequence[bytes] = ()
) -> SignedTx:
    """Rebuild and check a transaction received as bytes (from a client or storage),
    with the sealed ``blobs`` it carries.

    Checks the body's shape, that ``items_root`` and ``count`` commit to
    exactly these items, and that the signature recovers to ``sender``.
    """
    body = loads_canonical(body_bytes, "transaction body")
    if not isinstance(body, dict):
        raise InvalidInput("transaction body is not a JSON object")
    for name, kind in (("type", str), ("sender", str), ("nonce", int), ("ledger", str)):
        if not isinstance(body.get(name), kind):
            raise InvalidInput(f"transaction body: field {name!r} missing or not a {kind.__name__}")
    if body.get("v") not in (TX_VERSION, TYPED_VERSION) or isinstance(body.get("v"), bool):
        raise InvalidInput(f"transaction body: unsupported version {body.get('v')!r}")
    hashes = tuple(leaf_hash(data) for data in items)
    if body.get("count") != len(items):
        raise InvalidInput(f"transaction declares {body.get('count')} items, carries {len(items)}")
    if body.get("items_root") != root_from_leaf_hashes(hashes).hex():
        raise InvalidInput("transaction items do not match its items_root")
    checked = cast(TxBody, body)  # every field of TxBody checked above
    if body["v"] == TYPED_VERSION:
        check_packed(checked, items)
    _check_signature(checked, body_bytes, signature)
    return SignedTx(checked, body_bytes, tuple(items), hashes, signature, None, tuple(blobs))


def entry_hash(prev: bytes, seq: int, ledger_time: str, tx_hash: bytes, signature: bytes) -> bytes:
    """Hash-chain link of the ledger entry ``seq`` (commits to its predecessor)."""
    h = hashlib.sha256(b"carbonledger-entry\x00")
    h.update(prev)
    h.update(seq.to_bytes(8, "big"))
    h.update(ledger_time.encode())
    h.update(tx_hash)
    h.update(signature)
    return h.digest()


def utc_now() -> str:
    """Ledger time: UTC, millisecond ISO 8601 with a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
