"""Bills in (JSON or CSV), emissions records out (with trace and proof), channels, audits, users."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field, TypeAdapter

from carbonledger.api.auth import Actor
from carbonledger.api.context import AppContext
from carbonledger.api.deps import actor, context
from carbonledger.api.listing import MAX_LIMIT, RecordsQuery, records_page
from carbonledger.api.problems import json_response
from carbonledger.core.canonical import canonical
from carbonledger.core.domain import Bill, parse_amount, parse_date
from carbonledger.errors import CarbonLedgerError, InvalidInput, RowError
from carbonledger.factors.resolver import normalise_activity
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services import channels as channel_service
from carbonledger.services.audit import run_audit
from carbonledger.services.bills_csv import DECODE_ERRORS, iter_bills
from carbonledger.services.identity import EnrolmentRequest, register_user
from carbonledger.services.importer import ImportReport
from carbonledger.services.records import RecordReader, find_item

__all__ = ["BILLS_BODY", "record_bill_list", "router"]

router = APIRouter(prefix="/api/v1")
Ctx = Annotated[AppContext, Depends(context)]
Caller = Annotated[Actor, Depends(actor)]


class BillIn(BaseModel):
    site: str
    account: str
    start: str = Field(description="First day, YYYY-MM-DD.")
    end: str = Field(description="Last day (inclusive), YYYY-MM-DD.")
    amount: str = Field(description="Quantity as a decimal string.")
    unit: str
    activity: str = "electricity"
    cost: str | None = None
    currency: str | None = None
    document_sha256: str | None = None


def _bill(b: BillIn, line: int) -> Bill:
    try:
        return Bill(
            b.site,
            b.account,
            parse_date(b.start, "start"),
            parse_date(b.end, "end"),
            parse_amount(b.amount, "amount"),
            b.unit,
            normalise_activity(b.activity),
            None if b.cost is None else parse_amount(b.cost, "cost"),
            b.currency,
            b.document_sha256,
            line,
        )
    except InvalidInput as exc:
        field, _, reason = str(exc).partition(": ")
        raise RowError(line, field or "bill", reason or str(exc)) from exc


def _reported(report: ImportReport, errors: list[RowError]) -> dict[str, Any]:
    report.rows += len(errors)
    report.rejected.extend(errors)
    report.rejected.sort(key=lambda e: e.line)
    return {**report.to_dict(), "record_ids": report.record_ids}


class ImportOut(BaseModel):
    """What an import did: every bill is recorded, a duplicate, or rejected (named)."""

    rows: int
    recorded: int
    duplicates: int
    rejected: list[dict[str, Any]]
    kg_co2e: str
    record_ids: list[str]


@router.post("/bills", status_code=201, tags=["bills"], response_model=ImportOut)
async def post_bills(bills: list[BillIn], ctx: Ctx, who: Caller) -> Response:
    """Record bills (JSON); each bad bill is reported with its index (1-based) and field."""
    return await record_bill_list(ctx, who, bills)


#: The body of ``POST /bills``, validated as FastAPI does (for :mod:`carbonledger.api.fast`).
BILLS_BODY: TypeAdapter[list[BillIn]] = TypeAdapter(list[BillIn])


async def record_bill_list(ctx: AppContext, who: Actor, bills: list[BillIn]) -> Response:
    """What ``POST /bills`` does with a valid body and a caller."""
    # Async: the request waits for its batch's commit on the event loop, not in a
    # thread of the pool; the answer is encoded once, by orjson.
    good: list[Bill] = []
    errors: list[RowError] = []
    for n, b in enumerate(bills, start=1):
        try:
            good.append(_bill(b, n))
        except RowError as exc:
            errors.append(exc)
    report = await ctx.record_bills_async(who.signing_key(), good, "api")
    return json_response(_reported(report, errors), status_code=201)


@router.post("/bills/csv", status_code=201, tags=["bills"])
async def post_bills_csv(
    ctx: Ctx, who: Caller, file: UploadFile = File(...), site: str | None = Query(None)
) -> dict[str, Any]:
    """Upload a bills CSV (same columns as `carbonledger bills import`)."""
    data = await file.read()
    try:
        data.split(b"\n", 1)[0].decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"file: not UTF-8 text ({exc.reason})") from exc
    # as `bills import` reads a file: a later line that is not UTF-8 is one bad row
    text = data.decode("utf-8-sig", errors=DECODE_ERRORS)
    good: list[Bill] = []
    errors: list[RowError] = []
    for row in iter_bills(io.StringIO(text, newline=""), site=site):
        (errors if isinstance(row, RowError) else good).append(row)  # type: ignore[arg-type]
    report = await ctx.record_bills_async(who.signing_key(), good, file.filename or "upload.csv")
    return _reported(report, errors)


class RecordsPage(BaseModel):
    """A page of records, in ledger order; ``next_offset`` is null on the last page."""

    items: list[dict[str, Any]]
    offset: int
    limit: int
    next_offset: int | None


@router.get("/records", tags=["records"], response_model=RecordsPage)
def records(
    ctx: Ctx,
    who: Caller,
    site: str | None = None,
    org: str | None = None,
    since: str | None = Query(None, description="Periods ending on or after YYYY-MM-DD."),
    until: str | None = Query(None, description="Periods starting on or before YYYY-MM-DD."),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0, le=2**31),
) -> Response:
    """Emissions records in ledger order, paginated: with their results for members of
    the record's channel, public fields only for anyone else."""
    # The well-formed request is answered by the direct path (api/fast.py) before it
    # gets here; both answer through records_page.
    return records_page(ctx, who, RecordsQuery(site, org, since, until, limit, offset))


@router.get("/records/{record_id}", tags=["records"])
def record(record_id: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    """One record; members of its organisation's channel also get what was billed and the
    full trace, recomputed."""
    stored = find_item(ctx.ledger, record_id)
    item = stored.item
    out: dict[str, Any] = {"leaf_index": stored.leaf_index, **item}
    if item.get("kind") == "emissions_record" and who.key is not None:
        try:
            reader = ctx.reader_for(who.key)
            out.update(reader.full(item))
            out["billed"] = reader.detail(item)
            out["trace"] = reader.trace(item)
            out["recomputed"] = {
                k: None if v is None else str(v) for k, v in reader.recompute(item).items()
            }
        except CarbonLedgerError as exc:
            out["sealed"] = str(exc)
    return out


@router.get("/records/{record_id}/proof", tags=["records"])
def record_proof(record_id: str, ctx: Ctx) -> dict[str, Any]:
    """Inclusion proof document, checkable offline (``carbonledger check-proof``)."""
    stored = find_item(ctx.ledger, record_id)
    doc = ctx.ledger.proof(stored.leaf_index).document()
    if stored.item.get("kind") == "emissions_record":
        doc["basis"] = canonical(
            RecordReader(ctx.ledger).basis(stored.item["trace"]["basis"])
        ).decode()
    return doc


@router.get("/channels/{channel}", tags=["channels"])
def channel_members(channel: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    chan = ctx.ledger.state().channels.get(channel)
    if chan is None:
        raise InvalidInput(f"channel: {channel!r} does not exist")
    return {"channel": channel, "epoch": chan["epoch"], "members": chan["members"]}


class GrantIn(BaseModel):
    member: str
    role: str = "member"
    until: str | None = None


@router.post("/channels/{channel}/grants", status_code=201, tags=["channels"])
def grant(channel: str, body: GrantIn, ctx: Ctx, who: Caller) -> dict[str, Any]:
    with ctx.lock:
        receipt = channel_service.grant(
            ctx.ledger,
            ctx.ledger.channels,
            who.signing_key(),
            channel,
            body.member,
            role=body.role,
            until=body.until,
        )
    return {"entry": receipt.seq}


@router.delete("/channels/{channel}/members/{member}", tags=["channels"])
def revoke(channel: str, member: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    with ctx.lock:
        receipt = channel_service.revoke(
            ctx.ledger, ctx.ledger.channels, who.signing_key(), channel, member
        )
    return {"entry": receipt.seq}


class AuditIn(BaseModel):
    org: str
    start: str
    end: str


@router.post("/audits", status_code=201, tags=["audits"])
def audit(body: AuditIn, ctx: Ctx, who: Caller) -> dict[str, Any]:
    """Run an audit as the calling auditor; the signed report is recorded on the ledger."""
    start: date = parse_date(body.start, "start")
    end: date = parse_date(body.end, "end")
    with ctx.lock:
        report = run_audit(
            ctx.ledger, ctx.ledger.channels, who.signing_key(), body.org, start=start, end=end
        )
    return {**report.item(), "entry": report.receipt.seq if report.receipt else None}


@router.get("/audits", tags=["audits"])
def audits(ctx: Ctx, org: str | None = None) -> list[dict[str, Any]]:
    return [s.item for s in ctx.ledger.items(ItemQuery(kind="audit_report", org=org))]


class RegisterIn(BaseModel):
    org: str
    name: str
    roles: list[str] = ["member"]
    valid_hours: int = Field(72, ge=1, le=24 * 30)


@router.post("/users", status_code=201, tags=["identity"])
def register(body: RegisterIn, ctx: Ctx, who: Caller) -> dict[str, Any]:
    """Register a user (organisation admin); returns the one-time enrolment secret."""
    with ctx.lock:
        secret = register_user(
            ctx.ledger,
            who.signing_key(),
            org=body.org,
            name=body.name,
            roles=body.roles,
            valid_hours=body.valid_hours,
        )
    return {"org": body.org, "name": body.name, "secret": secret}


class CsrIn(BaseModel):
    org: str
    name: str
    secret: str
    csr: str = Field(description="PEM certificate signing request made with your own key.")


@router.post("/enrolment/certificate", status_code=201, tags=["identity"])
def certificate(body: CsrIn, ctx: Ctx) -> dict[str, str]:
    """The CA step of enrolment: your CSR and one-time secret in, a certificate out.

    Then sign the ``enroll`` transaction yourself and POST it to /transactions.
    """
    request = EnrolmentRequest(body.org, body.name, body.secret, body.csr.encode())
    return {"certificate": ctx.home.ca.issue(ctx.ledger, request, ctx.passphrase)}
