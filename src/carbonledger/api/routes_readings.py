"""Meter readings posted as verifiable credentials, checked as they arrive (streaming audit)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from carbonledger.api.auth import Actor
from carbonledger.api.context import AppContext
from carbonledger.api.deps import actor, context
from carbonledger.errors import InvalidInput
from carbonledger.services.readings import post_and_check

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
Ctx = Annotated[AppContext, Depends(context)]
Caller = Annotated[Actor, Depends(actor)]


@router.post("/readings", status_code=201, tags=["credentials"])
def post_readings(
    ctx: Ctx,
    who: Caller,
    org: str = Query(..., description="Organisation whose channel seals the credentials."),
    credentials: list[dict[str, Any]] = Body(..., description="Signed credentials (W3C VC)."),
) -> dict[str, Any]:
    """Anchor signed meter readings (and bills) and check each reading batch at once.

    Each posted credential is checked (proof, registered issuer, validity, status)
    and sealed in the organisation's channel with its hash on the ledger; every
    meter-readings credential is then compared with the bills recorded for that
    meter: ``mismatch`` events are raised as soon as the readings make them
    certain, ``verified`` when a bill period is fully covered and agrees.
    """
    if not credentials:
        raise InvalidInput("credentials: send at least one signed credential")
    key = who.signing_key()
    with ctx.lock:
        report = post_and_check(ctx.ledger, ctx.ledger.channels, key, credentials, org=org)
    return report.to_dict()
