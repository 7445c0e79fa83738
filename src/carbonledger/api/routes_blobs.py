"""Sealed blobs by content hash: how nodes of a network pass sealed data to each other.

On the EVM backend sealed blobs do not travel in calldata; every node serves the ones
it holds here and a follower fetches what it lacks
(:mod:`carbonledger.adapters.evm.exchange`). Public and unauthenticated, like the
transparency log: a blob is ciphertext of a channel (only its members hold the key),
which anyone reading calldata could read before, and its integrity comes from the
hash a signed item holds, which the fetcher checks, not from this server.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from carbonledger.api.context import AppContext
from carbonledger.api.deps import context
from carbonledger.core.blobs import BLOB_BATCH_MAX
from carbonledger.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["sealed blobs"])
Ctx = Annotated[AppContext, Depends(context)]
_SHA256 = r"^[0-9a-f]{64}$"


class BlobIds(BaseModel):
    """The blobs asked for, by SHA-256 (lowercase hex)."""

    ids: list[Annotated[str, Field(pattern=_SHA256)]] = Field(max_length=BLOB_BATCH_MAX)


@router.get(
    "/blobs/{blob_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The blob."}},
)
def blob(
    ctx: Ctx,
    blob_id: Annotated[str, Path(pattern=_SHA256, description="The blob's SHA-256 (hex).")],
) -> Response:
    """One sealed blob this node holds, as its bytes (ciphertext); 404 if it holds none."""
    data = ctx.ledger.channels.blob(blob_id)
    return Response(data, media_type="application/octet-stream")


@router.post("/blobs")
def blobs(ctx: Ctx, asked: BlobIds) -> dict[str, Any]:
    """The sealed blobs of ``ids`` this node holds (base64 by id) and the ids it does not
    hold: a follower fetches an EVM transaction's blobs in one request."""
    store = ctx.ledger.channels
    found: dict[str, str] = {}
    missing: list[str] = []
    for blob_id in dict.fromkeys(asked.ids):
        try:
            found[blob_id] = base64.b64encode(store.blob(blob_id)).decode()
        except NotFound:
            missing.append(blob_id)
    return {"blobs": found, "missing": missing}
