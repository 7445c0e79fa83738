"""FastAPI dependencies: the context and the caller."""

from __future__ import annotations

from fastapi import Query, Request

from carbonledger.api.auth import Actor, actor_of
from carbonledger.api.context import AppContext

__all__ = ["actor", "context"]


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def actor(request: Request, user_id: str | None = Query(None, alias="userId")) -> Actor:
    return actor_of(context(request), request, user_id=user_id)
