"""Errors as RFC 9457 problem details (``application/problem+json``).

Every carbonledger error maps to a status: bad input 422, not found 404,
conflict 409, permission 403, signature 401. A request that fails FastAPI's own
validation names each field that is wrong. Nothing becomes a 500 except a bug.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from carbonledger import errors

__all__ = ["STATUS", "install_handlers", "problem"]

STATUS: list[tuple[type[errors.CarbonLedgerError], int, str]] = [
    (errors.PermissionDenied, 403, "permission-denied"),
    (errors.SignatureInvalid, 401, "signature-invalid"),
    (errors.NotFound, 404, "not-found"),
    (errors.Conflict, 409, "conflict"),
    (errors.IntegrityError, 409, "integrity"),
    (errors.InvalidInput, 422, "invalid-input"),
    (errors.ConfigurationError, 503, "configuration"),
]


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://carbonledger.org/problems/{title}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.CarbonLedgerError)
    async def ledger_error(_: Request, exc: errors.CarbonLedgerError) -> JSONResponse:
        for kind, status, title in STATUS:
            if isinstance(exc, kind):
                extra: dict[str, Any] = {}
                if isinstance(exc, errors.RowError):
                    extra = {"line": exc.line, "field": exc.field}
                return problem(status, title, str(exc), **extra)
        return problem(400, "error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")),
                "reason": e["msg"],
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
        return problem(422, "invalid-input", detail, errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http", str(exc.detail))
