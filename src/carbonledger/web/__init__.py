"""The web UI: server-rendered pages over the same services as the REST API.

Jinja2 templates, one local stylesheet and one small script (the in-browser
proof check); charts are inline SVG drawn on the server. Nothing is loaded
from another site. :func:`install` adds the pages and ``/static`` to the API's
application (``carbonledger.api.create_app`` calls it).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["install"]

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the web pages and their static files to ``app``."""
    from carbonledger.web import routes_actions, routes_auth, routes_pages, routes_tokens

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (routes_auth, routes_pages, routes_actions, routes_tokens):
        app.include_router(module.router)
