"""Emissions records as their fields, not their JSON (contracts/src/CompactRecord.sol).

The chain charges per byte of calldata (at least 10 gas a zero byte and 40 a
non-zero one, EIP-7623), and a record's public item is mostly fixed text around
four SHA-256s in hex. A record travels as ``0x00 | account | blob | commitment |
basis`` (32 bytes each) ``| id`` (the UUID's 16 bytes) ``| epoch`` (4 bytes)
``| start | end`` (10 characters each), then activity, organisation, site, schema
and scope, each one length byte and its text. The contract writes the canonical
JSON back to hash its leaf, so what was signed is unchanged; :func:`expand` is
the same writing here, for reading calldata back. A record is sent compactly only
when expanding gives back its exact bytes (otherwise as JSON). In a typed-data
transaction (:mod:`carbonledger.core.typed`) the compact bytes are what is signed,
and the contract hashes them as they are.

Reading a record's JSON back into its compact form is on the hot path of every
check of a typed transaction (``verify`` packs each stored record again), so
:func:`compact_from_json` reads the bytes with one pattern that is the exact image
of :func:`expand` over plain-ASCII texts: whatever it matches expands back to the
same bytes, and is the canonical JSON of the record. Anything else (non-ASCII
text, an epoch beyond 32 bits, another shape) goes the long way, decoded and packed
field by field by :func:`compact_record`, which decides.
"""

from __future__ import annotations

import re
import uuid
from binascii import unhexlify
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["compact_from_json", "compact_record", "encode_record", "expand", "is_compact"]

_FIXED = 169
_TEXTS = 5
_MAX_EPOCH = 2**32 - 1
_BYTE = tuple(bytes((n,)) for n in range(256))  # a text's length byte, made once

# What expand writes (read as a template: <H> a hash, <T> a text, <D> a date), with each
# text printable ASCII without a quote or a backslash (canonical JSON writes it as it is)
# of at most 255 bytes (its length byte); hex lowercase (expand writes .hex()); the id as
# str(uuid.UUID) writes it; the org twice (\4 is the channel).
_RECORD_JSON = re.compile(
    (
        rb'\{"account":"<H>","activity":"<T>","detail":\{"blob":"<H>","channel":"<T>",'
        rb'"commitment":"<H>","epoch":(0|[1-9][0-9]{0,9})\},"id":"<U>",'
        rb'"kind":"emissions_record","org":"\4","period":\{"end":"<D>","start":"<D>"\},'
        rb'"site":"<T>","trace":\{"basis":"<H>","schema":"<T>","scope":"<T>"\}\}'
    )
    .replace(b"<H>", rb"([0-9a-f]{64})")
    .replace(b"<T>", rb"([ !#-\[\]-~]{0,255})")
    .replace(b"<D>", rb"([ !#-\[\]-~]{10})")
    .replace(b"<U>", rb"([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})")
)


def is_compact(item: bytes) -> bool:
    """Whether an item in calldata is a compact record (a JSON item starts with ``{``)."""
    return item[:1] == b"\x00"


def _texts(data: bytes) -> list[bytes]:
    out, at = [], _FIXED
    for _ in range(_TEXTS):
        if at >= len(data):
            raise ValueError("compact record: a text is missing")
        n = data[at]
        out.append(data[at + 1 : at + 1 + n])
        at += 1 + n
    if at != len(data):
        raise ValueError("compact record: bytes after its last text")
    return out


def expand(data: bytes) -> bytes:
    """The canonical JSON of a compact record (exactly what CompactRecord.sol hashes)."""
    if not is_compact(data) or len(data) < _FIXED + _TEXTS:
        raise ValueError("not a compact record")
    activity, org, site, schema, scope = _texts(data)
    for text in (activity, org, site, schema, scope, data[149:169]):
        if b'"' in text or b"\\" in text:
            raise ValueError("compact record: a text holds a quote or a backslash")
    account, blob, commitment, basis = (data[1 + 32 * i : 33 + 32 * i].hex() for i in range(4))
    h = data[129:145].hex()  # as str(uuid.UUID(bytes=...)) writes it
    rid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    epoch = int.from_bytes(data[145:149], "big")
    start, end = data[149:159], data[159:169]
    return b"".join(
        [
            b'{"account":"' + account.encode(),
            b'","activity":"' + activity,
            b'","detail":{"blob":"' + blob.encode(),
            b'","channel":"' + org,
            b'","commitment":"' + commitment.encode(),
            b'","epoch":' + str(epoch).encode(),
            b'},"id":"' + rid.encode(),
            b'","kind":"emissions_record","org":"' + org,
            b'","period":{"end":"' + end,
            b'","start":"' + start,
            b'"},"site":"' + site,
            b'","trace":{"basis":"' + basis.encode(),
            b'","schema":"' + schema,
            b'","scope":"' + scope + b'"}}',
        ]
    )


def compact_from_json(data: bytes) -> bytes | None:
    """The compact form of a record's canonical JSON ``data``, read from the bytes alone
    (no decoding), or None when ``data`` is not in the plain shape this reads: the
    caller then decodes it and asks :func:`compact_record`. Whatever this returns,
    :func:`compact_record` returns too, and :func:`expand` gives back ``data``."""
    m = _RECORD_JSON.fullmatch(data)
    if m is None:
        return None
    (
        account,
        activity,
        blob,
        org,
        commitment,
        epoch,
        *rid,
        end,
        start,
        site,
        basis,
        schema,
        scope,
    ) = m.groups()
    number = int(epoch)
    if number > _MAX_EPOCH:
        return None
    n = _BYTE
    hashes = b"".join((account, blob, commitment, basis, *rid))
    return b"".join(
        (
            b"\x00",
            unhexlify(hashes),
            number.to_bytes(4, "big"),
            start,
            end,
            n[len(activity)],
            activity,
            n[len(org)],
            org,
            n[len(site)],
            site,
            n[len(schema)],
            schema,
            n[len(scope)],
            scope,
        )
    )


def compact_record(data: bytes, item: dict[str, Any]) -> bytes | None:
    """``item`` (whose canonical JSON is ``data``) as a compact record, or None when it
    is not a record or expanding would not give back ``data`` exactly."""
    if item.get("kind") != "emissions_record":
        return None
    try:
        detail, period, trace = item["detail"], item["period"], item["trace"]
        hashes = b"".join(
            bytes.fromhex(str(h))
            for h in (item["account"], detail["blob"], detail["commitment"], trace["basis"])
        )
        texts = [
            str(v).encode()
            for v in (item["activity"], item["org"], item["site"], trace["schema"], trace["scope"])
        ]
        out = b"".join(
            [
                b"\x00",
                hashes,
                uuid.UUID(str(item["id"])).bytes,
                int(detail["epoch"]).to_bytes(4, "big"),
                str(period["start"]).encode(),
                str(period["end"]).encode(),
                *(bytes([len(t)]) + t for t in texts),
            ]
        )
        if len(hashes) != 128 or len(out) < _FIXED or expand(out) != data:
            return None
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return out


@lru_cache(maxsize=4096)  # a few hundred dates and a few texts, asked for every record
def _plain(text: str, size: int) -> bool:
    """Whether canonical JSON writes ``text`` as it is (printable ASCII without a quote
    or a backslash) and it is at most ``size`` characters (exactly ``size`` if negative)."""
    return (
        type(text) is str
        and (len(text) <= size if size >= 0 else len(text) == -size)
        and text.isascii()
        and text.isprintable()
        and '"' not in text
        and "\\" not in text
    )


@lru_cache(maxsize=1024)  # one per (activity, org, site, schema, scope): a few thousand
def _texts_tail(texts: tuple[str, ...]) -> bytes | None:
    """The length-prefixed texts that end a compact record, or None if one is not plain."""
    if not all(_plain(t, 255) for t in texts):
        return None
    return b"".join(_BYTE[len(t)] + t.encode() for t in texts)


def _record_fields(item: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A record's fields (hashes, id, epoch, org, dates, site, texts, its compact tail),
    or None if a field is missing or another one is present."""
    try:
        detail, period, trace = item["detail"], item["period"], item["trace"]
        if (
            len(item) != 9
            or item["kind"] != "emissions_record"
            or type(detail) is not dict
            or len(detail) != 4
            or type(period) is not dict
            or len(period) != 2
            or type(trace) is not dict
            or len(trace) != 3
            or detail["channel"] != item["org"]
        ):
            return None
        texts = (item["activity"], item["org"], item["site"], trace["schema"], trace["scope"])
        tail = _texts_tail(texts)
        if tail is None or not _plain(period["start"], -10) or not _plain(period["end"], -10):
            return None
        return (
            (item["account"], detail["blob"], detail["commitment"], trace["basis"]),
            item["id"],
            detail["epoch"],
            period["start"],
            period["end"],
            texts,
            tail,
        )
    except (KeyError, TypeError):  # a missing field, an unhashable text
        return None


def encode_record(item: Mapping[str, Any]) -> tuple[bytes, bytes] | None:
    """The canonical JSON and the compact form of a record, written from its fields (an
    import encodes a thousand records a transaction), or None when ``item`` is not a
    record of plain values (the caller then encodes it and reads the compact form from
    the JSON, which decides).

    Exactly the shape :func:`compact_from_json` reads: every key present and no other,
    text printable ASCII without a quote or a backslash (canonical JSON writes it as it
    is), hashes in lowercase hex, the id as ``str(uuid.UUID)`` writes it and an epoch
    of 32 bits. So the JSON is ``canonical(item)`` and the compact form is what
    :func:`compact_from_json` reads from it.
    """
    fields = _record_fields(item)
    if fields is None:
        return None
    (account, blob, commitment, basis), rid, epoch, start, end, texts, tail = fields
    activity, org, site, schema, scope = texts
    if (
        type(epoch) is not int
        or not 0 <= epoch <= _MAX_EPOCH
        or type(rid) is not str
        or len(rid) != 36
        or rid[8] + rid[13] + rid[18] + rid[23] != "----"
        or not type(account) is type(blob) is type(commitment) is type(basis) is str
        or not len(account) == len(blob) == len(commitment) == len(basis) == 64
    ):
        return None
    hexes = f"{account}{blob}{commitment}{basis}{rid[:8]}{rid[9:13]}{rid[14:18]}"
    hexes += rid[19:23] + rid[24:]
    try:
        raw = unhexlify(hexes)
    except ValueError:
        return None
    if raw.hex() != hexes:  # lowercase only: expand writes lowercase
        return None
    # What canonical JSON writes for a record of plain values: the template of expand
    # and of _RECORD_JSON (an f-string: formatting with % costs three times as much).
    data = (
        f'{{"account":"{account}","activity":"{activity}","detail":{{"blob":"{blob}",'
        f'"channel":"{org}","commitment":"{commitment}","epoch":{epoch}}},"id":"{rid}",'
        f'"kind":"emissions_record","org":"{org}","period":{{"end":"{end}","start":"{start}"}},'
        f'"site":"{site}","trace":{{"basis":"{basis}","schema":"{schema}","scope":"{scope}"}}}}'
    )
    compact = b"".join((b"\x00", raw, epoch.to_bytes(4, "big"), start.encode(), end.encode(), tail))
    return data.encode(), compact
