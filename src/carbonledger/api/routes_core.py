"""Ledger status, organisations, sites, identities, factors, calculation, client-signed txs."""

from __future__ import annotations

import base64
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from carbonledger.api.auth import Actor
from carbonledger.api.context import AppContext
from carbonledger.api.deps import actor, context
from carbonledger.core.calculator import DEFAULT_GWP, GWP_SETS, calculate, gwp_weights
from carbonledger.core.domain import Organisation, Site, parse_amount
from carbonledger.core.factor_values import Location
from carbonledger.core.tx import tx_from_parts
from carbonledger.errors import InvalidInput
from carbonledger.services.registry import register_orgs, register_sites

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
Ctx = Annotated[AppContext, Depends(context)]
Caller = Annotated[Actor, Depends(actor)]


class ChallengeIn(BaseModel):
    address: str = Field(description="Your Ethereum address (EIP-55).")


class LoginIn(BaseModel):
    message: str
    signature: str = Field(description="personal_sign of the message, hex.")
    passphrase: str | None = Field(
        None, description="Opt in: unlock your keystore held by this server for the session."
    )


@router.post("/auth/challenge", tags=["auth"])
def auth_challenge(body: ChallengeIn, ctx: Ctx) -> dict[str, str]:
    """A sign-in message (EIP-4361 style) for the address to sign with its own key."""
    return ctx.signin.challenge(body.address, domain="carbonledger", uri="/api/v1/auth/login")


@router.post("/auth/login", tags=["auth"])
def auth_login(body: LoginIn, ctx: Ctx) -> dict[str, Any]:
    """Check the signed challenge; returns a bearer token valid for 15 minutes."""
    return ctx.signin.login(body.message, body.signature, body.passphrase)


@router.get("/status", tags=["ledger"])
def status(ctx: Ctx) -> dict[str, Any]:
    state = ctx.ledger.state()
    head = ctx.ledger.latest_checkpoint()
    return {
        "ledger_id": state.ledger_id,
        "admin": state.admin,
        "leaves": head.size,
        "root": head.root,
        "checkpoint_time": head.time,
        "organisations": len(state.orgs),
        "sites": len(state.sites),
        "identities": len(state.identities),
    }


@router.post("/verify", tags=["ledger"])
def verify(ctx: Ctx, who: Caller) -> dict[str, Any]:
    """Recompute every hash, signature, rule and the tree (streams the whole ledger)."""
    return ctx.ledger.verify().__dict__


@router.get("/organisations", tags=["registry"])
def organisations(ctx: Ctx) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in o.items() if k != "channel"} for o in ctx.ledger.state().orgs.values()
    ]


class OrgIn(BaseModel):
    id: str
    name: str
    country: str | None = None


@router.post("/organisations", status_code=201, tags=["registry"])
def add_organisation(body: OrgIn, ctx: Ctx, who: Caller) -> dict[str, Any]:
    """Register an organisation (network admin), with its CA and data channel."""
    key = who.signing_key()
    org = Organisation(body.id, body.name, body.country)
    cert = ctx.home.ca.create_org(org.id, org.name, ctx.passphrase)
    with ctx.lock:
        receipt = register_orgs(
            ctx.ledger, ctx.ledger.channels, key, [org], ca_certs={org.id: cert}
        )
    return {"id": org.id, "entry": receipt.seq}


@router.get("/sites", tags=["registry"])
def sites(ctx: Ctx, org: str | None = None) -> list[dict[str, Any]]:
    return [s for s in ctx.ledger.state().sites.values() if org is None or s["org"] == org]


class SiteIn(BaseModel):
    id: str
    org: str
    name: str
    country: str
    zip: str | None = None
    state: str | None = None
    subregion: str | None = None
    utility_id: str | None = None
    address: str | None = None


@router.post("/sites", status_code=201, tags=["registry"])
def add_site(body: SiteIn, ctx: Ctx, who: Caller) -> dict[str, Any]:
    """Register a site (organisation admin)."""
    site = Site(
        body.id,
        body.org,
        body.name,
        body.country,
        body.zip,
        body.state,
        body.subregion,
        body.utility_id,
        body.address,
    )
    with ctx.lock:
        receipt = register_sites(ctx.ledger, who.signing_key(), [site])
    return {"id": site.id, "entry": receipt.seq}


@router.get("/identities", tags=["identity"])
def identities(ctx: Ctx, org: str | None = None) -> list[dict[str, Any]]:
    return [i for i in ctx.ledger.state().identities.values() if org is None or i.get("org") == org]


@router.get("/factors", tags=["factors"])
def factors(ctx: Ctx) -> list[dict[str, Any]]:
    return [e.summary() for e in ctx.catalog.editions()]


@router.get("/factors/{edition}", tags=["factors"])
def factor_edition(ctx: Ctx, edition: str, region: str | None = None) -> list[dict[str, Any]]:
    return [
        f.to_dict()
        for f in ctx.catalog.factors(edition)
        if region is None or f.region_key == region
    ]


class CalcIn(BaseModel):
    amount: str = Field(description="Quantity as a decimal string.")
    unit: str
    activity: str = "electricity"
    zip: str | None = None
    utility_id: str | None = None
    subregion: str | None = None
    state: str | None = None
    country: str | None = None
    year: int | None = None
    edition: str | None = None
    gwp: str = Field(
        DEFAULT_GWP,
        description=(
            "IPCC GWP set (100-year) used where a dataset gives CO2, CH4 and N2O separately"
            " (the EPA Hub's fuels): AR5 as the Hub uses, AR6 (fossil CH4 29.8) or AR4."
            " The trace's factor basis names the set and its terms."
        ),
        json_schema_extra={"enum": list(GWP_SETS)},
    )


@router.post("/calculate", tags=["factors"])
def calc(body: CalcIn, ctx: Ctx) -> dict[str, Any]:
    """Emissions of an amount at a location, with the full trace (nothing is recorded)."""
    amount: Decimal = parse_amount(body.amount, "amount")
    gwp_weights(body.gwp)  # an unknown set is refused even where no per-gas factor is used
    location = Location(
        zip=body.zip,
        utility_id=body.utility_id,
        subregion=body.subregion,
        state=body.state,
        country=body.country,
    )
    resolution = ctx.catalog.resolve(
        body.activity, location, year=body.year, edition=body.edition, gwp=body.gwp
    )
    result = calculate(amount, body.unit, resolution)
    return {
        "kg_co2e": str(result.kg_co2e),
        "kg_co2": None if result.kg_co2 is None else str(result.kg_co2),
        "trace": result.trace,
    }


class TxIn(BaseModel):
    body: str = Field(description="The transaction body: canonical JSON, exactly as signed.")
    items: list[str] = Field(description="Each item's canonical JSON, in order.")
    signature: str = Field(description="65-byte EIP-191 signature of the body's SHA-256, hex.")
    blobs: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="The sealed blobs the items name (base64), stored with the entry.",
    )


@router.post("/transactions", status_code=201, tags=["ledger"])
def submit_transaction(body: TxIn, ctx: Ctx) -> dict[str, Any]:
    """Append a transaction signed on the client: the server never needs the user's key."""
    try:
        signature = bytes.fromhex(body.signature.removeprefix("0x"))
    except ValueError as exc:
        raise InvalidInput("signature: not hex") from exc
    try:
        blobs = [base64.b64decode(b, validate=True) for b in body.blobs]
    except ValueError as exc:
        raise InvalidInput("blobs: not base64") from exc
    tx = tx_from_parts(body.body.encode(), [i.encode() for i in body.items], signature, blobs)
    return asdict(ctx.submit([tx])[0])


@router.get("/items", tags=["ledger"])
def list_items(
    ctx: Ctx,
    kind: str,
    org: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31),
) -> list[dict[str, Any]]:
    """Public ledger items of a kind (tokens, audit reports, registrations ...)."""
    from carbonledger.ports.ledger import ItemQuery

    return [
        {"leaf_index": s.leaf_index, **s.item}
        for s in ctx.ledger.items(ItemQuery(kind=kind, org=org, limit=limit, offset=offset))
    ]
