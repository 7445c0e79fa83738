"""The routes opentaps SEAS already calls, with its request and response shapes.

Point an opentaps installation's ``EMISSIONS_API_URL`` at
``http://HOST:PORT/api/v1/utilityemissionchannel``. Its credentials are accepted
as they are sent: the ``vault_token`` or ``web_socket_key`` header is the API
token of a service account (an enrolled identity whose key this server holds),
and the ``userId`` query parameter must name that account.

Differences from the original service, by design: amounts are exact decimals
computed from the shipped factor editions; ``emissionsUom`` is ``tCO2e`` (metric
tonnes; the original said ``MtCO2e``, which reads as megatonnes); what was billed
is sealed in the organisation's channel; ``utilityId`` must be the EIA utility id
of a registered site of the account's organisation (a ``USA_EIA_`` prefix is
accepted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from carbonledger.api.auth import Actor, actor_of
from carbonledger.api.context import AppContext, ServiceAccount
from carbonledger.api.deps import actor, context
from carbonledger.api.problems import json_response, problem
from carbonledger.core.apportion import largest_remainder
from carbonledger.core.calculator import merge_trace
from carbonledger.core.domain import Bill, account_ref, parse_amount, parse_date
from carbonledger.core.units import convert
from carbonledger.crypto.keystore import encrypt_key, save_keystore
from carbonledger.errors import InvalidInput, NotFound, PermissionDenied
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.channels import grant
from carbonledger.services.home import KEYSTORE_SCRYPT_N
from carbonledger.services.identity import enroll, make_enrolment_request, register_user
from carbonledger.services.records import RecordReader, find_item
from carbonledger.services.tokens import issue_audited_emissions

__all__ = ["RecordForm", "record_one", "repeated_fields", "router"]

router = APIRouter(prefix="/api/v1/utilityemissionchannel", tags=["opentaps"])
Ctx = Annotated[AppContext, Depends(context)]
Caller = Annotated[Actor, Depends(actor)]
_T = Decimal(1000)


def _utility(value: str) -> str:
    return value.removeprefix("USA_EIA_").strip()


def _site_for(ctx: AppContext, org: str, utility_id: str) -> str:
    wanted = _utility(utility_id)
    found = ctx.peek(
        lambda state: next(
            (
                str(site["id"])
                for site in state.sites.values()
                if site["org"] == org and str(site.get("utility_id") or "") == wanted
            ),
            None,
        )
    )
    if found is not None:
        return found
    raise InvalidInput(
        f"utilityId: no site of organisation {org!r} is served by utility {utility_id!r};"
        " register one with `carbonledger site add ... --utility ID`"
    )


def _num(value: str | Decimal | None) -> float | None:
    # opentaps reads these as numbers; exact decimals are in the record itself.
    return None if value is None else float(value)


# What opentaps sent beyond the bill (its document's MD5, the time of day of thruDate)
# travels in the sealed detail's source, "opentaps;md5=...;thru=T00:00:00Z", so that
# reading the record back returns what was sent.
_SOURCE = "opentaps"
_END_OF_DAY = "T23:59:59Z"


def _source(md5: str, thru: str) -> str:
    time = thru[10:] if len(thru) > 10 else ""
    parts = [_SOURCE, *([f"md5={md5}"] if md5 else []), *([f"thru={time}"] if time else [])]
    return ";".join(parts)


def _sent(detail: dict[str, Any]) -> dict[str, str]:
    name, *pairs = str(detail.get("source") or "").split(";")
    if name != _SOURCE:
        return {}
    return dict(p.partition("=")[::2] for p in pairs)


def _energy_split(
    detail: dict[str, Any], trace: dict[str, Any], results: dict[str, Any]
) -> tuple[Decimal | str | None, Decimal | str | None]:
    """Renewable and non-renewable kWh that add up exactly to the kWh billed."""
    mix = trace.get("fuel_mix") or {}
    if detail.get("amount") is None or "nonrenewable_pct" not in mix:
        return results.get("renewable_kwh"), results.get("nonrenewable_kwh")
    kwh = convert(Decimal(detail["amount"]), str(detail["unit"]), "kWh")
    weights = [Decimal(mix["renewable_pct"]), Decimal(mix["nonrenewable_pct"])]
    if not any(weights):
        return results.get("renewable_kwh"), results.get("nonrenewable_kwh")
    renewable, other = largest_remainder(kwh, weights)
    return renewable, other


class EmissionsRecordOut(BaseModel):
    """One emissions record as opentaps SEAS reads it (amounts in tCO2e and the bill's unit)."""

    uuid: str
    utilityId: str | None
    partyId: str
    fromDate: str
    thruDate: str
    emissionsAmount: float
    emissionsUom: str
    renewableEnergyUseAmount: float | None
    nonrenewableEnergyUseAmount: float | None
    energyUseAmount: float | None
    energyUseUom: str | None
    factorSource: str | None
    url: str
    md5: str
    tokenId: str | None


class RegisteredOut(BaseModel):
    """A registered opentaps user and its one-time enrolment secret."""

    info: str
    enrollmentID: str
    enrollmentSecret: str


class EnrolledOut(BaseModel):
    """An enrolled opentaps user's address."""

    info: str
    address: str


class AuditedTokenOut(BaseModel, extra="allow"):
    """The audited-emissions token minted for the listed records."""

    tokenId: str | None = None


def _record(
    ctx: AppContext, item: dict[str, Any], reader: RecordReader | None, *, fresh: bool = False
) -> dict[str, Any]:
    """A record in opentaps' shape: full figures for a member of the record's channel.

    Anyone else is refused (403): an opentaps record is nothing but its figures,
    which are sealed in the organisation's channel. ``fresh``: the caller has just
    recorded it (no token can name it yet).
    """
    if reader is None:
        raise PermissionDenied(
            f"record {item['id']}: its figures are sealed in channel {item['org']!r};"
            " a member's key is needed"
        )
    try:
        # The sealed details opened and checked once: they give both the billed
        # figures and what :meth:`RecordReader.full` would add (account, results).
        detail = reader.detail(item)
        trace = _basis_trace(ctx, reader, item)
    except NotFound as exc:  # no channel key is wrapped for the caller
        raise PermissionDenied(
            f"record {item['id']}: its figures are sealed in channel {item['org']!r} ({exc})"
        ) from exc
    site = ctx.peek(lambda state: state.sites.get(item["site"])) or {}
    factor: dict[str, Any] = trace.get("factor") or {}
    kg_co2e: Any  # a decimal text, as the record carries it
    if item.get("kind") == "emissions_record" and "detail" in item:
        account = detail.get("account", item["account"])
        results = dict(detail.get("results") or {})
        kg_co2e = results.get("kg_co2e")
    else:  # a record not sealed: its figures are public
        account, results, kg_co2e = item["account"], item["trace"]["results"], item["kg_co2e"]
    renewable, nonrenewable = _energy_split(detail, trace, results)
    sent = _sent(detail)
    # A token's manifest names each record with its leaf hash: none can name a record
    # this request has just recorded (and the scan of every token is not indexed).
    token = None if fresh else _attesting_token(ctx, item["id"])
    return {
        "uuid": item["id"],
        "utilityId": site.get("utility_id"),
        "partyId": account,
        "fromDate": f"{item['period']['start']}T00:00:00Z",
        # the last day is inclusive: its end, unless opentaps sent another time of day
        "thruDate": f"{item['period']['end']}{sent.get('thru', _END_OF_DAY)}",
        "emissionsAmount": float(Decimal(kg_co2e) / _T),
        "emissionsUom": "tCO2e",
        "renewableEnergyUseAmount": _num(renewable),
        "nonrenewableEnergyUseAmount": _num(nonrenewable),
        "energyUseAmount": _num(detail.get("amount")),
        "energyUseUom": detail.get("unit"),
        "factorSource": (
            f"{factor.get('dataset')} {factor.get('edition')}"
            f" {factor.get('region_level')} {factor.get('region_key')}"
        ),
        "url": "",
        "md5": sent.get("md5", ""),
        "tokenId": token,
    }


def _basis_trace(ctx: AppContext, reader: RecordReader, item: dict[str, Any]) -> dict[str, Any]:
    """The record's trace over its calculation basis (its factor and fuel mix), the basis
    checked against the id the trace names once per server rather than at each request
    (an encoding and a SHA-256 of the whole basis)."""
    public: dict[str, Any] = item["trace"]
    basis = reader.basis(str(public["basis"]))
    if public["basis"] not in ctx.checked_bases:
        merge_trace(public, basis)  # raises if the basis is not the one the trace names
        ctx.checked_bases.add(str(public["basis"]))
    return {**basis, **public}


def _attesting_token(ctx: AppContext, record_id: str) -> str | None:
    """The id of the audited-emissions token whose manifest lists ``record_id``, if any."""
    for stored in ctx.ledger.items(ItemQuery(kind="token")):
        manifest = stored.item.get("manifest")
        entries = manifest.get("entries", ()) if isinstance(manifest, dict) else ()
        if any(e.get("record") == record_id for e in entries):
            return str(stored.item["id"])
    return None


def _reader(ctx: AppContext, who: Actor) -> RecordReader | None:
    if who.key is None:
        return None
    return ctx.reader_for(who.key)


@router.post(
    "/emissionscontract/recordEmissions", status_code=201, response_model=EmissionsRecordOut
)
async def record_emissions(
    request: Request,
    ctx: Ctx,
    who: Caller,
    utilityId: str = Form(...),
    partyId: str = Form(...),
    fromDate: str = Form(...),
    thruDate: str = Form(...),
    energyUseAmount: str = Form(...),
    energyUseUom: str = Form(...),
    emissionsDoc: UploadFile | None = File(None),
) -> Any:
    """Record one bill as opentaps sends it; 409 on a duplicate or overlapping period."""
    repeated = repeated_fields(name for name, _ in (await request.form()).multi_items())
    if repeated:
        return problem(412, "precondition-failed", repeated)
    doc = await emissionsDoc.read() if emissionsDoc is not None else b""
    sent = (utilityId, partyId, fromDate, thruDate, energyUseAmount, energyUseUom)
    return await record_one(ctx, who, RecordForm(*sent), doc)


def repeated_fields(names: Iterable[str]) -> str | None:
    """The refusal of a form that gives a field more than once (which value was meant?)."""
    seen: set[str] = set()
    twice: set[str] = set()
    for name in names:
        (twice if name in seen else seen).add(name)
    return f"{', '.join(sorted(twice))}: give each form field once" if twice else None


@dataclass(frozen=True)
class RecordForm:
    """The text fields of ``recordEmissions``, as opentaps sends them."""

    utilityId: str
    partyId: str
    fromDate: str
    thruDate: str
    energyUseAmount: str
    energyUseUom: str


async def record_one(ctx: AppContext, who: Actor, form: RecordForm, doc: bytes) -> Response:
    """What ``recordEmissions`` does with a complete form and a caller."""
    # Async: the request waits for its batch's commit on the event loop (the batch is
    # built and committed by their own threads), not in a thread of the pool.
    org = str(who.identity.get("org"))
    try:
        bill = Bill(
            _site_for(ctx, org, form.utilityId),
            form.partyId,
            parse_date(form.fromDate[:10], "fromDate"),
            parse_date(form.thruDate[:10], "thruDate"),
            parse_amount(form.energyUseAmount, "energyUseAmount", allow_zero=False),
            form.energyUseUom,
            document_sha256=hashlib.sha256(doc).hexdigest() if doc else None,
            line=1,
        )
    except InvalidInput as exc:
        return problem(412, "precondition-failed", str(exc))
    key = who.signing_key()
    md5 = hashlib.md5(doc, usedforsecurity=False).hexdigest() if doc else ""
    source = _source(md5, form.thruDate)
    report = await ctx.record_bills_async(key, [bill], source)
    if report.duplicates or any(e.field == "period" for e in report.rejected):
        reason = report.rejected[0].reason if report.rejected else "this bill is already recorded"
        return problem(409, "conflict", reason)
    if report.rejected:
        return problem(
            412, "precondition-failed", report.rejected[0].reason, field=report.rejected[0].field
        )
    # The item the batch has just committed, as stored (its blob named), not read back.
    rid = report.record_ids[0]
    item = (report.items or {}).get(rid) or find_item(ctx.ledger, rid).item
    body = _record(ctx, item, ctx.reader_for(key), fresh=True)
    return json_response(body, status_code=201)


@router.get("/emissionscontract/getEmissionsData/{uuid}", response_model=EmissionsRecordOut)
def get_emissions_data(uuid: str, ctx: Ctx, who: Caller) -> dict[str, Any]:
    item = find_item(ctx.ledger, uuid).item
    if item.get("kind") != "emissions_record":
        raise NotFound(f"no emissions record {uuid!r}")
    return _record(ctx, item, _reader(ctx, who))


@router.get(
    "/emissionscontract/getAllEmissionsData/{utilityId}/{partyId}",
    response_model=list[EmissionsRecordOut],
)
def get_all_emissions_data(
    utilityId: str,
    partyId: str,
    ctx: Ctx,
    who: Caller,
) -> list[dict[str, Any]]:
    org = str(who.identity.get("org"))
    site = _site_for(ctx, org, utilityId)
    ref = account_ref(site, partyId)  # records name accounts by reference
    reader = _reader(ctx, who)
    return [
        _record(ctx, s.item, reader)
        for s in ctx.ledger.items(ItemQuery(kind="emissions_record", site=site))
        if s.item["account"] == ref
    ]


@router.get(
    "/emissionscontract/getAllEmissionsDataByDateRange/{fromDate}/{thruDate}",
    response_model=list[EmissionsRecordOut],
)
def get_by_date_range(
    fromDate: str,
    thruDate: str,
    ctx: Ctx,
    who: Caller,
) -> list[dict[str, Any]]:
    start = parse_date(fromDate[:10], "fromDate").isoformat()
    end = parse_date(thruDate[:10], "thruDate").isoformat()
    org = str(who.identity.get("org"))
    reader = _reader(ctx, who)
    return [
        _record(ctx, s.item, reader)
        for s in ctx.ledger.items(
            ItemQuery(kind="emissions_record", org=org, since=start, until=end)
        )
    ]


@router.post(
    "/emissionscontract/recordAuditedEmissionsToken",
    status_code=201,
    response_model=AuditedTokenOut,
)
async def record_audited_emissions_token(request: Request, ctx: Ctx) -> Any:
    """Mint an audited-emissions token for the listed records (the caller must be an auditor)."""
    form = await request.form()
    who = actor_of(ctx, request, user_id=str(form.get("userId") or "") or None)
    ids = [i.strip() for i in str(form.get("emissionsRecordsToAudit") or "").split(",") if i]
    if not ids:
        return problem(412, "precondition-failed", "emissionsRecordsToAudit: no record ids")
    with ctx.lock:
        token = issue_audited_emissions(
            ctx.ledger, ctx.ledger.channels, who.signing_key(), record_ids=ids
        )
    return JSONResponse({"tokenId": token["id"], **token}, status_code=201)


class RegisterIn(BaseModel):
    enrollmentID: str
    affiliation: str = ""


class EnrollIn(BaseModel):
    enrollmentID: str
    enrollmentSecret: str


@router.post("/registerEnroll/register", status_code=201, response_model=RegisteredOut)
def register(body: RegisterIn, ctx: Ctx, who: Caller) -> Any:
    """Register an opentaps user in the caller's organisation (caller: an organisation admin)."""
    org = body.affiliation.split(".")[0] or str(who.identity.get("org"))
    if f"{org}/{body.enrollmentID}" in ctx.ledger.state().registrations:
        return problem(409, "conflict", f"user {body.enrollmentID!r} is already registered")
    with ctx.lock:
        secret = register_user(
            ctx.ledger, who.signing_key(), org=org, name=body.enrollmentID, roles=["member"]
        )
    return JSONResponse(
        {"info": "USER REGISTERED", "enrollmentID": body.enrollmentID, "enrollmentSecret": secret},
        status_code=201,
    )


@router.post("/registerEnroll/enroll", status_code=201, response_model=EnrolledOut)
def enroll_user(body: EnrollIn, request: Request, ctx: Ctx) -> Any:
    """Enroll a registered user whose key this server will hold (opentaps cannot sign).

    The ``vault_token`` or ``web_socket_key`` header sent with the request becomes the
    user's API token from then on.
    """
    credential = request.headers.get("vault_token") or request.headers.get("web_socket_key")
    if not credential:
        raise PermissionDenied("send the vault_token or web_socket_key header to enroll")
    state = ctx.ledger.state()
    regs = [k for k in state.registrations if k.endswith(f"/{body.enrollmentID}")]
    if len(regs) != 1:
        raise NotFound(f"user {body.enrollmentID!r} is not registered (or is ambiguous)")
    org = regs[0].split("/")[0]
    with ctx.lock:
        key, req = make_enrolment_request(org, body.enrollmentID, body.enrollmentSecret)
        cert = ctx.home.ca.issue(ctx.ledger, req, ctx.passphrase)
        path = ctx.home.user_keystore(org, body.enrollmentID)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_keystore(path, encrypt_key(key, ctx.passphrase, n=KEYSTORE_SCRYPT_N))
        enroll(ctx.ledger, key, req, cert)
        grant(ctx.ledger, ctx.ledger.channels, ctx.operator, org, key.address, role="member")
    ctx.register_service_token(credential, ServiceAccount(org, body.enrollmentID, key.address))
    return JSONResponse({"info": "USER ENROLLED", "address": key.address}, status_code=201)
