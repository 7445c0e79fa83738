"""Answers as a client reads them off the socket of ``carbonledger serve``.

These tests read the raw bytes of one keep-alive connection and check that every
answer arrives whole and framed as HTTP/1.1 says: a large page, an error, a HEAD
answer (a head and no body), a web page, requests sent back to back before any
answer (pipelining), a client that waits for ``100 Continue``, and
``Connection: close``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api_helpers import hq_bill, served, sign_in_over_http
from tests.process_helpers import serving

#: Bills posted in one request: their page (``limit=1000``) is several hundred KB.
N_BILLS = 400


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    api = served(tmp_path_factory.mktemp("wire") / "home")
    alice = api.users["alice"]
    api.ctx.ledger.close()  # the server process opens the ledger itself
    with serving(api.home.path) as url:
        auth = sign_in_over_http(url, alice)
        bills = [hq_bill(f"wire-{i}") for i in range(N_BILLS)]
        res = httpx.post(f"{url}/api/v1/bills", json=bills, headers=auth, timeout=300)
        assert res.status_code == 201, res.text
        yield url, auth


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=60)


def _request(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: test"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Reader:
    """Responses parsed off a socket, one after another, by their own framing only."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def response(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        status = int(self._line().split(b" ")[1])
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            assert name.lower() not in headers, f"header {name} twice"
            headers[name.lower()] = value.strip()
        if head_only or status in (100, 204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._line(), 16):
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            assert self._line() == b""
            return status, headers, body
        return status, headers, self._take(int(headers["content-length"]))

    def closed(self) -> bool:
        """Nothing more was sent and the server closed the connection."""
        return self.buf == b"" and self.sock.recv(1) == b""


def _json(status: int, headers: dict[str, str], body: bytes) -> Any:
    assert headers["content-length"] == str(len(body)), (status, headers)
    return json.loads(body)


def test_one_connection_carries_pages_errors_and_heads_intact(
    server: tuple[str, dict[str, str]],
) -> None:
    url, auth = server
    with _connect(url) as sock:
        read = _Reader(sock)
        for _ in range(2):  # the same connection, kept alive, twice over
            sock.sendall(_request("GET", "/api/v1/records?site=hq&limit=1000", auth))
            status, headers, body = read.response()
            assert status == 200
            assert len(body) > 256 * 1024  # a large body, written after its head
            page = _json(status, headers, body)
            assert len(page["items"]) == N_BILLS
            assert {item["account"] for item in page["items"]} == {
                f"wire-{i}" for i in range(N_BILLS)
            }

            sock.sendall(_request("GET", "/api/v1/records?site=hq&limit=2", auth))
            status, headers, body = read.response()
            assert status == 200
            assert len(_json(status, headers, body)["items"]) == 2

            sock.sendall(_request("GET", "/api/v1/records?limit=0", auth))
            status, headers, body = read.response()
            assert status == 422
            assert headers["content-type"].startswith("application/problem+json")
            assert "limit" in json.dumps(_json(status, headers, body))

            sock.sendall(_request("GET", "/api/v1/records", {}))  # no credentials
            status, headers, body = read.response()
            assert status == 401
            assert _json(status, headers, body)["status"] == 401

            sock.sendall(_request("HEAD", "/api/v1/status", {}))
            status, headers, body = read.response(head_only=True)
            assert status in (200, 405)
            assert body == b""

            sock.sendall(_request("GET", "/no/such/page", {}))
            status, headers, body = read.response()
            assert status == 404
            assert headers["content-length"] == str(len(body))

            sock.sendall(_request("GET", "/signin", {}))
            status, headers, body = read.response()
            assert status == 200
            assert headers["content-type"].startswith("text/html")
            assert body.rstrip().endswith(b"</html>")


def test_pipelined_requests_are_answered_in_order_then_the_connection_closes(
    server: tuple[str, dict[str, str]],
) -> None:
    url, auth = server
    with _connect(url) as sock:
        sock.sendall(
            _request("GET", "/api/v1/records?site=hq&limit=3", auth)
            + _request("GET", "/api/v1/records?limit=0", auth)
            + _request("HEAD", "/api/v1/status", {})
            + _request("GET", "/api/v1/records?site=hq&limit=1&offset=5", auth)
            + _request("GET", "/api/v1/status", {"Connection": "close"})
        )
        read = _Reader(sock)
        status, headers, body = read.response()
        assert status == 200
        assert len(_json(status, headers, body)["items"]) == 3
        status, headers, body = read.response()
        assert status == 422
        assert _json(status, headers, body)["status"] == 422
        status, _, body = read.response(head_only=True)
        assert body == b""
        status, headers, body = read.response()
        assert status == 200
        assert len(_json(status, headers, body)["items"]) == 1
        status, headers, body = read.response()
        assert status == 200
        assert headers.get("connection") == "close"
        assert _json(status, headers, body)["sites"] == 2  # hq and plant
        assert read.closed()


def test_a_client_waiting_for_100_continue_gets_it_then_its_answer(
    server: tuple[str, dict[str, str]],
) -> None:
    url, auth = server
    bill = json.dumps([hq_bill("wire-continue")]).encode()
    head = _request(
        "POST",
        "/api/v1/bills",
        {**auth, "Content-Type": "application/json", "Expect": "100-continue",
         "Content-Length": str(len(bill))},
    )  # fmt: skip
    with _connect(url) as sock:
        sock.sendall(head)  # the body is sent only once the server says to go on
        read = _Reader(sock)
        status, _, _ = read.response()
        assert status == 100
        sock.sendall(bill)
        status, headers, body = read.response()
        assert status == 201, body
        assert _json(status, headers, body)["recorded"] == 1
