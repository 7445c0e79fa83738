"""The channel store port: off-ledger storage of sealed channel data and wrapped keys.

The ledger keeps only hashes of what is stored here (the SHA-256 of every sealed
blob and of every wrapped key), so anyone can check this store's integrity and
only a channel's members can read it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

__all__ = ["ChannelStore"]


class ChannelStore(Protocol):
    def put_keys(self, channel: str, epoch: int, wrapped: Mapping[str, bytes]) -> None:
        """Store the channel key of ``epoch`` wrapped for each member address."""
        ...

    def wrapped_key(self, channel: str, epoch: int, member: str, digest: str) -> bytes:
        """The key of ``epoch`` wrapped for ``member`` whose SHA-256 is ``digest``."""
        ...

    def put_blob(self, blob_id: str, channel: str, epoch: int, data: bytes) -> None:
        """Store a sealed blob under its SHA-256 (hex)."""
        ...

    def blob(self, blob_id: str) -> bytes:
        """A sealed blob by its SHA-256 (NotFound if absent)."""
        ...

    def blob_ids(self) -> Iterator[tuple[str, bytes]]:
        """Every stored blob id with the SHA-256 of its data, for integrity checks."""
        ...
