"""Pages that write or work: upload bills, the auditor's view, the ledger explorer."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from carbonledger.core.domain import Bill, parse_date
from carbonledger.core.rules.channels import read_access
from carbonledger.core.tx import utc_now
from carbonledger.errors import CarbonLedgerError, InvalidInput, RowError
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.audit import run_audit
from carbonledger.services.bills_csv import DECODE_ERRORS, iter_bills
from carbonledger.services.importer import import_bills
from carbonledger.web.data import recent_entries
from carbonledger.web.render import WebRoute, check_csrf, context, render, require_user, write
from carbonledger.web.session import WebUser, current_user

__all__ = ["router"]

FormStr = Annotated[str, Form()]
router = APIRouter(route_class=WebRoute, include_in_schema=False)
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
NO_KEY = (
    "You signed in with a signature, so this server holds no key to sign with: sign in"
    " with your keystore, or sign the transaction yourself and POST it to /api/v1/transactions."
)


def _upload_page(request: Request, user: WebUser, **values: Any) -> Response:
    ctx = context(request)
    sites = [
        s for s in ctx.ledger.state().sites.values() if user.org is None or s["org"] == user.org
    ]
    defaults: dict[str, Any] = {"report": None, "errors": {}, "site": "", "no_key": ""}
    values = {**defaults, **values}
    if user.key is None:
        values["no_key"] = NO_KEY
    return render(
        request,
        "upload.html",
        title="Upload bills",
        user=user,
        sites=sorted(sites, key=lambda s: str(s["id"])),
        **values,
    )


@router.get("/upload")
def upload_form(request: Request) -> Response:
    return _upload_page(request, require_user(request))


@router.post("/upload")
async def upload(
    request: Request,
    *,
    file: Annotated[UploadFile | None, File()] = None,
    site: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    user = require_user(request)
    check_csrf(request, csrf_token)
    if user.key is None:
        return _upload_page(request, user, status=403)
    data = b"" if file is None else await file.read(MAX_UPLOAD_BYTES + 1)
    if not data:
        return _upload_page(request, user, site=site, errors={"file": "choose a CSV file of bills"})
    if len(data) > MAX_UPLOAD_BYTES:
        return _upload_page(request, user, site=site, errors={"file": "the file is over 32 MiB"})
    try:
        data.split(b"\n", 1)[0].decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _upload_page(
            request, user, site=site, errors={"file": f"not UTF-8 text ({exc.reason})"}
        )
    # as `bills import` reads a file: a later line that is not UTF-8 is one bad row
    text = data.decode("utf-8-sig", errors=DECODE_ERRORS)
    ctx = context(request)
    good: list[Bill] = []
    rejected: list[RowError] = []
    for row in iter_bills(io.StringIO(text, newline=""), site=site or None):
        if isinstance(row, RowError):
            rejected.append(row)
        else:
            good.append(row)
    key = user.key
    source = (file.filename if file is not None else None) or "upload.csv"
    # The same import as POST /api/v1/bills/csv, written the same way.
    report = write(
        ctx,
        lambda: import_bills(
            ctx.ledger, key, ctx.catalog, good, store=ctx.ledger.channels, source=source
        ),
        group=True,
    )
    report.rows += len(rejected)
    report.rejected = sorted([*report.rejected, *rejected], key=lambda e: e.line)
    return _upload_page(request, user, site=site, report=report)


def _readable(request: Request, user: WebUser) -> list[dict[str, Any]]:
    state = context(request).ledger.state()
    out = []
    for cid, chan in sorted(state.channels.items()):
        try:
            member = read_access(state, cid, user.address, utc_now())
        except CarbonLedgerError:
            continue
        out.append({"id": cid, "org": chan.get("org", cid), **member})
    return out


def _audit_page(request: Request, user: WebUser, **values: Any) -> Response:
    ctx = context(request)
    reports = [s.item for s in ctx.ledger.items(ItemQuery(kind="audit_report"))]
    year = max((int(r["period"]["start"][:4]) for r in reports), default=date.today().year)
    defaults: dict[str, Any] = {
        "result": None,
        "errors": {},
        "form": {"org": "", "start": f"{year}-01-01", "end": f"{year}-12-31"},
    }
    return render(
        request,
        "audit.html",
        title="Auditor view",
        user=user,
        channels=_readable(request, user),
        reports=list(reversed(reports)),
        is_auditor="auditor" in user.roles,
        no_key=NO_KEY if user.key is None else "",
        **{**defaults, **values},
    )


@router.get("/audit")
def audit_view(request: Request) -> Response:
    return _audit_page(request, require_user(request))


@router.post("/audit")
def audit_run(
    request: Request,
    *,
    org: FormStr = "",
    start: FormStr = "",
    end: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    user = require_user(request)
    check_csrf(request, csrf_token)
    form = {"org": org, "start": start, "end": end}
    errors: dict[str, str] = {}
    dates: dict[str, date] = {}
    for name, value in (("start", start), ("end", end)):
        try:
            dates[name] = parse_date(value, name)
        except InvalidInput as exc:
            errors[name] = str(exc).partition(": ")[2] or str(exc)
    if not org:
        errors["org"] = "choose an organisation whose channel you can read"
    if not errors and dates["end"] < dates["start"]:
        errors["end"] = "the end is before the start"
    if errors or user.key is None:
        return _audit_page(request, user, status=400, errors=errors, form=form)
    ctx = context(request)
    key = user.key
    try:
        report = write(
            ctx,
            lambda: run_audit(
                ctx.ledger, ctx.ledger.channels, key, org, start=dates["start"], end=dates["end"]
            ),
        )
    except CarbonLedgerError as exc:
        return _audit_page(request, user, status=403, errors={"org": str(exc)}, form=form)
    entry = report.receipt.seq if report.receipt else None
    result = {**report.item(), **report.sealed(), "entry": entry}
    return _audit_page(request, user, result=result, form=form)


def _ledger_page(request: Request, **values: Any) -> Response:
    ctx = context(request)
    head = ctx.ledger.latest_checkpoint()
    return render(
        request,
        "ledger.html",
        title="Ledger explorer",
        state=ctx.ledger.state(),
        head=head,
        checkpoints=ctx.ledger.checkpoints(limit=20),
        entries=recent_entries(ctx.ledger, head.size),
        **{"report": None, **values},
    )


@router.get("/ledger")
def ledger_view(request: Request) -> Response:
    return _ledger_page(request)


@router.post("/ledger/verify")
def ledger_verify(request: Request, csrf_token: FormStr = "") -> Response:
    require_user(request)  # a full pass over the ledger: signed-in users only, as in the API
    check_csrf(request, csrf_token)
    ctx = context(request)
    report = ctx.ledger.verify()
    return _ledger_page(request, report=report, user=current_user(ctx, request))
