"""Build the FastAPI application on an opened ledger home."""

from __future__ import annotations

from fastapi import FastAPI

from carbonledger import __version__
from carbonledger.api import (
    opentaps,
    routes_blobs,
    routes_core,
    routes_log,
    routes_readings,
    routes_records,
)
from carbonledger.api.context import AppContext
from carbonledger.api.fast import FastWrites
from carbonledger.api.limits import BodyLimit
from carbonledger.api.openapi import install_docs
from carbonledger.api.problems import install_handlers
from carbonledger.web import install as install_web

__all__ = ["create_app"]


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        docs_url=None,  # served by install_docs, with Swagger UI from the package
        redoc_url=None,
        title="carbonledger",
        version=__version__,
        description="Utility bills to emissions with real factors and a full trace, on a"
        " tamper-evident ledger. Errors are application/problem+json.",
        # No OpenTelemetry: left on, the framework looks for configured providers at
        # every request (several lookups and an environment read), a tenth of what a
        # bill write costs the server, to report to nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.ctx = ctx
    install_handlers(app)
    install_docs(app)
    app.add_middleware(FastWrites, api=app)  # the bill writes' direct path, inside the limit
    app.add_middleware(BodyLimit)  # outermost: a body over the limit is never read
    app.include_router(routes_core.router)
    app.include_router(routes_records.router)
    app.include_router(routes_log.router)
    app.include_router(routes_readings.router)
    app.include_router(routes_blobs.router)
    app.include_router(opentaps.router)
    install_web(app)
    return app
