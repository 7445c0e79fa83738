"""Sealed details opened once per server, not once per request.

An import seals the details of thousands of records in one blob, so a page of a
site's records may name every blob on the ledger: opening them for each request
(decrypting and parsing whole blobs) cost more than everything else the request
did. The server keeps the blobs it has opened (bounded, least recently used out)
and the channel keys it has unwrapped (an ECDH each). Each request still goes
through its own read-time check before any detail or key leaves a cache: its
reader's :class:`~carbonledger.services.channels.ChannelKeys` must grant the
channel now (a grant that has ended, or a revoked member, is refused) and hold
the reader's own key for the blob's epoch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from carbonledger.core.commitments import detail_commitment
from carbonledger.core.state import LedgerState
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import IntegrityError, NotFound
from carbonledger.ports.channels import ChannelStore
from carbonledger.services.channels import ChannelKeys
from carbonledger.services.sealing import DetailReader

__all__ = [
    "EncodedViews",
    "OpenedBlobs",
    "SharedChannelKeys",
    "SharedDetailReader",
    "UnwrappedKeys",
]

_BlobKey = tuple[str, int, str]  # channel, epoch, blob id


class _Opened:
    """One opened blob: its details by record id, and the commitments already checked."""

    __slots__ = ("checked", "details")

    def __init__(self, details: dict[str, dict[str, Any]]) -> None:
        self.details = details
        self.checked: dict[str, str] = {}  # record id -> commitment its detail matched


class OpenedBlobs:
    """The sealed blobs a server has opened, at most ``max_details`` details in all."""

    def __init__(self, max_details: int = 50_000) -> None:
        self._max = max_details
        self._held = 0
        self._blobs: OrderedDict[_BlobKey, _Opened] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _BlobKey) -> _Opened | None:
        with self._lock:
            opened = self._blobs.get(key)
            if opened is not None:
                self._blobs.move_to_end(key)
            return opened

    def put(self, key: _BlobKey, opened: _Opened) -> None:
        with self._lock:
            if key in self._blobs:
                return
            self._blobs[key] = opened
            self._held += len(opened.details)
            while self._held > self._max and len(self._blobs) > 1:
                _, dropped = self._blobs.popitem(last=False)
                self._held -= len(dropped.details)


class UnwrappedKeys:
    """Channel keys this server has unwrapped, by member, channel and epoch.

    A key wrapped for a member at an epoch never changes, so it is unwrapped (an
    ECDH) once per server; whether the member may use it is decided at each request.
    """

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, int], bytes] = {}

    def get(self, member: str, channel: str, epoch: int) -> bytes | None:
        return self._keys.get((member, channel, epoch))

    def put(self, member: str, channel: str, epoch: int, key: bytes) -> None:
        self._keys[(member, channel, epoch)] = key


class SharedChannelKeys(ChannelKeys):
    """A request's :class:`ChannelKeys` over the server's :class:`UnwrappedKeys`: the
    read-time check of each channel still runs once per request, before any key."""

    def __init__(
        self,
        state: LedgerState,
        store: ChannelStore,
        key: PrivateKey,
        unwrapped: UnwrappedKeys,
        *,
        access: Callable[[str], None],
    ) -> None:
        super().__init__(state, store, key, access=access)
        self._member, self._unwrapped, self._check = key.address, unwrapped, access
        self._checked: set[str] = set()

    def key(self, channel: str, epoch: int) -> bytes:
        cached = self._unwrapped.get(self._member, channel, epoch)
        if cached is None:  # checked, looked up and unwrapped as any reader does
            cached = super().key(channel, epoch)
            self._unwrapped.put(self._member, channel, epoch, cached)
        elif channel not in self._checked:
            self._check(channel)
        self._checked.add(channel)
        return cached


class SharedDetailReader(DetailReader):
    """A request's :class:`DetailReader` over the server's :class:`OpenedBlobs`."""

    def __init__(self, keys: ChannelKeys, store: ChannelStore, opened: OpenedBlobs) -> None:
        super().__init__(keys, store)
        self._channel_keys, self._blob_store, self._opened = keys, store, opened

    def detail(self, item: dict[str, Any]) -> dict[str, Any]:
        """The record's details, checked against its commitment (once per server)."""
        ref = item.get("detail")
        if not isinstance(ref, dict):
            raise NotFound(f"record {item.get('id')!r} has no sealed details")
        channel, epoch, blob_id = str(ref["channel"]), int(ref["epoch"]), str(ref["blob"])
        # This request's read-time check and this reader's own key for the epoch, even
        # when another request has opened the blob already.
        self._channel_keys.key(channel, epoch)
        opened = self._opened.get((channel, epoch, blob_id))
        if opened is None:
            plain = self._channel_keys.open(channel, epoch, self._blob_store.blob(blob_id))
            opened = _Opened({d["id"]: d for d in orjson.loads(plain)})
            self._opened.put((channel, epoch, blob_id), opened)
        detail = opened.details.get(item["id"])
        if detail is None:
            raise IntegrityError(f"record {item['id']}: its details are not in its sealed blob")
        commitment = str(ref["commitment"])
        if opened.checked.get(item["id"]) != commitment:
            if detail_commitment(detail) != commitment:
                raise IntegrityError(f"record {item['id']}: details do not match their commitment")
            opened.checked[item["id"]] = commitment
        return detail


#: A record's channel and epoch, as its stored item names them.
Scope = tuple[str, str]


class EncodedViews:
    """Member views of records as encoded JSON, by leaf index and the record's stored bytes.

    A record and its sealed detail never change once committed, so neither does its
    member view; whether a caller may see it is decided at each request, before the
    view is taken from here. A view is found by the record's leaf index and given
    only for the very bytes it was made from (a store rebuilt from its chain may hold
    other bytes at an index), with the channel and epoch it is sealed in (the scope
    that request's check must grant), and without its opening brace (a page puts the
    leaf index there). At most ``max_views`` are kept (the oldest out first; about
    2 KB each, stored bytes and view).
    """

    def __init__(self, max_views: int = 20_000) -> None:
        self._max = max_views
        self._views: dict[int, tuple[bytes, Scope, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, leaf_index: int, data: bytes) -> tuple[Scope, bytes] | None:
        """The scope and view of the record stored as ``data`` at ``leaf_index``, if kept."""
        kept = self._views.get(leaf_index)  # one dictionary read: atomic, no lock needed
        if kept is None or kept[0] != data:
            return None
        return kept[1], kept[2]

    def put(self, leaf_index: int, data: bytes, scope: Scope, view: bytes) -> None:
        with self._lock:
            self._views.pop(leaf_index, None)  # a view made again goes to the back
            self._views[leaf_index] = (data, scope, view)
            while len(self._views) > self._max:
                del self._views[next(iter(self._views))]
