"""Streaming audit over the API: readings posted as credentials are checked on arrival."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbonledger.api import create_app
from carbonledger.api.context import AppContext
from carbonledger.cli import app
from carbonledger.credentials import issue, meter_readings_credential
from carbonledger.crypto.keys import eip191_digest
from carbonledger.services.home import Home, closing_ledgers
from tests.identity.test_identity import PASS
from tests.meters.test_digital_auditor import FORGER, METER, Site, month


def _admin_client(site: Site, home: Home) -> tuple[AppContext, TestClient, dict[str, str]]:
    """A server on ``home``, and the admin signed in to it with a key session."""
    ctx = AppContext.open(home, PASS)
    client = TestClient(create_app(ctx))
    ch = client.post("/api/v1/auth/challenge", json={"address": site.admin.address}).json()
    sig = site.admin.sign_digest(eip191_digest(ch["message"].encode())).hex()
    token = client.post(
        "/api/v1/auth/login", json={"message": ch["message"], "signature": sig, "passphrase": PASS}
    ).json()["token"]
    return ctx, client, {"Authorization": f"Bearer {token}"}


def test_posted_readings_are_checked_as_they_arrive(tmp_path: Path) -> None:
    site = Site(tmp_path / "home")  # three 28-day bills of 672 kWh at acme-hq, meter m1
    site.ledger.close()
    _, client, auth = _admin_client(site, site.home)

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


def test_the_api_and_the_cli_post_and_check_readings_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same credentials give the same report and the same events by either road."""
    site = Site(tmp_path / "api")  # three 28-day bills of 672 kWh at acme-hq, meter m1
    site.ledger.close()
    shutil.copytree(tmp_path / "api", tmp_path / "cli")
    # January agrees with its bill (28 days x 24 h x 1 kWh = 672 kWh); March is signed by
    # a key that is not the meter's; the third names a site this ledger does not have.
    credentials = [
        month(1),
        month(3, signer=FORGER),
        issue(meter_readings_credential(
            issuer=METER.did, meter_id="E1", site_id="nowhere", interval_seconds=3600,
            readings=[(datetime(2023, 2, 1, tzinfo=UTC), "1000")],
            valid_from=datetime(2023, 2, 2, tzinfo=UTC)), METER),
    ]  # fmt: skip

    ctx, client, auth = _admin_client(site, Home(tmp_path / "api"))
    res = client.post("/api/v1/readings", params={"org": "acme"}, json=credentials, headers=auth)
    assert res.status_code == 201, res.text
    by_api = res.json()
    ctx.ledger.close()

    file = tmp_path / "credentials.json"
    file.write_text(json.dumps(credentials))
    monkeypatch.setenv("CARBONLEDGER_HOME", str(tmp_path / "cli"))
    monkeypatch.setenv("CARBONLEDGER_PASSPHRASE", PASS)
    with closing_ledgers():
        result = CliRunner().invoke(app, ["vc", "post", str(file), "--json"])
    assert result.exit_code == 1, (result.stdout, result.exception)  # some were refused
    assert result.exception is None or isinstance(result.exception, SystemExit)
    by_cli = json.loads(result.stdout)

    for report in (by_api, by_cli):
        assert report["posted"] == 1
        assert [r["index"] for r in report["rejected"]] == [1, 2]
        # refused credentials are reported once, as refused, not as evidence
        assert [e["kind"] for e in report["events"]] == ["verified"]
    assert by_api["events"] == by_cli["events"]
    assert by_api["rejected"] == by_cli["rejected"]
