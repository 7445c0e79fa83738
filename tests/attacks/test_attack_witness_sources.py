"""A log that lies to its witness: ``witness add`` and ``witness check`` against an HTTP
log serving garbage (not JSON, the wrong shapes, a note signed by another key, a
consistency proof that is not hex or does not hold). Each is one line on stderr, exit
2 for ``add`` and exit 1 (or 2) for ``check``; nothing is remembered from a lie."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from carbonledger.services.witness import open_source
from tests.cli_helpers import Run, _ok


class Liar:
    """An HTTP log whose answers the test sets: {path prefix: (status, body bytes)}."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, bytes]] = {}
        liar = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                for prefix, (status, body) in liar.answers.items():
                    if self.path.startswith(prefix):
                        self.send_response(status)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def liar() -> Iterator[Liar]:
    log = Liar()
    yield log
    log.server.shutdown()
    log.server.server_close()


def _real_log(cli: Run, tmp_path: Path, name: str = "a") -> tuple[Path, dict[str, Any]]:
    home = tmp_path / name
    _ok(cli("init", "--home", str(home)))
    _ok(cli("org", "add", "acme", "--name", "Acme", "--home", str(home)))
    return home, open_source(str(home)).info()


def _lies(info: dict[str, Any], other: dict[str, Any]) -> dict[str, bytes]:
    return {
        "not JSON": b"<html>hello</html>",
        "not UTF-8": b"\xff\xfe\xfd",
        "a JSON list": b"[1, 2, 3]",
        "no checkpoint": json.dumps({"origin": info["origin"], "vkey": info["vkey"]}).encode(),
        "checkpoint not a note": json.dumps({**info, "checkpoint": "hello"}).encode(),
        "checkpoint a number": json.dumps({**info, "checkpoint": 5}).encode(),
        "another log's note under this key": json.dumps(
            {**info, "checkpoint": other["checkpoint"]}
        ).encode(),
        "50 MB": b'{"origin": "' + b"x" * 50_000_000 + b'"}',
    }


LIES = [
    "not JSON",
    "not UTF-8",
    "a JSON list",
    "no checkpoint",
    "checkpoint not a note",
    "checkpoint a number",
    "another log's note under this key",
    "50 MB",
]


@pytest.mark.parametrize("lie", LIES)
def test_witness_add_of_a_lying_log_is_one_line(
    cli: Run, tmp_path: Path, liar: Liar, lie: str
) -> None:
    _, info = _real_log(cli, tmp_path, "a")
    _, other = _real_log(cli, tmp_path, "b")
    liar.answers["/api/v1/log"] = (200, _lies(info, other)[lie])
    res = _ok(
        cli("witness", "add", liar.url, "--vkey", info["vkey"], "--dir", str(tmp_path / "w")), 2
    )
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    # nothing is remembered from the lie: a check has no log to check
    check = cli("witness", "check", "--dir", str(tmp_path / "w"))
    _ok(check, check.exit_code)
    assert liar.url not in check.stdout


@pytest.mark.parametrize(
    "proof",
    [b"not json", b'{"proof": ["zz"]}', b'{"proof": 5}', b'{"nothing": []}',
     b'{"proof": ["' + b"00" * 32 + b'"]}'],
)  # fmt: skip
def test_witness_check_against_a_log_with_a_lying_consistency_proof_fails(
    cli: Run, tmp_path: Path, liar: Liar, proof: bytes
) -> None:
    home, info = _real_log(cli, tmp_path, "a")
    liar.answers["/api/v1/log"] = (200, json.dumps(info).encode())
    _ok(cli("witness", "add", liar.url, "--dir", str(tmp_path / "w")))
    # the log grows honestly, but answers the consistency proof with a lie
    _ok(cli("org", "add", "late", "--name", "Late", "--home", str(home)))
    liar.answers["/api/v1/log"] = (200, json.dumps(open_source(str(home)).info()).encode())
    liar.answers["/api/v1/consistency"] = (200, proof)
    res = cli("witness", "check", "--dir", str(tmp_path / "w"))
    _ok(res, res.exit_code)
    assert res.exit_code in (1, 2), res.stdout
    assert "OK" not in res.stdout
