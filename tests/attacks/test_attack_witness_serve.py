"""Attacks on a running ``carbonledger witness serve``: malformed, oversized and forged
add-checkpoint requests. Each must be a 4xx of the tlog-witness protocol (never a
500), and the witness must keep its state: it still cosigns the genuine next
checkpoint of the ledger afterwards."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from carbonledger.core.note import Verifier, parse_checkpoint, parse_note
from carbonledger.services.home import Home
from tests.cli_helpers import Run, _ok
from tests.tlog.test_witness import _cosigned_by, _home, witness  # noqa: F401  (fixture)

Mangle = Callable[[int, str], bytes]


def _sig_line(note: str) -> str:
    return next(line for line in note.splitlines() if line.startswith("— "))


def _text(note: str) -> str:
    return note.split("\n\n", 1)[0] + "\n"


MANGLES: dict[str, Mangle] = {
    "empty body": lambda old, note: b"",
    "only blank lines": lambda old, note: b"\n\n\n",
    "not UTF-8": lambda old, note: f"old {old}\n\n".encode() + b"\xff\xfe" + note.encode(),
    "NUL in the note": lambda old, note: f"old {old}\n\n{note}".replace("\n", "\x00\n", 1).encode(),
    "50 MB note": lambda old, note: f"old {old}\n\n".encode() + note.encode() + b"x" * 50_000_000,
    "size beyond 64 bits": lambda old, note: (
        f"old {old}\n\n" + note.replace(f"\n{_size(note)}\n", f"\n{2**70}\n", 1)
    ).encode(),
    "size with a plus sign": lambda old, note: (
        f"old {old}\n\n" + note.replace(f"\n{_size(note)}\n", f"\n+{_size(note)}\n", 1)
    ).encode(),
    "old size beyond 64 bits": lambda old, note: f"old {2**70}\n\n{note}".encode(),
    "signature not base64": lambda old, note: (
        f"old {old}\n\n" + note.replace(_sig_line(note), _sig_line(note)[:-4] + "!!!!")
    ).encode(),
    "10000 signature lines": lambda old, note: (
        f"old {old}\n\n" + _text(note) + "\n" + (_sig_line(note) + "\n") * 10_000
    ).encode(),
    "no signature": lambda old, note: f"old {old}\n\n{_text(note)}\n".encode(),
    "root not base64": lambda old, note: (
        f"old {old}\n\n" + note.replace(_root(note), "not base64 at all", 1)
    ).encode(),
    "CRLF line ends": lambda old, note: f"old {old}\r\n\r\n{note}".replace("\n", "\r\n").encode(),
}


def _size(note: str) -> int:
    return parse_checkpoint(parse_note(note).text).size


def _root(note: str) -> str:
    return note.splitlines()[2]


@pytest.mark.parametrize("name", list(MANGLES))
def test_a_malformed_add_checkpoint_is_a_4xx_and_the_witness_keeps_working(
    cli: Run,
    tmp_path: Path,
    witness: tuple[str, Path, Verifier],  # noqa: F811  (the fixture)
    name: str,
) -> None:
    url, directory, vkey = witness
    home = _home(cli, tmp_path / "a")
    _ok(cli("witness", "add", str(home), "--dir", str(directory)))
    _ok(cli("org", "add", "x", "--name", "X", "--home", str(home)))
    ledger = Home(home).ledger()
    try:
        note = ledger.latest_note()
    finally:
        ledger.close()
    old = 3  # genesis + two organisations, witnessed at `add`
    body = MANGLES[name](old, note)
    res = httpx.post(f"{url}/add-checkpoint", content=body, timeout=120)
    assert res.status_code in (400, 403, 409, 413, 422), (res.status_code, res.text[:300])
    assert "Traceback" not in res.text
    # the genuine checkpoint is still cosigned: nothing malformed moved the witness
    _ok(cli("witness", "submit", url, "--home", str(home)))
    assert _cosigned_by(home, vkey)
    assert base64.b64decode(_root(note))  # the note we mangled was a real one
