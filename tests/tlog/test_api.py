"""The ledger's transparency-log API, as a CT monitor or a witness would use it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from carbonledger.core.domain import Organisation
from carbonledger.core.merkle import verify_consistency
from carbonledger.core.note import Verifier, parse_checkpoint, parse_note, verify_note
from carbonledger.services.registry import register_orgs
from tests.api_helpers import Served, served


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Served]:
    s = served(tmp_path / "home")
    yield s
    s.client.close()


def _latest(api: Served) -> tuple[int, bytes, str]:
    res = api.client.get("/api/v1/checkpoints/latest")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain")
    vkey = Verifier.from_vkey(api.client.get("/api/v1/log").json()["vkey"])
    note = parse_note(res.text)
    verify_note(note, [vkey])
    cp = parse_checkpoint(note.text)
    assert cp.origin == vkey.name == f"carbonledger/{api.ctx.ledger.state().ledger_id}"
    return cp.size, cp.root, res.text


def test_latest_checkpoint_is_a_signed_note_that_grows_consistently(api: Served) -> None:
    old_size, old_root, _ = _latest(api)
    assert old_size == api.client.get("/api/v1/status").json()["leaves"]
    ledger = api.ctx.ledger
    register_orgs(ledger, ledger.channels, api.admin, [Organisation("late", "Late Ltd")])
    new_size, new_root, _ = _latest(api)
    assert new_size > old_size
    body = api.client.get(f"/api/v1/consistency?first={old_size}&second={new_size}").json()
    proof = [bytes.fromhex(h) for h in body["proof"]]
    assert body["proof_base64"]  # the same hashes, base64 as in C2SP notes
    assert verify_consistency(old_size, new_size, old_root, new_root, proof)
    # the proof does not fit a different old root
    assert not verify_consistency(old_size, new_size, new_root, new_root, proof)


@pytest.mark.parametrize(
    ("query", "status"),
    [("first=5&second=2", 422), ("first=1&second=999999", 404), ("first=-1&second=2", 422)],
)
def test_bad_consistency_requests_are_named(api: Served, query: str, status: int) -> None:
    res = api.client.get(f"/api/v1/consistency?{query}")
    assert res.status_code == status, res.text
    assert "application/problem+json" in res.headers["content-type"]


def test_openapi_documents_the_log_routes(api: Served) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "/api/v1/checkpoints/latest" in paths
    assert {p["name"] for p in paths["/api/v1/consistency"]["get"]["parameters"]} == {
        "first",
        "second",
    }
