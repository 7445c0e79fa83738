"""Attacks on channel access at read time: expired grants, revoked users, removed members.

Each attack is made the way an outsider would: through the API, with a signed
transaction sent straight to the ledger, or with the attacker's own key against
the raw SQLite file (every wrapped key of every epoch, every sealed blob).
"""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carbonledger.crypto.ecies import unwrap
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.sealed import open_sealed
from carbonledger.errors import CarbonLedgerError, Conflict, NotFound, PermissionDenied
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.channels import grant, revoke, rotate, submit_one, wrap_context
from carbonledger.services.identity import revoke_user
from carbonledger.services.records import RecordReader
from tests.api_helpers import PASS as API_PASS
from tests.api_helpers import served
from tests.identity.test_identity import PASS, World

V1 = "/api/v1"
READ = [{"kind": "channel_read", "channel": "acme"}]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "home")


def _soon(seconds: float) -> str:
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    return until.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wait_past(until: str) -> None:
    """Sleep until ledger time has passed ``until`` (a grant's end)."""
    end = datetime.fromisoformat(until.replace("Z", "+00:00"))
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.2)


def _records(world: World) -> list[dict[str, Any]]:
    return [s.item for s in world.ledger.items(ItemQuery(kind="emissions_record"))]


def _reads(ledger: Any) -> list[dict[str, Any]]:
    return [s.item for s in ledger.items(ItemQuery(kind="channel_read"))]


def _raw_opens(home: Path, ledger_id: str, attacker: PrivateKey, blob_id: str) -> list[int]:
    """Epochs under which ``attacker`` opens blob ``blob_id`` from the raw file alone.

    Every wrapped key stored for any member and epoch is tried with the attacker's
    private key under every epoch's context; every key that unwraps is tried on
    the blob under every epoch's associated data.
    """
    conn = sqlite3.connect(f"file:{home / 'ledger.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT channel, epoch, wrapped FROM channel_key").fetchall()
        (channel, data) = conn.execute(
            "SELECT channel, data FROM blob WHERE id = ?", (blob_id,)
        ).fetchone()
    finally:
        conn.close()
    epochs = range(max(int(r[1]) for r in rows) + 2)
    keys = []
    for chan, _, wrapped in rows:
        for e in epochs:
            try:
                context = wrap_context(ledger_id, chan, e)
                keys.append(unwrap(attacker, bytes(wrapped), context=context))
            except CarbonLedgerError:
                continue
    opened = []
    for key in keys:
        for e in epochs:
            try:
                open_sealed(key, bytes(data), aad=wrap_context(ledger_id, channel, e))
            except CarbonLedgerError:
                continue
            opened.append(e)
    return opened


def _raw_attack(
    world: World, attacker: PrivateKey, *records: dict[str, Any]
) -> tuple[list[int], ...]:
    """For each record, the epochs under which ``attacker`` opens its sealed blob raw."""
    world.ledger.close()
    ledger_id = str(world.home.config()["ledger_id"])
    return tuple(
        _raw_opens(world.home.path, ledger_id, attacker, r["detail"]["blob"]) for r in records
    )


# -- expired auditor --------------------------------------------------------------
def test_expired_auditor_is_refused_by_the_core_and_by_every_reader(world: World) -> None:
    world.bills(world.admin, "acme-hq", range(1, 2))
    dana = world.user("audits", "dana", ["auditor"])
    until = _soon(6)
    grant(world.ledger, world.store, world.admin, "acme", dana.address, role="auditor",
          until=until)  # fmt: skip
    (before,) = _records(world)
    reader = RecordReader.for_member(world.ledger, world.store, dana)
    assert reader.detail(before)["amount"] == "987654.321"
    assert len(_reads(world.ledger)) == 1  # the read was recorded before decryption
    _wait_past(until)
    world.bills(world.admin, "acme-hq", range(2, 3))  # billed after the grant ended
    after = _records(world)[1]
    for record in (before, after):
        with pytest.raises(PermissionDenied, match="ended at"):
            RecordReader.for_member(world.ledger, world.store, dana).detail(record)
    # The same read signed and sent straight to the ledger: the core refuses it.
    with pytest.raises(PermissionDenied, match="ended at"):
        submit_one(world.ledger, dana, "channel_read", READ)
    assert len(_reads(world.ledger)) == 1  # refused reads leave no entry
    assert world.ledger.verify().ok


def test_rotation_shuts_an_expired_auditor_out_of_what_is_sealed_after(world: World) -> None:
    dana = world.user("audits", "dana", ["auditor"])
    until = _soon(3)
    grant(world.ledger, world.store, world.admin, "acme", dana.address, role="auditor",
          until=until)  # fmt: skip
    _wait_past(until)
    rotate(world.ledger, world.store, world.admin, "acme")
    channel = world.ledger.state().channels["acme"]
    assert channel["epoch"] == 1
    assert dana.address not in channel["members"]
    world.bills(world.admin, "acme-hq", range(1, 2))
    (record,) = _records(world)
    assert _raw_attack(world, dana, record) == ([],)
    assert _raw_attack(world, world.admin, record) == ([1],)


def test_expired_auditor_through_the_api(tmp_path: Path) -> None:
    api = served(tmp_path / "home")
    dana = api.users["dana"]
    admin = api.sign_in(api.admin, API_PASS)
    until = _soon(10)
    access = {"member": dana.address, "role": "auditor", "until": until}
    res = api.client.post(f"{V1}/channels/acme/grants", headers=admin, json=access)
    assert res.status_code == 201, res.text
    bill = {"site": "hq", "account": "E1", "start": "2023-01-01", "end": "2023-01-31",
            "amount": "1000", "unit": "kWh"}  # fmt: skip
    alice = api.sign_in(api.users["alice"], API_PASS)
    assert api.client.post(f"{V1}/bills", headers=alice, json=[bill]).status_code == 201
    (first,) = api.client.get(f"{V1}/records", headers=alice).json()["items"]
    theirs = api.sign_in(dana, API_PASS)
    read = api.client.get(f"{V1}/records/{first['id']}", headers=theirs).json()
    assert read["billed"]["amount"] == "1000", read
    assert len(_reads(api.ctx.ledger)) == 1
    web = _web_sign_in(api.client.app, "audits/dana")
    page = web.get(f"/records/{first['id']}")
    assert page.status_code == 200
    assert "sealed" not in page.text
    assert len(_reads(api.ctx.ledger)) == 2  # the web page's read, recorded too
    _wait_past(until)
    later = {**bill, "start": "2023-02-01", "end": "2023-02-28", "amount": "2000"}
    assert api.client.post(f"{V1}/bills", headers=alice, json=[later]).status_code == 201
    records = api.client.get(f"{V1}/records", headers=alice).json()["items"]
    assert len(records) == 2
    for record in records:
        out = api.client.get(f"{V1}/records/{record['id']}", headers=theirs).json()
        assert "billed" not in out
        assert "inputs" not in out.get("trace", {})
        assert "ended at" in out["sealed"]
        page = web.get(f"/records/{record['id']}")
        assert "ended at" in page.text
        assert "2000" not in page.text
    assert len(_reads(api.ctx.ledger)) == 2


def _web_sign_in(app: Any, who: str) -> TestClient:
    """A browser session signed in with a keystore the server keeps."""
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([0-9a-f]*)"', client.get("/signin").text)
    assert token is not None
    form = {"who": who, "passphrase": API_PASS, "csrf_token": token.group(1)}
    assert client.post("/signin/keystore", data=form, follow_redirects=False).status_code == 303
    return client


# -- revoked user -----------------------------------------------------------------
def test_revoked_user_cannot_open_bills_recorded_after(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", alice.address, role="member")
    world.bills(alice, "acme-hq", range(1, 2))
    revoke_user(world.ledger, world.admin, world.home.ca, alice.address, reason="left",
                ca_passphrase=PASS)  # fmt: skip
    channel = world.ledger.state().channels["acme"]
    assert channel["epoch"] == 1
    assert alice.address not in channel["members"]
    assert alice.address not in channel["keys"]["1"]
    world.bills(world.admin, "acme-hq", range(2, 3))
    old, new = _records(world)
    assert new["detail"]["epoch"] == 1
    with pytest.raises(PermissionDenied, match="revoked"):
        RecordReader.for_member(world.ledger, world.store, alice).detail(old)
    # Her own key against the raw file: what was sealed while she was a member opens
    # (the harness works), nothing sealed after her revocation does.
    assert _raw_attack(world, alice, old, new) == ([0], [])


def test_removed_member_cannot_open_bills_recorded_after(world: World) -> None:
    bob = world.user("acme", "bob", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", bob.address, role="member")
    world.bills(world.admin, "acme-hq", range(1, 2))
    revoke(world.ledger, world.store, world.admin, "acme", bob.address)
    world.bills(world.admin, "acme-hq", range(2, 3))
    old, new = _records(world)
    with pytest.raises(PermissionDenied, match="not a member"):
        RecordReader.for_member(world.ledger, world.store, bob).detail(new)
    with pytest.raises(PermissionDenied, match="not a member"):
        submit_one(world.ledger, bob, "channel_read", READ)
    assert _raw_attack(world, bob, old, new) == ([0], [])


def test_old_epoch_is_refused_after_a_revocation(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", alice.address, role="member")
    world.bills(world.admin, "acme-hq", range(1, 2))
    (old,) = _records(world)
    revoke_user(world.ledger, world.admin, None, alice.address, reason="left")
    # A record sealed under epoch 0 (which alice can open), signed by a member and
    # sent straight to the ledger, is refused.
    replay = {**old, "id": "replayed-under-epoch-0",
              "period": {"start": "2023-03-01", "end": "2023-03-28"}}  # fmt: skip
    with pytest.raises(Conflict, match="epoch"):
        submit_one(world.ledger, world.admin, "record_emissions", [replay])
    assert world.ledger.verify().ok


def test_revocation_by_another_orgs_admin_leaves_the_channel_keyless_until_rotated(
    world: World,
) -> None:
    # (the network admin registers the audit firm's people before its own admin exists)
    dana = world.user("audits", "dana", ["auditor"])
    carol = world.user("audits", "carol", ["auditor"])
    boss = world.user("audits", "boss", ["org_admin"])
    grant(world.ledger, world.store, world.admin, "acme", dana.address, role="auditor")
    world.bills(world.admin, "acme-hq", range(1, 2))
    (before,) = _records(world)
    # The audit firm's admin revokes its auditor; it may not make acme's new key.
    with pytest.raises(PermissionDenied, match="not an admin of channel 'acme'"):
        submit_one(world.ledger, boss, "revoke_identity", [
            {"kind": "revocation", "address": dana.address, "channels": {"acme": {}}}])  # fmt: skip
    revoke_user(world.ledger, boss, None, dana.address, reason="left the firm")
    channel = world.ledger.state().channels["acme"]
    assert channel["epoch"] == 1
    assert "1" not in channel["keys"]  # keyless: its key is acme's admin's to make
    with pytest.raises(CarbonLedgerError, match="channel rotate acme"):
        world.bills(world.admin, "acme-hq", range(2, 3))
    # Sealed under the keyless epoch (with a key of the writer's own making) and sent
    # straight to the ledger: refused by the core.
    forged = {**before, "id": "sealed-in-a-keyless-epoch",
              "period": {"start": "2023-02-01", "end": "2023-02-28"},
              "detail": {**before["detail"], "epoch": 1}}  # fmt: skip
    with pytest.raises(Conflict, match="not made yet"):
        submit_one(world.ledger, world.admin, "record_emissions", [forged])
    with pytest.raises(Conflict, match="rotate it first"):
        grant(world.ledger, world.store, world.admin, "acme", carol.address, role="auditor")
    rotate(world.ledger, world.store, world.admin, "acme")
    assert world.ledger.state().channels["acme"]["epoch"] == 1
    assert world.bills(world.admin, "acme-hq", range(2, 3)).recorded == 1
    record = _records(world)[1]
    assert record["detail"]["epoch"] == 1
    assert _raw_attack(world, dana, record) == ([],)


def test_revoked_identity_cannot_record_a_read(world: World) -> None:
    dana = world.user("audits", "dana", ["auditor"])
    grant(world.ledger, world.store, world.admin, "acme", dana.address, role="auditor")
    revoke_user(world.ledger, world.admin, None, dana.address, reason="left")
    with pytest.raises(PermissionDenied, match="revoked"):
        submit_one(world.ledger, dana, "channel_read", READ)
    with pytest.raises((PermissionDenied, NotFound)):
        RecordReader.for_member(world.ledger, world.store, dana).detail(
            {"id": "x", "detail": {"channel": "acme", "epoch": 0, "blob": "0" * 64}}
        )
    assert world.ledger.verify().ok
