"""Errors as RFC 9457 problem details (``application/problem+json``).

Every carbonledger error maps to a status: bad input 422, not found 404,
conflict 409, permission 403, signature 401. A request that fails FastAPI's own
validation names each field that is wrong. Nothing becomes a 500 except a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from re import Pattern
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from carbonledger import errors

__all__ = [
    "API_PREFIX",
    "OPENTAPS_PREFIX",
    "STATUS",
    "allowed_methods",
    "api_routes",
    "declared_query",
    "install_handlers",
    "json_response",
    "problem",
    "problem_for",
]

API_PREFIX = "/api/v1"
OPENTAPS_PREFIX = "/api/v1/utilityemissionchannel/"

STATUS: list[tuple[type[errors.CarbonLedgerError], int, str]] = [
    (errors.PermissionDenied, 403, "permission-denied"),
    (errors.SignatureInvalid, 401, "signature-invalid"),
    (errors.NotFound, 404, "not-found"),
    (errors.Conflict, 409, "conflict"),
    (errors.IntegrityError, 409, "integrity"),
    (errors.InvalidInput, 422, "invalid-input"),
    (errors.ConfigurationError, 503, "configuration"),
]


def json_response(
    body: Any,
    *,
    status_code: int = 200,
    media_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Response:
    """``body`` encoded once by orjson (no validation against a model, no second pass)."""
    return Response(
        orjson.dumps(body), status_code=status_code, media_type=media_type, headers=headers
    )


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {
        "type": f"https://carbonledger.org/problems/{title}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return json_response(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def problem_for(exc: errors.CarbonLedgerError, path: str) -> Response:
    """The answer to ``exc`` raised by the operation at ``path``."""
    for kind, status, title in STATUS:
        if isinstance(exc, kind):
            extra: dict[str, Any] = {}
            if isinstance(exc, errors.RowError):
                extra = {"line": exc.line, "field": exc.field}
            if status == 422 and path.startswith(OPENTAPS_PREFIX):
                # opentaps SEAS's status for invalid input
                return problem(412, "precondition-failed", str(exc), **extra)
            return problem(status, title, str(exc), **extra)
    return problem(400, "error", str(exc))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.CarbonLedgerError)
    async def ledger_error(request: Request, exc: errors.CarbonLedgerError) -> Response:
        return problem_for(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        fields = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")),
                "reason": e["msg"],
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
        if request.url.path.startswith(OPENTAPS_PREFIX):
            # opentaps SEAS expects 412 for a missing or invalid field, as the original did.
            return problem(412, "precondition-failed", detail, errors=fields)
        return problem(422, "invalid-input", detail, errors=fields)

    app.add_middleware(_OneValuePerParameter, api=app)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Keeps the exception's headers: a 405 names the allowed methods in Allow.
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            # Allow names the methods of every route of the path, not only the one tried.
            headers = {**(headers or {}), "Allow": allowed_methods(app, request.url.path)}
        return problem(exc.status_code, "http", str(exc.detail), headers=headers)


class _OneValuePerParameter:
    """Every query parameter of the API takes one value, and only those an operation
    declares are read: a repeated or unknown one is refused, not silently ignored.

    A plain ASGI middleware (not ``@app.middleware``, which wraps every response in
    a stream and a task), with each operation's parameters collected once.
    """

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app, self.api = app, api
        self._table: list[tuple[set[str], Pattern[str], set[str]]] | None = None

    def _declared(self, method: str, path: str) -> set[str] | None:
        if self._table is None:  # routes are all added before the first request
            self._table = [
                (route.methods or set(), route.path_regex, _query_names(route))
                for route in api_routes(self.api.routes)
            ]
        for methods, regex, names in self._table:
            if method in methods and regex.match(path):
                return names
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query and str(scope["path"]).startswith(API_PREFIX):
            keys = [k for k, _v in parse_qsl(query.decode("latin-1"), keep_blank_values=True)]
            repeated = sorted({k for k in keys if keys.count(k) > 1})
            refusal = None
            if repeated:
                refusal = f"{', '.join(repeated)}: give each query parameter once"
            else:
                known = self._declared(str(scope["method"]), str(scope["path"]))
                unknown = sorted(set(keys) - known) if known is not None else []
                if unknown:
                    refusal = f"unknown query parameter {', '.join(repr(k) for k in unknown)}"
            if refusal is not None:
                await problem(422, "invalid-input", refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _query_names(route: APIRoute) -> set[str]:
    names: set[str] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        names |= {p.alias for p in dependant.query_params}
        stack.extend(dependant.dependencies)
    return names


def api_routes(routes: Sequence[Any]) -> list[APIRoute]:
    """Every APIRoute of ``routes``, inside included routers too."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None)  # an included router
        if inner is not None:
            found.extend(api_routes(inner.routes))
    return found


def declared_query(app: FastAPI, method: str, path: str) -> set[str] | None:
    """The query parameters the operation at ``method path`` declares (None: no operation)."""
    for route in api_routes(app.routes):
        if method in (route.methods or ()) and route.path_regex.match(path):
            return _query_names(route)
    return None


def allowed_methods(app: FastAPI, path: str) -> str:
    """The methods ``path`` answers to, over all of ``app``'s routes (for ``Allow``)."""
    methods: set[str] = set()
    for route in api_routes(app.routes):
        if route.path_regex.match(path):
            methods |= route.methods or set()
    return ", ".join(sorted(methods))
