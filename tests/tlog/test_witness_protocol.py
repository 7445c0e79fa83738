"""The C2SP tlog-witness add-checkpoint endpoint answers exactly as the spec says.

c2sp.org/tlog-witness: 404 unknown origin, 403 no (or a bad) trusted signature, 400 a
malformed request or old size above the checkpoint's, 409 with ``text/x.tlog.size``
when the old size is not the witness's, 422 a proof that fails, a different root at
the same size, or a size-0 checkpoint that is not the empty tree; 200 with a
cosignature that verifies.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.api.witness import create_witness_app
from carbonledger.core.checkpoint import log_key, signed_checkpoint_note
from carbonledger.core.domain import Organisation
from carbonledger.core.merkle import EMPTY_ROOT
from carbonledger.core.note import (
    COSIGNATURE_TYPE,
    Note,
    NoteKey,
    checkpoint_text,
    parse_checkpoint,
    parse_note,
    verify_cosignature,
)
from carbonledger.core.witness import SIZE_CONTENT_TYPE, add_checkpoint, request
from carbonledger.crypto.keys import PrivateKey
from carbonledger.services.home import Home
from carbonledger.services.registry import register_orgs
from carbonledger.services.witness import WitnessStore

PASS = "witness-test-passphrase"


@dataclass
class Setup:
    client: TestClient
    ledger: SqliteLedger
    admin: PrivateKey
    witness: NoteKey
    old: int  # the size the witness holds


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    home = Home(tmp_path / "home")
    admin = home.init(PASS, scrypt_n=2**10)
    store = WitnessStore(tmp_path / "w")
    store.init("witness.test/w1", PASS)
    entry = store.add(str(home.path))
    witness = store.key(PASS)
    ledger = home.ledger(admin)
    register_orgs(ledger, ledger.channels, admin, [Organisation("acme", "Acme")])
    client = TestClient(create_witness_app(store, witness))
    yield Setup(client, ledger, admin, witness, int(entry["size"]))
    client.close()
    ledger.close()


def _post(s: Setup, body: str) -> tuple[int, str, str]:
    res = s.client.post("/add-checkpoint", content=body.encode())
    return res.status_code, res.headers.get("content-type", ""), res.text


def _grown(s: Setup) -> tuple[str, list[bytes], int]:
    note = s.ledger.latest_note()
    size = parse_checkpoint(parse_note(note).text).size
    return note, s.ledger.consistency(s.old, size), size


def test_a_consistent_checkpoint_is_cosigned_then_old_sizes_conflict(setup: Setup) -> None:
    s = setup
    note, proof, size = _grown(s)
    status, _, body = _post(s, request(s.old, proof, note))
    assert status == 200, body
    cosigned = parse_note(note + body)
    found = verify_cosignature(cosigned, s.witness.verifier)
    assert found is not None
    assert found.timestamp > 1_700_000_000
    # the witness now holds the new size: the old one conflicts, and it says which
    status, ctype, body = _post(s, request(s.old, proof, note))
    assert (status, ctype.split(";")[0], body) == (409, SIZE_CONTENT_TYPE, f"{size}\n")
    # the same checkpoint again, from its own size, is cosigned again
    assert _post(s, request(size, [], note))[0] == 200


def test_unknown_origin_is_404(setup: Setup) -> None:
    s = setup
    stranger = NoteKey.from_seed("other.example/log", bytes(32))
    note = Note(checkpoint_text("other.example/log", 0, EMPTY_ROOT), ()).sign(stranger)
    assert _post(s, request(0, [], note.encode()))[0] == 404


def test_signatures_that_do_not_hold_are_403(setup: Setup) -> None:
    s = setup
    note, proof, _ = _grown(s)
    parsed = parse_note(note)
    # signed only by an unknown key under the log's name
    impostor = NoteKey.from_seed(parsed.signatures[0][0], bytes(32))
    unsigned = Note(parsed.text, ()).sign(impostor)
    assert _post(s, request(s.old, proof, unsigned.encode()))[0] == 403
    # the log's name and key id, but a signature over other bytes
    name, key_id, sig = parsed.signatures[0]
    bad = Note(parsed.text, ((name, key_id, bytes([sig[0] ^ 1]) + sig[1:]),))
    assert _post(s, request(s.old, proof, bad.encode()))[0] == 403


@pytest.mark.parametrize(
    "mangle",
    [
        lambda old, proof, note: f"old {old}\n{note}",  # no blank line
        lambda old, proof, note: f"old 0{old}\n\n{note}" if old else f"old -1\n\n{note}",
        lambda old, proof, note: f"old {old}\nnot-base64!\n\n{note}",
        lambda old, proof, note: request(old, [bytes(32)] * 64, note),  # > 63 lines
        lambda old, proof, note: request(old, [b"short"], note),
        lambda old, proof, note: request(10**6, proof, note),  # old above the size
    ],
)
def test_malformed_requests_are_400(setup: Setup, mangle) -> None:  # type: ignore[no-untyped-def]
    s = setup
    note, proof, _ = _grown(s)
    assert _post(s, mangle(s.old, proof, note))[0] == 400


def test_a_proof_that_fails_or_a_fork_at_the_same_size_is_422(setup: Setup) -> None:
    s = setup
    note, proof, size = _grown(s)
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    assert _post(s, request(s.old, flipped, note))[0] == 422
    assert _post(s, request(s.old, proof[:-1], note))[0] == 422
    # the operator signs another root at the witness's size with the log's own key
    key = log_key(s.admin, s.ledger.state().ledger_id)
    fork = signed_checkpoint_note(key, s.old, bytes(32))
    assert _post(s, request(s.old, [], fork))[0] == 422
    # the honest checkpoint is still accepted afterwards
    assert _post(s, request(s.old, proof, note))[0] == 200
    assert size > s.old


def test_from_size_zero_no_proof_and_the_empty_root() -> None:
    log = NoteKey.from_seed("log.example/a", bytes([7]) * 32)
    witness = NoteKey.from_seed("w.example/1", bytes([8]) * 32, COSIGNATURE_TYPE)
    logs = {log.name: log.verifier}
    empty = Note(checkpoint_text(log.name, 0, EMPTY_ROOT), ()).sign(log).encode()
    not_empty = Note(checkpoint_text(log.name, 0, bytes(32)), ()).sign(log).encode()
    one = Note(checkpoint_text(log.name, 1, bytes(32)), ()).sign(log).encode()
    assert add_checkpoint(request(0, [], empty), logs, {}, witness, 1).status == 200
    assert add_checkpoint(request(0, [], not_empty), logs, {}, witness, 1).status == 422
    assert add_checkpoint(request(0, [bytes(32)], one), logs, {}, witness, 1).status == 422
    ok = add_checkpoint(request(0, [], one), logs, {}, witness, 1)
    assert ok.status == 200
    line = ok.body.split(" ")[2]
    assert int.from_bytes(base64.b64decode(line)[4:12], "big") == 1
