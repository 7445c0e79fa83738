"""The inventory page: the same figures as ``report inventory``, and only for who may see them.

The demo ledger (Northwind, a year of bills, travel and freight) is the data;
the expected figures come from the CLI on the same home (``--format json``), the
public surface the page must agree with, not from the service the page calls.
"""

from __future__ import annotations

import re
from decimal import Decimal

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbonledger.cli import app as cli_app
from carbonledger.crypto.keystore import encrypt_key, save_keystore
from carbonledger.demo.story import DEMO_YEAR
from carbonledger.services.identity import enroll, make_enrolment_request, register_user
from tests.web import test_web
from tests.web.test_web import PASSPHRASE, Demo, _signature_signin, keystore_client

PAGE = f"/orgs/northwind/inventory?year={DEMO_YEAR}"
#: The demo ledger behind a web app (module-scoped: this module builds its own).
demo = test_web.demo


@pytest.fixture(scope="module")
def frank(demo: Demo) -> str:
    """An active GreenAudit user who was never granted Northwind's channel."""
    home, ledger = demo.home, demo.ctx.ledger
    admin = home.key(PASSPHRASE)
    secret = register_user(ledger, admin, org="greenaudit", name="frank", roles=["auditor"])
    key, request = make_enrolment_request("greenaudit", "frank", secret)
    cert = home.ca.issue(ledger, request, PASSPHRASE)
    save_keystore(home.user_keystore("greenaudit", "frank"), encrypt_key(key, PASSPHRASE, n=2**10))
    enroll(ledger, key, request, cert)
    return "greenaudit/frank"


def _cli_inventory(demo: Demo) -> dict[str, object]:
    res = CliRunner().invoke(
        cli_app,
        ["report", "inventory", "--org", "northwind", "--year", str(DEMO_YEAR), "--format", "json"],
        env={"CARBONLEDGER_HOME": str(demo.home.path), "CARBONLEDGER_PASSPHRASE": PASSPHRASE},
    )
    assert res.exit_code == 0, (res.stdout, res.stderr)
    out: dict[str, object] = orjson.loads(res.stdout)
    return out


def _data_kg(html: str, row: str) -> Decimal:
    found = re.search(rf'<tr id="fig-{row}" data-kg="([^"]+)"', html)
    assert found is not None, f"no row {row}"
    return Decimal(found.group(1))


def test_inventory_page_shows_the_cli_reports_figures_and_editions(demo: Demo) -> None:
    admin = keystore_client(demo, "admin")
    dashboard = admin.get("/orgs/northwind").text
    assert f'href="/orgs/northwind/inventory?year={DEMO_YEAR}"' in dashboard
    response = admin.get(PAGE)
    assert response.status_code == 200, response.text
    html = response.text
    report = _cli_inventory(demo)
    figures = report["figures"]
    assert isinstance(figures, dict)
    assert set(figures) == {
        "scope1", "scope2_location", "scope2_market", "scope3_cat6", "scope3_cat4"
    }  # fmt: skip
    for key, fig in figures.items():
        assert _data_kg(html, key) == Decimal(fig["kg_co2e"]), key
        row = re.search(rf'<tr id="fig-{key}".*?</tr>', html, re.S)
        assert row is not None
        for edition in fig["factor_editions"]:
            assert edition in row.group(0), (key, edition)
        # the chart draws the same figure, in tonnes
        assert f'data-value="{Decimal(fig["kg_co2e"]) / 1000}"' in html, key
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert _data_kg(html, "scope3") == Decimal(totals["scope3_kg_co2e"])
    assert _data_kg(html, "total-location") == Decimal(totals["location_based_kg_co2e"])
    assert _data_kg(html, "total-market") == Decimal(totals["market_based_kg_co2e"])
    # the demo year has every kind of figure, so a page of zeros cannot pass
    assert all(Decimal(f["kg_co2e"]) > 0 for f in figures.values())
    assert '<svg class="chart" id="chart-inventory"' in html
    assert "cdn" not in html.lower()


def test_a_granted_auditor_sees_the_figures(demo: Demo) -> None:
    # dana (GreenAudit) holds a 30-day auditor grant on Northwind's channel from the demo
    html = keystore_client(demo, "greenaudit/dana").get(PAGE).text
    report = _cli_inventory(demo)
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert _data_kg(html, "total-location") == Decimal(totals["location_based_kg_co2e"])


def test_a_non_member_gets_a_message_not_numbers(demo: Demo, frank: str) -> None:
    frank_client = keystore_client(demo, frank)
    response = frank_client.get(PAGE)
    assert response.status_code == 200
    html = response.text
    assert 'id="inventory-note"' in html
    assert "ask an administrator of northwind for access" in html
    assert "data-kg" not in html
    assert 'id="chart-inventory"' not in html
    assert "Traceback" not in html


def test_a_signature_sign_in_is_told_to_use_the_keystore(demo: Demo) -> None:
    client = TestClient(demo.client.app)
    _signature_signin(demo, client, "greenaudit", "dana")
    html = client.get(PAGE).text
    assert "sign in with your keystore" in html
    assert "data-kg" not in html


def test_signed_out_is_sent_to_sign_in_and_unknown_org_is_404(demo: Demo) -> None:
    client = TestClient(demo.client.app)
    assert client.get(PAGE, follow_redirects=False).status_code in (302, 303)
    admin = keystore_client(demo, "admin")
    assert admin.get("/orgs/nobody/inventory").status_code == 404
    assert admin.get("/orgs/northwind/inventory?year=abc").status_code in (400, 422)
