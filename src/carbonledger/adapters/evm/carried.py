"""What a transaction carries in calldata beside its signed parts: the channel keys it
wraps (and, in calldata written before sealed blobs left the chain, its sealed blobs).

The contract never reads them (its ``Tx.blobs``). Wrapped keys are small and rare:
they travel on chain, so any node rebuilds its channel keys from the chain alone, and
``verify`` checks each against its digest in the ledger's channel state. Sealed blobs
are large (one a record) and travel between nodes instead
(:mod:`~carbonledger.adapters.evm.exchange`): the signed items commit to each by its
SHA-256, so they need not be in calldata to be bound; a blob still found in older
calldata is read as before. Each element starts with a tag byte::

    0x00 || sealed blob (read, no longer written)
    0x01 || abi(string channel, uint64 epoch, string member, bytes wrapped key)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from carbonledger.errors import IntegrityError

__all__ = ["Carried", "WrappedKey", "decode_carried", "encode_carried", "new_keys"]

_BLOB = b"\x00"
_KEY = b"\x01"
_KEY_ABI = ["string", "uint64", "string", "bytes"]


@dataclass(frozen=True)
class WrappedKey:
    """A channel key of ``epoch`` wrapped for ``member`` (ciphertext)."""

    channel: str
    epoch: int
    member: str
    wrapped: bytes


@dataclass(frozen=True)
class Carried:
    """The sealed blobs and wrapped keys of one transaction, as decoded from calldata."""

    blobs: tuple[bytes, ...]
    keys: tuple[WrappedKey, ...]


def encode_carried(blobs: Sequence[bytes], keys: Sequence[WrappedKey]) -> list[bytes]:
    """The ``Tx.blobs`` elements for ``blobs`` and ``keys``."""
    out = [_BLOB + b for b in blobs]
    out += [_KEY + abi_encode(_KEY_ABI, [k.channel, k.epoch, k.member, k.wrapped]) for k in keys]
    return out


def decode_carried(elements: Sequence[bytes], where: str) -> Carried:
    """The elements of a ``Tx.blobs``; ``where`` names the entry in the error for a bad one."""
    blobs: list[bytes] = []
    keys: list[WrappedKey] = []
    for n, element in enumerate(elements):
        tag, rest = element[:1], element[1:]
        if tag == _BLOB:
            blobs.append(rest)
            continue
        if tag == _KEY:
            try:
                channel, epoch, member, wrapped = abi_decode(_KEY_ABI, rest)
            except Exception as exc:  # eth_abi raises several unrelated types
                raise IntegrityError(f"{where}: carried key {n} is malformed ({exc})") from exc
            keys.append(WrappedKey(str(channel), int(epoch), str(member), bytes(wrapped)))
            continue
        raise IntegrityError(f"{where}: carried element {n} has an unknown tag {tag.hex() or '-'}")
    return Carried(tuple(blobs), tuple(keys))


def _digests(channel: Mapping[str, Any]) -> Iterator[tuple[int, str, str]]:
    for epoch, members in channel.get("keys", {}).items():
        for member, digest in members.items():
            yield int(epoch), member, digest


def new_keys(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, int, str, str]]:
    """The wrapped keys (channel, epoch, member, digest) that ``after`` records beyond
    ``before`` (two ``LedgerState.channels``; the rules replace a channel, never
    modify it in place, so an unchanged channel is the same object)."""
    out: list[tuple[str, int, str, str]] = []
    for name, channel in after.items():
        old = before.get(name)
        if old is channel:
            continue
        known = set(_digests(old)) if old is not None else set()
        out += [(name, e, m, d) for e, m, d in _digests(channel) if (e, m, d) not in known]
    return out
