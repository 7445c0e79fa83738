"""Which sealed blobs a ledger item names.

Items name the sealed channel data they commit to in one of two places:
``detail`` (emissions records) or ``sealed`` (meter readings, bill credentials,
audit results). Both hold ``channel``, ``epoch`` and ``blob`` (the SHA-256 of
the sealed bytes). The rules, ``verify`` and the stores all ask this module, so
a new kind of item that seals data is seen everywhere at once.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from carbonledger.errors import InvalidInput

__all__ = [
    "BLOB_BATCH_MAX",
    "BLOB_FIELDS",
    "BlobRef",
    "check_carried",
    "is_blob_id",
    "referenced_blobs",
]

BLOB_FIELDS = ("detail", "sealed")
#: Blob ids in one request of the nodes' exchange (``POST /api/v1/blobs``).
BLOB_BATCH_MAX = 2000
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


class BlobRef(NamedTuple):
    """A sealed blob named by an item: its channel, key epoch and SHA-256 (hex).

    A named tuple rather than a frozen dataclass: one is made per item on every
    append and every ``verify``, and a tuple is made three times faster.
    """

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


def check_carried(
    items: Iterable[Mapping[str, Any]], carried: Collection[str]
) -> dict[str, tuple[str, int]]:
    """Every blob the items name is carried by their transaction, and only those.

    ``carried``: SHA-256 (hex) of the blobs the transaction carries. Returns the
    channel and epoch of each carried blob (where the store files it). An item that
    names a blob not carried would leave the ledger pointing at data no one can
    check; a blob carried but not named would be stored unreferenced.
    """
    named: dict[str, tuple[str, int]] = {}
    for n, item in enumerate(items):
        # What referenced_blobs yields, read inline: this runs for every item appended.
        for name in BLOB_FIELDS:
            ref = item.get(name)
            if ref is None or not (type(ref) is dict or isinstance(ref, Mapping)):
                continue
            if "blob" not in ref:
                continue
            blob, epoch = str(ref.get("blob")), ref.get("epoch")
            if not (type(epoch) is int or (isinstance(epoch, int) and not isinstance(epoch, bool))):
                epoch = -1
            home = (str(ref.get("channel")), epoch)
            if blob in named:  # already checked: a batch's items share their blob
                named[blob] = home
                continue
            if not is_blob_id(blob):
                raise InvalidInput(f"item {n}: {name}.blob must be a SHA-256 (hex)")
            if blob not in carried:
                raise InvalidInput(
                    f"item {n} ({item.get('id')!r}): {name}.blob {blob[:16]}... is not"
                    " carried by the transaction (sealed blobs travel with the transaction"
                    " that names them)"
                )
            named[blob] = home
    for blob in carried:
        if blob not in named:
            raise InvalidInput(f"the transaction carries blob {blob[:16]}... that no item names")
    return named
