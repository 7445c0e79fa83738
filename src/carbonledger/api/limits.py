"""A bound on request bodies, checked before and while they are read.

Without it a server reads any body into memory before deciding it is too large
(a 20 MB JSON body, a 50 MB witness note). :class:`BodyLimit` refuses a body
whose ``Content-Length`` is over the limit before reading a byte, and stops one
sent without a length (chunked) as soon as it passes the limit, answering 413.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbonledger.api.problems import problem

__all__ = ["API_MAX_BODY", "BodyLimit"]

#: Large enough for a bills CSV of about a million rows; anything larger goes
#: through ``carbonledger bills import`` on the server, which streams the file.
API_MAX_BODY = 64 * 1024 * 1024


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: request bodies over ``max_bytes`` get 413, read no further."""

    def __init__(self, app: ASGIApp, max_bytes: int = API_MAX_BODY) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body over {self.max_bytes:,} bytes"
        await problem(413, "payload-too-large", detail)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
        seen = 0
        over = False  # the body passed the limit: whatever the application answers, 413
        refused = started = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            # Frameworks may turn the read's failure into their own answer (FastAPI: 400
            # "error parsing the body"); the answer to a body over the limit is 413.
            nonlocal refused, started
            if not over or started:  # an answer begun before the limit is left to finish
                started = started or message["type"] == "http.response.start"
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(scope, receive, send)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            if not refused:
                await self._refuse(scope, receive, send)
