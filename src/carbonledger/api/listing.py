"""``GET /api/v1/records``: a page of emissions records, its JSON built from the ledger's rows.

A page of a site's records is what dashboards poll. Decoding each row, copying it
into a view and encoding the whole page again cost several times the query. Here
a record anyone may read goes out as the bytes the ledger stores (its canonical
JSON, with its leaf index put in front); a record the caller may open goes out as
its member view, encoded once per server
(:class:`~carbonledger.api.readers.EncodedViews`) and handed out only after this
request's own read-time check of the record's channel
(:meth:`~carbonledger.services.records.RecordReader.detail`). The FastAPI route
and the direct path (:mod:`carbonledger.api.fast`) both answer through
:func:`records_page`, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from carbonledger.api.auth import Actor
from carbonledger.api.context import AppContext
from carbonledger.api.readers import EncodedViews, Scope
from carbonledger.core.domain import parse_date
from carbonledger.errors import NotFound, PermissionDenied
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.records import RecordReader

__all__ = ["MAX_LIMIT", "RecordsQuery", "records_page"]

MAX_LIMIT = 1000


@dataclass(frozen=True)
class RecordsQuery:
    """What a caller may ask of ``GET /records`` (dates are checked by :func:`records_page`)."""

    site: str | None = None
    org: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int = 100
    offset: int = 0
    after: int | None = None  # a leaf index: the page starts after it


def _public(leaf_index: int, data: bytes) -> bytes:
    # The stored canonical JSON is an object: the leaf index goes in front of its first key.
    if data[:1] != b"{":
        return orjson.dumps({"leaf_index": leaf_index, **orjson.loads(data)})
    return b'{"leaf_index":%d,%s' % (leaf_index, data[1:])


class _MemberViews:
    """One request's member views of sealed records.

    The reader's read-time check runs for the first record of each channel and epoch
    on the page (the check and the reader's key are the same for all of them); a
    view encoded by an earlier request is then taken by the record's stored bytes
    (the view depends on nothing else: the sealed detail is pinned by the commitment
    in those bytes, and was checked against it when the view was made), without
    decoding them. A channel and epoch this caller may not open is refused once per
    request: its other records on the page go out as their public fields.
    """

    def __init__(self, reader: RecordReader, views: EncodedViews) -> None:
        self._reader, self._views = reader, views
        self._granted: set[Scope] = set()
        self._refused: set[Scope] = set()

    def view(self, leaf_index: int, data: bytes) -> bytes:
        """The row of a record: its member view where this caller may open it, else its
        public fields."""
        cached = self._views.get(leaf_index, data)
        if cached is not None and cached[0] in self._granted:
            return b'{"leaf_index":%d,%s' % (leaf_index, cached[1])
        if cached is not None and cached[0] in self._refused:
            return _public(leaf_index, data)
        item = orjson.loads(data)
        ref = item.get("detail")
        if item.get("kind") != "emissions_record" or not isinstance(ref, dict):
            return _public(leaf_index, data)
        scope = (str(ref.get("channel")), str(ref.get("epoch")))
        if scope in self._refused:
            return _public(leaf_index, data)
        try:  # this request's read-time check of the channel, and the commitment's
            view = orjson.dumps(self._reader.full(item))[1:]
        except (PermissionDenied, NotFound):
            self._refused.add(scope)
            return _public(leaf_index, data)
        self._granted.add(scope)
        self._views.put(leaf_index, data, scope, view)
        return b'{"leaf_index":%d,%s' % (leaf_index, view)


def _rows(ctx: AppContext, query: ItemQuery) -> Iterator[tuple[int, bytes]]:
    """The page's leaves as (leaf index, stored bytes), undecoded where the ledger can."""
    rows: Callable[[ItemQuery], Iterator[tuple[int, bytes]]] | None = getattr(
        ctx.ledger, "item_rows", None
    )
    if rows is not None:
        return rows(query)
    return ((s.leaf_index, s.data) for s in ctx.ledger.items(query))


def records_page(ctx: AppContext, who: Actor, query: RecordsQuery) -> Response:
    """Emissions records in ledger order, one page: members of a record's channel get its
    results, anyone else its public fields."""
    for name, value in (("since", query.since), ("until", query.until)):
        if value is not None:
            parse_date(value, name)
    members = None if who.key is None else _MemberViews(ctx.reader_for(who.key), ctx.views)
    rows: list[bytes] = []
    last: int | None = None
    for leaf_index, data in _rows(
        ctx,
        ItemQuery(
            kind="emissions_record",
            site=query.site,
            org=query.org,
            since=query.since,
            until=query.until,
            limit=query.limit,
            offset=query.offset,
            after=query.after,
        ),
    ):
        row = _public(leaf_index, data) if members is None else members.view(leaf_index, data)
        rows.append(row)
        last = leaf_index
    full = len(rows) == query.limit
    tail: dict[str, Any] = {
        "offset": query.offset,
        "limit": query.limit,
        "next_offset": query.offset + len(rows) if full else None,
        # the same next page, as a seek: pass it as ``after`` (and no offset)
        "next_after": last if full else None,
    }
    body = b'{"items":[%s],%s' % (b",".join(rows), orjson.dumps(tail)[1:])
    return Response(body, media_type="application/json")
