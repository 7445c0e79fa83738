"""The ledger as a transparency log, the way Certificate Transparency logs serve it.

Public and unauthenticated, like a CT log's ``get-sth`` and ``get-sth-consistency``:
the latest checkpoint as a C2SP signed note, consistency proofs between two tree
sizes, and the log's origin and verifier key for witnesses and monitors.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from carbonledger.api.context import AppContext
from carbonledger.api.deps import context
from carbonledger.services.tlog import consistency_json, latest_cosigned, log_info

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["transparency log"])
Ctx = Annotated[AppContext, Depends(context)]


@router.get(
    "/checkpoints/latest",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "A C2SP tlog-checkpoint."}},
)
def latest_checkpoint(ctx: Ctx) -> PlainTextResponse:
    """The latest checkpoint as a C2SP signed note: origin, tree size, base64 RFC 6962
    root, then the log's Ed25519 signature line (c2sp.org/tlog-checkpoint) and the
    cosignatures witnesses returned for it (c2sp.org/tlog-cosignature)."""
    return PlainTextResponse(latest_cosigned(ctx.ledger))


@router.get("/consistency")
def consistency(
    ctx: Ctx,
    first: Annotated[int, Query(ge=0, description="The older tree size.")],
    second: Annotated[int, Query(ge=0, description="The newer tree size (at most the latest).")],
) -> dict[str, Any]:
    """RFC 6962 consistency proof that the tree of ``first`` leaves is a prefix of the tree
    of ``second`` leaves (RFC 6962 section 2.1.2; empty when ``first`` is 0 or equal)."""
    return consistency_json(ctx.ledger, first, second)


@router.get("/log")
def log(ctx: Ctx) -> dict[str, Any]:
    """The log's origin, its C2SP verifier key (vkey) and latest checkpoint."""
    return log_info(ctx.ledger)
