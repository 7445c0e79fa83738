"""Private details of records, sealed per batch in the organisation's channel.

A record's public item carries ``detail = {channel, epoch, blob, commitment}``:
the SHA-256 of the sealed blob holding the details of its batch, and a salted
commitment to its own details, so a member can prove one record's details
without revealing the others, and anyone can check the blob is intact.

The details hold everything a non-member must not compute: the account number,
what was billed (amount, unit, cost, document hash, source) and the results (kg
CO2e, kg CO2, renewable and non-renewable kWh).

Padding, so that a blob's length says nothing about amounts: every numeric value
of a detail counts as :data:`NUMBER_WIDTH` characters (the plaintext is padded
with spaces by what the numbers fall short of that width), and the padded
plaintext is then rounded up to a multiple of :data:`PAD_BUCKET` bytes. A blob's
length therefore depends only on how many records it holds and on their text
fields (account, unit, currency, source), never on an amount, a cost or a result
(unless a number is longer than 48 characters, far beyond any real bill).
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

__all__ = [
    "NUMBER_WIDTH",
    "PAD_BUCKET",
    "DetailReader",
    "SaltPool",
    "bill_detail",
    "detail_commitment",
    "pad_details",
    "pad_to_bucket",
    "seal_details",
]

#: Characters each numeric value of a detail counts for in a blob's length.
NUMBER_WIDTH = 48
#: Padded plaintext is a multiple of this many bytes.
PAD_BUCKET = 256


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
    bill: Bill,
    rid: str,
    source: str | None,
    salts: SaltPool | None = None,
    results: dict[str, str | None] | None = None,
) -> tuple[dict[str, Any], str]:
    """The private part of a record (what was billed, its results, a fresh salt) and its
    commitment."""
    body: dict[str, Any] = {
        "id": rid,
        "account": bill.account,
        "amount": str(bill.amount),
        "unit": bill.unit,
        "cost": None if bill.cost is None else str(bill.cost),
        "currency": bill.currency,
        "document_sha256": bill.document_sha256,
        "source": source,
        "results": results or {},
    }
    salt = salts.take() if salts is not None else new_salt()
    # ``checked``: every value is text or None by the types above (Decimals written as
    # text), so there is no float to look for.
    digest = commitment(salt, canonical(body, checked=True))
    body["salt"] = salt.hex()
    return body, digest


def seal_details(
    keys: ChannelKeys,
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    epochs: dict[str, int],
    *,
    checked: bool = False,
) -> list[bytes]:
    """Seal the details of ``pairs`` (public item, detail), point each item at its blob
    and return the blobs, which travel with the transaction carrying the items.

    ``checked``: every detail was made by :func:`bill_detail` (text and None only)."""
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for item, detail in pairs:
        groups.setdefault(item["org"], []).append((item, detail))
    blobs: list[bytes] = []
    for channel, group in groups.items():
        epoch = epochs[channel]
        plain = pad_details([d for _, d in group], checked=checked)
        blob_id, blob = keys.seal(channel, epoch, plain)
        blobs.append(blob)
        for item, _ in group:
            item["detail"]["blob"] = blob_id
    return blobs


def _encoded_size(value: Any) -> int:
    """Length of ``value``'s JSON encoding (text or None: each value is checked when encoded)."""
    if value is None:
        return 4
    if (
        type(value) is str
        and value.isascii()
        and value.isprintable()
        and '"' not in value
        and "\\" not in value
    ):
        return len(value) + 2  # nothing to escape: the text between two quotes
    return len(orjson.dumps(value))


def _numbers(detail: dict[str, Any]) -> tuple[Any, ...]:
    """The numeric values of a detail: what was billed and its results."""
    results = detail.get("results") or {}
    return (
        detail.get("amount"),
        detail.get("cost"),
        results.get("kg_co2e"),
        results.get("kg_co2"),
        results.get("renewable_kwh"),
        results.get("nonrenewable_kwh"),
    )


def _short(detail: dict[str, Any]) -> int:
    """How many characters the numbers of ``detail`` fall short of :data:`NUMBER_WIDTH`."""
    short = 0
    for value in _numbers(detail):
        size = _encoded_size(value)
        if size < NUMBER_WIDTH:
            short += NUMBER_WIDTH - size
    return short


def pad_details(details: list[dict[str, Any]], *, checked: bool = False) -> bytes:
    """The plaintext of a blob: the details' canonical JSON padded with spaces (JSON
    allows trailing whitespace) so its length does not depend on any amount.

    ``checked``: as for :func:`carbonledger.core.canonical.canonical` (details made by
    :func:`bill_detail` hold text and None only)."""
    body = canonical(details, checked=checked)
    return pad_to_bucket(body, _shortfall(details))


def _shortfall(details: list[dict[str, Any]]) -> int:
    """``sum(map(_short, details))``, at once when every number is text JSON writes as it
    is (an import's: decimal text), so each counts its length and two quotes."""
    numbers = [value for detail in details for value in _numbers(detail)]
    texts = [value for value in numbers if value is not None]
    try:
        joined = "".join(texts)
    except TypeError:  # a number that is not text: each one the long way
        return sum(map(_short, details))
    if not joined.isascii() or not joined.isprintable() or '"' in joined or "\\" in joined:
        return sum(map(_short, details))
    width = NUMBER_WIDTH - 2  # the two quotes
    nulls = (len(numbers) - len(texts)) * (NUMBER_WIDTH - 4)  # null is four characters
    return nulls + sum([width - n for n in map(len, texts) if n < width])


def pad_to_bucket(body: bytes, extra: int = 0) -> bytes:
    """``body`` padded with spaces to the next multiple of :data:`PAD_BUCKET` bytes at or
    above ``len(body) + extra``."""
    size = -(-(len(body) + extra) // PAD_BUCKET) * PAD_BUCKET
    return body + b" " * (size - len(body))


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
