"""Which sealed blobs a ledger item names.

Items name the sealed channel data they commit to in one of two places:
``detail`` (emissions records) or ``sealed`` (meter readings, bill credentials,
audit results). Both hold ``channel``, ``epoch`` and ``blob`` (the SHA-256 of
the sealed bytes). The rules, ``verify`` and the stores all ask this module, so
a new kind of item that seals data is seen everywhere at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BLOB_FIELDS", "BlobRef", "is_blob_id", "referenced_blobs"]

BLOB_FIELDS = ("detail", "sealed")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A sealed blob named by an item: its channel, key epoch and SHA-256 (hex)."""

    field: str
    channel: str
    epoch: int
    blob: str


def referenced_blobs(item: Mapping[str, Any]) -> Iterator[BlobRef]:
    """The sealed blobs ``item`` names, well-formed or not (rules judge the form)."""
    for name in BLOB_FIELDS:
        ref = item.get(name)
        if isinstance(ref, Mapping) and "blob" in ref:
            epoch = ref.get("epoch")
            yield BlobRef(
                name,
                str(ref.get("channel")),
                epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else -1,
                str(ref.get("blob")),
            )


def is_blob_id(value: object) -> bool:
    """True for a lowercase hex SHA-256."""
    return isinstance(value, str) and _SHA256.match(value) is not None
