"""Private details of records, sealed per batch in the organisation's channel.

A record's public item carries ``detail = {channel, epoch, blob, commitment}``:
the SHA-256 of the sealed blob holding the details of its batch, and a salted
commitment to its own details, so a member can prove one record's details
without revealing the others, and anyone can check the blob is intact.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import orjson

from carbonledger.core.canonical import canonical
from carbonledger.core.commitments import detail_commitment
from carbonledger.core.domain import Bill
from carbonledger.crypto.sealed import SALT_BYTES, commitment, new_salt
from carbonledger.errors import IntegrityError, NotFound
from carbonledger.ports.channels import ChannelStore
from carbonledger.services.channels import ChannelKeys

__all__ = ["DetailReader", "SaltPool", "bill_detail", "detail_commitment", "seal_details"]


class SaltPool:
    """Fresh 16-byte salts, drawn from the OS a few thousand at a time (imports need one a bill)."""

    def __init__(self, batch: int = 4096) -> None:
        self._batch, self._buf, self._pos = batch, b"", 0

    def take(self) -> bytes:
        if self._pos >= len(self._buf):
            self._buf, self._pos = os.urandom(SALT_BYTES * self._batch), 0
        salt = self._buf[self._pos : self._pos + SALT_BYTES]
        self._pos += SALT_BYTES
        return salt


def bill_detail(
    bill: Bill, rid: str, source: str | None, salts: SaltPool | None = None
) -> tuple[dict[str, Any], str]:
    """The private part of a record (what was billed, with a fresh salt) and its commitment."""
    body = {
        "id": rid,
        "amount": str(bill.amount),
        "unit": bill.unit,
        "cost": None if bill.cost is None else str(bill.cost),
        "currency": bill.currency,
        "document_sha256": bill.document_sha256,
        "source": source,
    }
    salt = salts.take() if salts is not None else new_salt()
    digest = commitment(salt, canonical(body))
    body["salt"] = salt.hex()
    return body, digest


def seal_details(
    keys: ChannelKeys,
    store: ChannelStore,
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    epochs: dict[str, int],
) -> None:
    """Seal the details of ``pairs`` (public item, detail) and point each item at its blob."""
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for item, detail in pairs:
        groups.setdefault(item["org"], []).append((item, detail))
    for channel, group in groups.items():
        epoch = epochs[channel]
        blob_id, blob = keys.seal(channel, epoch, canonical([d for _, d in group]))
        store.put_blob(blob_id, channel, epoch, blob)
        for item, _ in group:
            item["detail"]["blob"] = blob_id


class DetailReader:
    """Opens sealed details for a channel member (each blob opened once)."""

    def __init__(self, keys: ChannelKeys, store: ChannelStore) -> None:
        self._keys, self._store = keys, store
        self._blobs: dict[str, dict[str, dict[str, Any]]] = {}

    def detail(self, item: dict[str, Any]) -> dict[str, Any]:
        """The record's details, checked against its commitment."""
        ref = item.get("detail")
        if not isinstance(ref, dict):
            raise NotFound(f"record {item.get('id')!r} has no sealed details")
        opened = self._blobs.get(ref["blob"])
        if opened is None:
            plain = self._keys.open(
                ref["channel"], int(ref["epoch"]), self._store.blob(ref["blob"])
            )
            opened = {d["id"]: d for d in orjson.loads(plain)}
            if len(self._blobs) > 64:  # bound memory on long scans
                self._blobs.clear()
            self._blobs[ref["blob"]] = opened
        detail = opened.get(item["id"])
        if detail is None:
            raise IntegrityError(f"record {item['id']}: its details are not in its sealed blob")
        if detail_commitment(detail) != ref["commitment"]:
            raise IntegrityError(f"record {item['id']}: details do not match their commitment")
        return detail
