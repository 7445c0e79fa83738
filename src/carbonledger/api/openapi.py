"""The API's contract: its OpenAPI document, its documentation page and its index.

The document FastAPI derives from the routes is completed with what a client
needs to rely on it: the bearer security scheme (and opentaps' token header) on
every operation that needs a caller, and every error an operation answers, as
``application/problem+json`` (RFC 9457). Swagger UI's assets are served from the
``swagger_ui_bundle`` package, so ``/docs`` works offline.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from carbonledger import __version__
from carbonledger.api import deps
from carbonledger.api.problems import API_PREFIX, OPENTAPS_PREFIX, api_routes

__all__ = ["DOCS_ASSETS", "install_docs", "openapi_document"]

DOCS_ASSETS = "/docs/assets"
PROBLEM = "application/problem+json"

# What each status means in this API (the problem "title" names the kind).
_STATUS_TEXT = {
    "400": "Bad request (an error with no more specific status)",
    "401": "No valid credentials: sign in (POST /api/v1/auth/challenge, /auth/login)"
    " or send a service account's API token",
    "403": "The caller's roles or channel access do not allow it",
    "404": "No such record, site, organisation, token, channel or factor edition",
    "409": "The ledger's state does not allow it (already recorded, overlapping period)",
    "412": "opentaps: a missing or invalid form field (opentaps SEAS's own status)",
    "422": "Invalid input: each field that is wrong is named",
    "501": "Not available in this build",
}
_EVERY = ("400", "403", "404", "409", "422")
# Routes that read their credentials from the request themselves (not via deps.actor).
_SELF_AUTHENTICATED = {"record_audited_emissions_token", "enroll_user"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "line": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}


def _needs_caller(dependant: Dependant) -> bool:
    return dependant.call is deps.actor or any(_needs_caller(d) for d in dependant.dependencies)


def _problem(status: str) -> dict[str, Any]:
    return {
        "description": _STATUS_TEXT[status],
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app``, built once and cached on it."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A session token from POST /api/v1/auth/login, or a service"
            " account's API token (clk_...).",
        },
        "opentapsToken": {
            "type": "apiKey",
            "in": "header",
            "name": "vault_token",
            "description": "opentaps SEAS: the service account's API token"
            " (web_socket_key works too).",
        },
    }
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        path = doc["paths"].get(route.path_format, {})
        secured = _needs_caller(route.dependant) or route.name in _SELF_AUTHENTICATED
        opentaps = route.path_format.startswith(OPENTAPS_PREFIX)
        for method in route.methods or ():
            op = path.get(method.lower())
            if op is None:
                continue
            statuses = [*_EVERY, *(["401"] if secured else []), *(["412"] if opentaps else [])]
            if route.name == "record_audited_emissions_token":
                statuses.append("501")
            responses = op.setdefault("responses", {})
            for status in statuses:
                responses[status] = _problem(status)
            if secured:
                op["security"] = [{"bearer": []}, *([{"opentapsToken": []}] if opentaps else [])]
    app.openapi_schema = doc
    return doc


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI from the package), ``/api/v1`` (an index) and the document."""
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.add_api_route("/docs", docs, include_in_schema=False, methods=["GET"])

    def index() -> dict[str, Any]:
        """What this API offers: its document, its documentation and its resources."""
        paths = sorted(
            {
                r.path_format
                for r in api_routes(app.routes)
                if r.include_in_schema and r.path_format != API_PREFIX
            }
        )
        return {
            "name": app.title,
            "version": __version__,
            "openapi": "/openapi.json",
            "docs": "/docs",
            "errors": PROBLEM,
            "paths": paths,
        }

    app.add_api_route(API_PREFIX, index, methods=["GET"], tags=["index"], name="api_index")
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
