"""The HTTP face of a C2SP tlog-witness (c2sp.org/tlog-witness), served by
``carbonledger witness serve``.

``POST /add-checkpoint`` cosigns a log's checkpoint when a consistency proof shows it
extends the latest one the witness cosigned; ``GET /{sha256(origin)}/checkpoint``
serves that checkpoint with its cosignature (the monitoring API).
"""

from __future__ import annotations

import hashlib

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from carbonledger.api.limits import BodyLimit
from carbonledger.core.note import NoteKey, parse_note
from carbonledger.services.witness import WitnessStore

__all__ = ["create_witness_app"]

#: A checkpoint with 63 proof lines and a few signatures fits well within this.
_MAX_BODY = 64 * 1024


def create_witness_app(store: WitnessStore, key: NoteKey) -> FastAPI:
    """The witness's two endpoints over ``store``, cosigning with ``key``."""
    app = FastAPI(
        title="carbonledger witness",
        description=f"C2SP tlog-witness; cosigner key {key.verifier.vkey}",
        # as the API (carbonledger.api.app): no provider lookups at every request
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.add_middleware(BodyLimit, max_bytes=_MAX_BODY)  # refused before it is read

    @app.post("/add-checkpoint", response_class=PlainTextResponse)
    async def add_checkpoint(request: Request) -> Response:
        """Cosign a checkpoint: body ``old N``, proof lines, a blank line, the checkpoint."""
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return PlainTextResponse("request body too large\n", status_code=400)
        try:
            body = raw.decode()
        except UnicodeDecodeError:
            return PlainTextResponse("request body is not UTF-8\n", status_code=400)
        answer = store.add_checkpoint(body, key)
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    @app.get("/{origin_hash}/checkpoint", response_class=PlainTextResponse)
    def checkpoint(origin_hash: str) -> Response:
        """The latest checkpoint cosigned for the log whose origin hashes to ``origin_hash``."""
        for origin, entry in store.state()["logs"].items():
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash.lower():
                note = parse_note(entry["checkpoint"])
                if note.signed_by(key.verifier):
                    return PlainTextResponse(entry["checkpoint"])
        return PlainTextResponse("no checkpoint cosigned for that log\n", status_code=404)

    return app
