"""FastAPI dependencies: the context and the caller."""

from __future__ import annotations

from fastapi import Query, Request

from carbonledger.api.auth import Actor, actor_of
from carbonledger.api.context import AppContext

__all__ = ["actor", "context"]


# Both are ``async`` though they never await: FastAPI runs a plain ``def`` dependency in
# its thread pool, a hop between threads per dependency and request, which cost more
# than the lookups themselves (each is a few dictionary reads).


async def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def actor(request: Request, user_id: str | None = Query(None, alias="userId")) -> Actor:
    return actor_of(request.app.state.ctx, request, user_id=user_id)
