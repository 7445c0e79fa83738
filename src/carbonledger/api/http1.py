"""uvicorn's HTTP/1.1 protocol (httptools), a response's head and body in one socket write.

uvicorn writes a response's status line and headers as soon as the application
sends ``http.response.start``, and its body at ``http.response.body``: two
``send`` system calls (two TCP segments) for every answer, 14 % of an opentaps
write's server time and 28 % of a site page's. :class:`OneWriteProtocol` is
uvicorn's own protocol, given to it as its ``http`` class, with one change: the
connection's transport holds back a write for as long as the running step of the
event loop lasts. The body written in the same step (the application sends both
messages without waiting in between, as Starlette's responses do) goes out with it
in one write; whatever is held is written before anything written after it, before
the transport closes, and at the next step of the loop in any case (a ``HEAD``
answer has no body, a streamed one may pause between messages, a ``100 Continue``
waits for nothing). Keep-alive, chunked bodies, errors and flow control stay
uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["OneWriteProtocol"]

#: A body longer than this is written after the head rather than copied behind it.
_JOIN_AT_MOST = 256 * 1024


class _OneWrite(asyncio.Transport):
    """A transport that writes what it is given at most one loop step late, joined with
    whatever else is written in that step."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
            return
        self._held = None
        if len(data) > _JOIN_AT_MOST:  # copying it would cost more than a second write
            self._inner.write(held)
            self._inner.write(data)
        else:
            self._inner.write(held + data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._inner.is_closing():
            self._inner.write(held)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def close(self) -> None:
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        self._held = None
        self._inner.abort()

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + len(self._held or b"")

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._flush()
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses leave in one write (see the module)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # Flow control, addresses and TLS are read from the socket's own transport; the
        # requests' responses are written through the joining one.
        super().connection_made(transport)
        self.transport = _OneWrite(transport, self.loop)
