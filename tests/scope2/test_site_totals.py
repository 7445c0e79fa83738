"""The same ledger gives the same per-site figures on the dashboard, in an audit and in
the Scope 2 report (they all sum through :mod:`carbonledger.services.totals`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from carbonledger.services.audit import run_audit
from carbonledger.services.channels import grant
from carbonledger.services.records import RecordReader
from carbonledger.services.scope2 import scope2_report
from carbonledger.web.data import KG_PER_T, org_summary
from tests.api_helpers import PASS, served

# eGRID2023 rev. 2, subregion RFCW (ZIP 60601 + utility 4110, site "hq"): 916.054 lb
# CO2e/MWh; 1 MWh x 916.054 lb x 0.45359237 kg/lb = 415.515105 kg (half-even, 1e-6).
HQ_KG_PER_1000_KWH = Decimal("415.515105")


def _bill(site: str, start: str, end: str, kwh: int) -> dict[str, str]:
    return {"site": site, "account": f"{site}-E1", "start": start, "end": end,
            "amount": str(kwh), "unit": "kWh"}  # fmt: skip


def test_dashboard_audit_and_scope2_agree_per_site(tmp_path: Path) -> None:
    api = served(tmp_path / "home")
    alice = api.sign_in(api.users["alice"], PASS)
    bills = [_bill("hq", f"2023-{m:02d}-01", f"2023-{m:02d}-28", 1000) for m in range(1, 7)]
    bills += [_bill("plant", f"2023-{m:02d}-01", f"2023-{m:02d}-28", 500) for m in range(1, 4)]
    # one period across two months: Scope 2 splits it by days, the others count it whole
    bills.append(_bill("plant", "2023-04-15", "2023-05-14", 700))
    res = api.client.post("/api/v1/bills", json=bills, headers=alice)
    assert res.status_code == 201, res.text
    assert res.json()["recorded"] == 10

    ledger, store = api.ctx.ledger, api.ctx.ledger.channels
    alice_key, dana = api.users["alice"], api.users["dana"]
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    grant(ledger, store, api.admin, "acme", dana.address, role="auditor",
          until=until.replace("+00:00", "Z"))  # fmt: skip

    web = org_summary(ledger, "acme", 2023, RecordReader.for_member(ledger, store, alice_key))
    web_kg = {site: t * KG_PER_T for site, t in web.by_site}
    audit = run_audit(ledger, store, dana, "acme", start=date(2023, 1, 1), end=date(2023, 12, 31))
    scope2 = scope2_report(ledger, store, alice_key, "acme", 2023)
    scope2_kg = {site: row["location_kg"] for site, row in scope2.by_site().items()}

    assert web.records == audit.verified == 10
    assert web_kg == dict(audit.by_site) == scope2_kg
    assert web_kg["hq"] == 6 * HQ_KG_PER_1000_KWH
    assert web.total_t * KG_PER_T == audit.total_kg_co2e == sum(scope2_kg.values())
    # Per month the dashboard and the audit count a record in its start month.
    assert {m: t * KG_PER_T for m, t in web.by_month if t} == dict(audit.by_month)
