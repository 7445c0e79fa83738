"""Service accounts (an identity whose key the server holds, for an ERP) through the CLI.

For an organisation with its own admin, only its own admins register its identities:
``service-account create`` run as the network admin (the default) exits 2 with one
line saying to act as one of them (``--as ORG/NAME``), and leaves nothing behind; with
``--as`` an org admin enrolled from this home creates it, and its token is accepted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.cli_helpers import PASS, Run, _clean, _ok
from tests.identity.test_cli import _enroll
from tests.identity.test_org_joins import _home


def _beta_with_its_admin(cli: Run, tmp_path: Path) -> Path:
    """A home whose network admin added organisation beta and its first admin, bea,
    who enrolled here and holds beta's channel key (so runs the channel)."""
    home = _home(tmp_path / "home", cli)
    _ok(cli("org", "add", "beta", "--name", "Beta Ltd", "--country", "US"))
    _enroll(cli, "beta", "bea", "org_admin")
    _ok(cli("channel", "grant", "beta", "beta/bea"))
    return home


def _users(cli: Run) -> list[str]:
    return sorted(u["name"] for u in json.loads(_ok(cli("user", "list", "--json")).stdout))


def test_the_network_admin_is_told_to_act_as_the_orgs_admin(cli: Run, tmp_path: Path) -> None:
    home = _beta_with_its_admin(cli, tmp_path)
    before = _users(cli)
    res = _ok(cli("service-account", "create", "erp", "--org", "beta"), 2)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr  # one line, no traceback
    message = _clean(res.stderr)
    assert "organisation 'beta' has its own admin" in message
    assert "--as beta/bea" in message  # what to do, with the admin enrolled here
    assert res.stdout == ""  # no token printed
    assert _users(cli) == before  # nothing registered or enrolled
    assert not (home / "keys" / "beta" / "erp.json").exists()
    tokens = home / "api_tokens.json"
    assert not tokens.exists() or "erp" not in tokens.read_text()


def test_its_org_admin_creates_it_with_as_and_the_token_works(cli: Run, tmp_path: Path) -> None:
    from carbonledger.api import create_app
    from carbonledger.api.context import AppContext
    from carbonledger.services.home import Home

    home = _beta_with_its_admin(cli, tmp_path)
    res = _ok(cli("service-account", "create", "erp", "--org", "beta", "--as", "beta/bea"))
    token = re.search(r"clk_[A-Za-z0-9_\-]+", res.stdout)
    assert token is not None, res.stdout
    assert "service account beta/erp (0x" in _clean(res.stdout)
    (erp,) = [
        u
        for u in json.loads(_ok(cli("user", "list", "--org", "beta", "--json")).stdout)
        if u["name"] == "erp"
    ]
    assert erp["roles"] == ["member"]
    _ok(cli("site", "add", "b1", "--org", "beta", "--name", "B1", "--country", "US",
            "--zip", "60601", "--utility", "4110", "--as", "beta/bea"))  # fmt: skip
    ctx = AppContext.open(Home(home), PASS)
    try:
        client = TestClient(create_app(ctx))
        auth = {"Authorization": f"Bearer {token.group(0)}"}
        bill = {"site": "b1", "account": "m1", "start": "2024-01-01", "end": "2024-01-31",
                "amount": "1000", "unit": "kWh"}  # fmt: skip
        res = client.post("/api/v1/bills", json=[bill], headers=auth)
        assert res.status_code == 201, res.text
        assert res.json()["recorded"] == 1  # signed with erp's key, which the server holds
        (record_id,) = res.json()["record_ids"]
        shown = client.get(f"/api/v1/records/{record_id}", headers=auth)
        assert shown.status_code == 200, shown.text
        # erp reads what it sealed: bea gave it beta's channel key. eGRID2023 RFCW,
        # 1 MWh: 916.054 lb x 0.45359237 = 415.515105 kg (rounded half-even).
        assert shown.json()["recomputed"]["kg_co2e"] == "415.515105"
    finally:
        ctx.ledger.close()


def test_an_org_admin_without_the_channel_key_is_told_before_anything_is_made(
    cli: Run, tmp_path: Path
) -> None:
    home = _home(tmp_path / "home", cli)
    _ok(cli("org", "add", "beta", "--name", "Beta Ltd", "--country", "US"))
    _enroll(cli, "beta", "bea", "org_admin")  # not yet given the channel's key
    before = _users(cli)
    res = _ok(cli("service-account", "create", "erp", "--org", "beta", "--as", "beta/bea"), 2)
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "beta/bea holds no key of channel 'beta'" in _clean(res.stderr)
    assert "channel grant beta" in _clean(res.stderr)
    assert _users(cli) == before
    assert not (home / "keys" / "beta" / "erp.json").exists()


def test_as_is_in_the_help(cli: Run) -> None:
    res = _ok(cli("service-account", "create", "--help"))
    text = _clean(res.stdout)
    assert "--as" in text
    assert "org admin" in text
