"""The requests sent at volume, answered without the framework's layers.

``POST /api/v1/bills`` and opentaps' ``recordEmissions`` arrive one bill at a time,
hundreds a second, and dashboards poll ``GET /api/v1/records``. Through FastAPI each
paid more in routing, dependency solving, a hop to the thread pool, middleware and
per-request bookkeeping than in its own work. :class:`FastWrites` answers a
well-formed request to any of them directly: the same body model
(:data:`~carbonledger.api.routes_records.BILLS_BODY`), the same credentials check
(:func:`~carbonledger.api.auth.actor_of`) and the same code after them
(:func:`~carbonledger.api.routes_records.record_bill_list`,
:func:`~carbonledger.api.opentaps.record_one`,
:func:`~carbonledger.api.listing.records_page`). Anything else (a body the model
refuses, a form field missing or repeated, a query parameter not declared or given
twice, a number out of range, credentials that do not hold) goes on to the framework
untouched, so that every error is the one the documented operation gives, named as
it names it. Nothing is written before that decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, unquote_plus

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbonledger.api.auth import Actor, actor_of
from carbonledger.api.context import AppContext
from carbonledger.api.listing import MAX_LIMIT, RecordsQuery, records_page
from carbonledger.api.opentaps import RecordForm, record_one, repeated_fields
from carbonledger.api.problems import problem, problem_for
from carbonledger.api.routes_records import BILLS_BODY, record_bill_list
from carbonledger.core.domain import parse_date
from carbonledger.errors import CarbonLedgerError

__all__ = ["BILLS_PATH", "RECORDS_PATH", "RECORD_EMISSIONS_PATH", "FastWrites"]

BILLS_PATH = "/api/v1/bills"
RECORDS_PATH = "/api/v1/records"
RECORD_EMISSIONS_PATH = "/api/v1/utilityemissionchannel/emissionscontract/recordEmissions"
_FORM_FIELDS = ("utilityId", "partyId", "fromDate", "thruDate", "energyUseAmount", "energyUseUom")


class _Elsewhere(Exception):
    """This request is the framework's to answer (nothing has been written)."""


Handler = Callable[[AppContext, Request], Awaitable[Response]]


class FastWrites:
    """ASGI middleware: well-formed bill writes answered directly, all else passed on."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app, self.api = app, api
        self._handlers: dict[tuple[str, str], Handler] = {
            ("POST", BILLS_PATH): _bills,
            ("POST", RECORD_EMISSIONS_PATH): _record_emissions,
            ("GET", RECORDS_PATH): _records,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx: AppContext = self.api.state.ctx
        with ctx.current():  # other processes' commits taken in once a request
            await self._http(ctx, scope, receive, send)

    async def _http(self, ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handlers.get((scope["method"], scope["path"]))
        if handler is None:
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        try:
            answer = await handler(ctx, Request(scope, _replay(body, receive)))
        except _Elsewhere:
            await self.app(scope, _replay(body, receive), send)
            return
        except CarbonLedgerError as exc:  # after the decision: the operation's own error
            answer = problem_for(exc, scope["path"])
        await answer(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    """The whole request body (bounded by :class:`~carbonledger.api.limits.BodyLimit`)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, if each is one of ``allowed`` and given once."""
    raw = request.scope.get("query_string", b"")
    if not raw:
        return {}
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    found = dict(pairs)
    if len(found) != len(pairs) or not set(found) <= set(allowed):
        raise _Elsewhere
    return found


def _caller(
    ctx: AppContext, request: Request, user_id: str | None = None, *, signs: bool = True
) -> Actor:
    try:
        who = actor_of(ctx, request, user_id=user_id)
        if signs:
            who.signing_key()  # the server must hold a key for the caller
    except CarbonLedgerError as exc:
        raise _Elsewhere from exc
    return who


def _number(text: str | None, default: int, low: int, high: int) -> int:
    """A query parameter's whole number as the route declares it (digits only, in range;
    20 digits at most, as 2**62 has 19)."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 20) or not low <= int(text) <= high:
        raise _Elsewhere
    return int(text)


#: A page of at most this many records is served on the event loop; a longer one in a
#: thread, so that the requests behind it are not held up while it is read.
_INLINE_LIMIT = 200


def _json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _bills(ctx: AppContext, request: Request) -> Response:
    _query(request, ())
    if not _json(request.headers.get("content-type")):
        raise _Elsewhere
    try:
        bills = BILLS_BODY.validate_json(await request.body())
    except ValidationError as exc:
        raise _Elsewhere from exc
    return await record_bill_list(ctx, _caller(ctx, request), bills)


async def _record_emissions(ctx: AppContext, request: Request) -> Response:
    user_id = _query(request, ("userId",)).get("userId")
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise _Elsewhere
    who = _caller(ctx, request, user_id)
    if media == "application/x-www-form-urlencoded":
        plain = _urlencoded(await request.body())
        if plain is not None:
            return await _record_form(ctx, who, plain)
    try:
        form = await request.form()
    except Exception as exc:  # a body the framework will name
        raise _Elsewhere from exc
    try:
        return await _record_form(ctx, who, form.multi_items())
    finally:
        await form.close()


def _urlencoded(body: bytes) -> list[tuple[str, str | UploadFile]] | None:
    """A plain urlencoded form's fields, decoded as the framework decodes them; None for
    any other (a separator other than ``&``, an empty or bare field), left to its parser."""
    if b";" in body:
        return None
    fields: list[tuple[str, str | UploadFile]] = []
    for part in body.split(b"&"):
        name, eq, value = part.partition(b"=")
        if not name or not eq:
            return None
        fields.append((unquote_plus(name.decode("latin-1")), unquote_plus(value.decode("latin-1"))))
    return fields


async def _record_form(
    ctx: AppContext, who: Actor, items: list[tuple[str, str | UploadFile]]
) -> Response:
    names = [name for name, _ in items]
    repeated = repeated_fields(names)
    if repeated:
        return problem(412, "precondition-failed", repeated)
    if not set(names) <= {*_FORM_FIELDS, "emissionsDoc"}:
        raise _Elsewhere
    form = dict(items)
    fields = [form.get(name) for name in _FORM_FIELDS]
    doc = form.get("emissionsDoc")
    if not all(isinstance(f, str) for f in fields) or not (
        doc is None or isinstance(doc, UploadFile)
    ):
        raise _Elsewhere
    data = await doc.read() if isinstance(doc, UploadFile) else b""
    return await record_one(ctx, who, RecordForm(*[str(f) for f in fields]), data)


async def _records(ctx: AppContext, request: Request) -> Response:
    found = _query(request, ("site", "org", "since", "until", "limit", "offset", "after"))
    limit = _number(found.get("limit"), 100, 1, MAX_LIMIT)
    offset = _number(found.get("offset"), 0, 0, 2**31)
    after = None if "after" not in found else _number(found["after"], 0, 0, 2**62)
    for name in ("since", "until"):
        if name in found:
            try:
                parse_date(found[name], name)
            except CarbonLedgerError as exc:
                raise _Elsewhere from exc
    query = RecordsQuery(
        found.get("site"),
        found.get("org"),
        found.get("since"),
        found.get("until"),
        limit,
        offset,
        after,
    )
    who = _caller(ctx, request, signs=False)
    if limit <= _INLINE_LIMIT:
        return records_page(ctx, who, query)
    return await run_in_threadpool(records_page, ctx, who, query)
