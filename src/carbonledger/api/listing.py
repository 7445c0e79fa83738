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

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from carbonledger.api.auth import Actor
from carbonledger.api.context import AppContext
from carbonledger.api.readers import EncodedViews
from carbonledger.core.domain import parse_date
from carbonledger.errors import NotFound, PermissionDenied
from carbonledger.ports.ledger import ItemQuery, StoredItem
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


def _public(stored: StoredItem) -> bytes:
    # The stored canonical JSON is an object: the leaf index goes in front of its first key.
    if stored.data[:1] != b"{":
        return orjson.dumps({"leaf_index": stored.leaf_index, **stored.item})
    return b'{"leaf_index":%d,%s' % (stored.leaf_index, stored.data[1:])


class _MemberViews:
    """One request's member views of sealed records.

    The reader's read-time check runs for the first record of each channel and epoch
    on the page (the check and the reader's key are the same for all of them); a
    view encoded by an earlier request is then taken by the record's stored bytes
    (the view depends on nothing else: the sealed detail is pinned by the commitment
    in those bytes, and was checked against it when the view was made).
    """

    def __init__(self, reader: RecordReader, views: EncodedViews) -> None:
        self._reader, self._views = reader, views
        self._granted: set[tuple[str, str]] = set()

    def view(self, stored: StoredItem) -> bytes | None:
        """The member view of a sealed record, or None where this caller may not open it."""
        item = stored.item
        ref = item.get("detail")
        if item.get("kind") != "emissions_record" or not isinstance(ref, dict):
            return None
        scope = (str(ref.get("channel")), str(ref.get("epoch")))
        key = stored.data
        view = self._views.get(key) if scope in self._granted else None
        if view is None:
            try:  # this request's read-time check of the channel, and the commitment's
                view = orjson.dumps(self._reader.full(item))
            except (PermissionDenied, NotFound):
                return None
            self._granted.add(scope)
            self._views.put(key, view)
        return b'{"leaf_index":%d,%s' % (stored.leaf_index, view[1:])


def records_page(ctx: AppContext, who: Actor, query: RecordsQuery) -> Response:
    """Emissions records in ledger order, one page: members of a record's channel get its
    results, anyone else its public fields."""
    for name, value in (("since", query.since), ("until", query.until)):
        if value is not None:
            parse_date(value, name)
    members = None if who.key is None else _MemberViews(ctx.reader_for(who.key), ctx.views)
    rows: list[bytes] = []
    for stored in ctx.ledger.items(
        ItemQuery(
            kind="emissions_record",
            site=query.site,
            org=query.org,
            since=query.since,
            until=query.until,
            limit=query.limit,
            offset=query.offset,
        )
    ):
        member = None if members is None else members.view(stored)
        rows.append(member if member is not None else _public(stored))
    after = query.offset + len(rows) if len(rows) == query.limit else None
    tail: dict[str, Any] = {"offset": query.offset, "limit": query.limit, "next_offset": after}
    body = b'{"items":[%s],%s' % (b",".join(rows), orjson.dumps(tail)[1:])
    return Response(body, media_type="application/json")
