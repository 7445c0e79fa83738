"""Read pages: the overview, an organisation's dashboard, a site's records, one record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from carbonledger.api.context import AppContext
from carbonledger.core.canonical import canonical
from carbonledger.core.proofdoc import check_proof
from carbonledger.core.state import LedgerState
from carbonledger.errors import CarbonLedgerError, NotFound
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.inventory import inventory_chart
from carbonledger.services.records import RecordReader, find_item
from carbonledger.web.charts import bar_chart, line_chart
from carbonledger.web.data import OrgSummary, inventory_view, market_and_net, org_summary
from carbonledger.web.render import WebRoute, context, render, require_user
from carbonledger.web.session import WebUser, current_user

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)
PAGE = 50


@router.get("/")
def home(request: Request) -> Response:
    ctx = context(request)
    state = ctx.ledger.state()
    head = ctx.ledger.latest_checkpoint()
    orgs = [
        {
            "id": o["id"],
            "name": o.get("name", o["id"]),
            "sites": sum(1 for s in state.sites.values() if s["org"] == o["id"]),
        }
        for o in sorted(state.orgs.values(), key=lambda o: str(o["id"]))
    ]
    return render(request, "home.html", title="Overview", head=head, org_list=orgs, state=state)


def _org_year(
    request: Request, org: str, year: int | None
) -> tuple[WebUser, AppContext, LedgerState, OrgSummary]:
    """The signed-in user, context, ledger state and summary of a registered ``org``."""
    user = require_user(request)
    ctx = context(request)
    state = ctx.ledger.state()
    if org not in state.orgs:
        raise NotFound(f"organisation {org!r} is not registered")
    return user, ctx, state, org_summary(ctx.ledger, org, year, _reader(request, user.key))


@router.get("/orgs/{org}")
def dashboard(
    request: Request, org: str, year: int | None = Query(None, ge=1990, le=2100)
) -> Response:
    user, ctx, state, summary = _org_year(request, org, year)
    names = {s["id"]: s.get("name", s["id"]) for s in state.sites.values()}
    label = f"{summary.year}" if summary.year else "no records"
    return render(
        request,
        "dashboard.html",
        title=f"{state.orgs[org].get('name', org)}: emissions {label}",
        user=user,
        org=state.orgs[org],
        summary=summary,
        names=names,
        site_chart=bar_chart(
            "chart-sites", f"Emissions per site, {label} (location-based, t CO2e)", summary.by_site
        ),
        month_chart=line_chart(
            "chart-months",
            f"Emissions per month, {label} (location-based, t CO2e)",
            summary.by_month,
        ),
        extra=market_and_net(ctx.ledger, user.key, org, summary.year),
    )


@router.get("/orgs/{org}/inventory")
def inventory_page(
    request: Request, org: str, year: int | None = Query(None, ge=1990, le=2100)
) -> Response:
    """``report inventory`` as a page: a chart and the table of figures and their sources."""
    user, ctx, state, summary = _org_year(request, org, year)
    view = inventory_view(ctx.ledger, user.key, org, summary.year)
    inv = view.inventory
    chart = None if inv is None else inventory_chart(inv, "chart-inventory")
    name = state.orgs[org].get("name", org)
    return render(
        request,
        "inventory.html",
        title=f"{name}: inventory {summary.year or ''}".strip(),
        user=user,
        org=state.orgs[org],
        years=summary.years,
        year=summary.year,
        inv=inv,
        note=view.note,
        chart=chart,
    )


def _reader(request: Request, key: Any) -> RecordReader:
    ctx = context(request)
    return RecordReader(ctx.ledger) if key is None else ctx.reader_for(key)


@router.get("/sites/{site}")
def site_page(request: Request, site: str, offset: int = Query(0, ge=0, le=2**31)) -> Response:
    user = require_user(request)
    ctx = context(request)
    info = ctx.ledger.state().sites.get(site)
    if info is None:
        raise NotFound(f"site {site!r} is not registered")
    items = [
        s.item
        for s in ctx.ledger.items(
            ItemQuery(kind="emissions_record", site=site, offset=offset, limit=PAGE + 1)
        )
    ]
    more, items = len(items) > PAGE, items[:PAGE]
    reader = _reader(request, user.key)
    sealed_note = "" if user.key else "Sign in with your keystore to see what was billed."
    rows = []
    for item in items:
        billed = None
        if not sealed_note:
            try:
                billed = reader.detail(item)
            except CarbonLedgerError as exc:
                sealed_note = f"Billed amounts are sealed: {exc}"
        # Results are sealed with what was billed: shown only where the details open.
        rows.append({"item": reader.view(item) if billed else item, "billed": billed})
    return render(
        request,
        "site.html",
        title=f"Site {info.get('name', site)}",
        user=user,
        site=info,
        rows=rows,
        offset=offset,
        next_offset=offset + PAGE if more else None,
        prev_offset=max(0, offset - PAGE) if offset else None,
        sealed_note=sealed_note,
    )


@router.get("/records/{record_id}")
def record_page(request: Request, record_id: str) -> Response:
    user = require_user(request)
    ctx = context(request)
    stored = find_item(ctx.ledger, record_id)
    item = stored.item
    if item.get("kind") != "emissions_record":
        raise NotFound(f"{record_id} is not an emissions record")
    reader = _reader(request, user.key)
    billed = recomputed = None
    note = "" if user.key else "Sign in with your keystore to see what was billed and recompute it."
    try:
        trace = reader.trace(item)
        if user.key is not None:
            billed = reader.detail(item)
            item = reader.full(item)
            recomputed = {
                k: None if v is None else str(v) for k, v in reader.recompute(item).items()
            }
    except CarbonLedgerError as exc:
        trace = RecordReader(ctx.ledger).trace(item)
        note = f"What was billed is sealed: {exc}"
    return render(
        request,
        "record.html",
        title=f"Record {record_id}",
        user=user,
        item=item,
        leaf_index=stored.leaf_index,
        trace=trace,
        billed=billed,
        recomputed=recomputed,
        note=note,
        raw=canonical(item).decode(),
    )


@router.get("/records/{record_id}/check")
def record_check(request: Request, record_id: str) -> Response:
    """The server-side half of "verify": the proof's checkpoint signature and transaction."""
    ctx = context(request)
    stored = find_item(ctx.ledger, record_id)
    doc = ctx.ledger.proof(stored.leaf_index).document()
    if stored.item.get("kind") == "emissions_record":
        doc["basis"] = canonical(
            RecordReader(ctx.ledger).basis(stored.item["trace"]["basis"])
        ).decode()
    admin = str(ctx.ledger.state().admin)
    out: dict[str, Any] = {
        "record": record_id,
        "tree_size": doc["tree_size"],
        "root": doc["checkpoint"]["root"],
        "signer": doc["checkpoint"]["signer"],
        "operator": admin,
        "signed_in": current_user(ctx, request) is not None,
    }
    try:
        check_proof(doc, expect_signer=admin)
        out.update(
            ok=True,
            detail="checkpoint signed by the ledger operator; item signed by its sender;"
            " basis recomputes",
        )
    except CarbonLedgerError as exc:
        out.update(ok=False, detail=str(exc))
    return JSONResponse(out)
