"""Streaming audit over the API: readings posted as credentials are checked on arrival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from carbonledger.api import create_app
from carbonledger.api.context import AppContext
from carbonledger.credentials import issue, meter_readings_credential
from carbonledger.crypto.keys import eip191_digest
from tests.identity.test_identity import PASS
from tests.meters.test_digital_auditor import FORGER, METER, Site, month


def test_posted_readings_are_checked_as_they_arrive(tmp_path: Path) -> None:
    site = Site(tmp_path / "home")  # three 28-day bills of 672 kWh at acme-hq, meter m1
    site.ledger.close()
    ctx = AppContext.open(site.home, PASS)
    client = TestClient(create_app(ctx))
    ch = client.post("/api/v1/auth/challenge", json={"address": site.admin.address}).json()
    sig = site.admin.sign_digest(eip191_digest(ch["message"].encode())).hex()
    token = client.post(
        "/api/v1/auth/login", json={"message": ch["message"], "signature": sig, "passphrase": PASS}
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}

    res = client.post("/api/v1/readings", params={"org": "acme"}, json=[month(1)], headers=auth)
    assert res.status_code == 201, res.text
    assert res.json()["posted"] == 1
    assert [e["kind"] for e in res.json()["events"]] == ["verified"]

    # February at 4 kWh an hour: the first week alone (672 kWh) plus the next already
    # exceed the 672 kWh bill plus its tolerance (3.36 kWh): a mismatch at once.
    start = datetime(2023, 2, 1, tzinfo=UTC)
    weeks = [issue(meter_readings_credential(
        issuer=METER.did, meter_id="E1", site_id="acme-hq", interval_seconds=3600,
        readings=[(start + timedelta(days=7 * n, hours=h), "4000") for h in range(7 * 24)],
        valid_from=start + timedelta(days=7 * n + 7)), METER) for n in range(2)]  # fmt: skip
    res = client.post("/api/v1/readings", params={"org": "acme"}, json=weeks, headers=auth)
    kinds = [e["kind"] for e in res.json()["events"]]
    assert "mismatch" in kinds
    mismatch = next(e for e in res.json()["events"] if e["kind"] == "mismatch")
    assert "kWh" in mismatch["reason"]

    forged = client.post("/api/v1/readings", params={"org": "acme"},
                         json=[month(3, signer=FORGER)], headers=auth)  # fmt: skip
    assert forged.status_code == 201
    assert forged.json()["posted"] == 0
    assert forged.json()["rejected"]
    assert client.post("/api/v1/readings", params={"org": "acme"}, json=[],
                       headers=auth).status_code == 422  # fmt: skip
    assert client.post("/api/v1/readings", params={"org": "acme"},
                       json=[month(1)]).status_code == 401  # fmt: skip
