"""The demo story: one organisation, US, UK and EU sites, a year of bills, verified.

Bill amounts are generated from a fixed seed with a seasonal profile, so every
run gives the same figures; the factors are the real shipped editions.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from carbonledger.adapters.sqlite_ledger import SqliteLedger
from carbonledger.core.domain import Bill, Organisation, Site
from carbonledger.core.proofdoc import check_proof
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.keystore import encrypt_key, save_keystore
from carbonledger.errors import ConfigurationError, PermissionDenied
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import ItemQuery, VerifyReport
from carbonledger.services.audit import AuditReport, run_audit
from carbonledger.services.bills_csv import parse_bills
from carbonledger.services.channels import grant
from carbonledger.services.home import KEYSTORE_SCRYPT_N, Home
from carbonledger.services.identity import (
    enroll,
    make_enrolment_request,
    register_user,
    revoke_user,
)
from carbonledger.services.importer import ImportReport, import_bills
from carbonledger.services.records import RecordReader
from carbonledger.services.registry import register_orgs, register_sites

__all__ = ["DEMO_YEAR", "DemoResult", "run_demo"]

DEMO_YEAR = 2023
ORG = Organisation("northwind", "Northwind Foods Inc.", "US")
AUDIT_FIRM = Organisation("greenaudit", "GreenAudit LLP", "GB")
# (site, name, country, zip, utility id, monthly kWh around, gas therms/m3 around)
SITES: list[tuple[Site, int, tuple[str, int] | None]] = [
    (
        Site(
            "nw-chicago",
            "northwind",
            "Chicago distribution centre",
            "US",
            "60601",
            utility_id="4110",
        ),
        410_000,
        ("therm", 9_000),
    ),
    (
        Site("nw-sf", "northwind", "San Francisco offices", "US", "94105", utility_id="16612"),
        62_000,
        None,
    ),
    (
        Site("nw-nyc", "northwind", "New York store", "US", "10001", utility_id="4226"),
        95_000,
        ("therm", 1_800),
    ),
    (
        Site("nw-austin", "northwind", "Austin bakery", "US", "78701", utility_id="1015"),
        180_000,
        ("therm", 4_200),
    ),
    (Site("nw-london", "northwind", "London office", "GB"), 48_000, ("kWh", 30_000)),
    (Site("nw-berlin", "northwind", "Berlin warehouse", "DE"), 140_000, None),
    (Site("nw-paris", "northwind", "Paris office", "FR"), 35_000, None),
    (Site("nw-warsaw", "northwind", "Warsaw plant", "PL"), 520_000, None),
]


@dataclass
class DemoResult:
    home: Path
    imports: list[ImportReport] = field(default_factory=list)
    rerun: ImportReport | None = None
    by_site: list[dict[str, Any]] = field(default_factory=list)
    verify: VerifyReport | None = None
    proof_record: str = ""
    proof_ok: bool = False
    bad_file_errors: list[str] = field(default_factory=list)
    identities: dict[str, str] = field(default_factory=dict)
    audit: AuditReport | None = None
    refused: str = ""


def _month_periods(year: int) -> list[tuple[date, date]]:
    out = []
    for month in range(1, 13):
        start = date(year, month, 1)
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        out.append((start, nxt - timedelta(days=1)))
    return out


def _bills_csv(year: int) -> str:
    rng = random.Random(2020)  # noqa: S311 - fixed seed: the same story every run
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["site", "account", "start", "end", "amount", "unit", "activity", "cost", "currency"]
    )
    for site, kwh, gas in SITES:
        currency = {"US": "USD", "GB": "GBP"}.get(site.country, "EUR")
        for m, (start, end) in enumerate(_month_periods(year)):
            season = 1 + 0.18 * math.cos((m - 6.5) / 6 * math.pi)  # summer peak (cooling)
            amount = round(kwh * season * rng.uniform(0.93, 1.07))
            w.writerow(
                [
                    site.id,
                    f"{site.id}-E1",
                    start,
                    end,
                    amount,
                    "kWh",
                    "electricity",
                    f"{amount * 0.16:.2f}",
                    currency,
                ]
            )
            if gas is not None:
                winter = 1 + 0.6 * math.cos(m / 6 * math.pi)  # winter peak (heating)
                g = round(gas[1] * winter * rng.uniform(0.9, 1.1))
                w.writerow(
                    [
                        site.id,
                        f"{site.id}-G1",
                        start,
                        end,
                        g,
                        gas[0],
                        "natural_gas",
                        f"{g * 1.1:.2f}",
                        currency,
                    ]
                )
    return buf.getvalue()


BAD_ROWS = """site,account,start,end,amount,unit
nw-sf,nw-sf-E1,2023-06-15,2023-07-14,61000,kWh
nw-sf,nw-sf-E2,2023-13-01,2023-13-31,1000,kWh
nw-sf,nw-sf-E2,2023-08-01,2023-08-31,-5,kWh
nw-sf,nw-sf-E2,2023-08-01,2023-08-31,1000,mt
nw-sf,nw-sf-E2,2023-09-01,2023-09-30,1200,kWh
"""


def run_demo(
    home: Home, passphrase: str, *, progress: Callable[[str], None] | None = None
) -> DemoResult:
    """Build the demo ledger in ``home`` (which must be empty or a previous demo)."""
    say = progress or (lambda _msg: None)
    marker = home.path / "demo.json"
    if home.exists():
        if not marker.exists():
            raise ConfigurationError(
                f"{home.path} holds a ledger that is not a demo; run the demo with"
                " --home DIR (or CARBONLEDGER_HOME) pointing elsewhere"
            )
        shutil.rmtree(home.path)
    key = home.init(passphrase, name="Northwind demo ledger")
    marker.write_text(json.dumps({"demo": True, "year": DEMO_YEAR}) + "\n")
    ledger = home.ledger(key)
    store = ledger.channels
    catalog = FactorCatalog(home=home.path)
    result = DemoResult(home.path)
    say(
        "registering Northwind Foods (with its CA and private data channel) and its 8 sites,"
        " and the audit firm GreenAudit"
    )
    certs = {o.id: home.ca.create_org(o.id, o.name, passphrase) for o in (ORG, AUDIT_FIRM)}
    register_orgs(ledger, store, key, [ORG, AUDIT_FIRM], ca_certs=certs)
    register_sites(ledger, key, [s for s, _, _ in SITES])
    say("alice (Northwind, member) and dana (GreenAudit, auditor) enroll with their own keys")
    alice = _enroll(home, ledger, key, passphrase, "northwind", "alice", ["member"])
    dana = _enroll(home, ledger, key, passphrase, "greenaudit", "dana", ["auditor"])
    result.identities = {"alice": alice.address, "dana": dana.address}
    grant(ledger, store, key, "northwind", alice.address, role="member")
    data_dir = home.path / "demo"
    data_dir.mkdir(exist_ok=True)
    bills_file = data_dir / f"northwind-bills-{DEMO_YEAR}.csv"
    bills_file.write_text(_bills_csv(DEMO_YEAR))
    say(f"alice imports a year of bills from {bills_file.name} (amounts sealed in the channel)")
    parsed = parse_bills(bills_file.read_text().splitlines())
    result.imports.append(
        import_bills(ledger, alice, catalog, parsed.bills, store=store, source=bills_file.name)
    )
    say("alice imports the same file again (nothing is recorded twice)")
    result.rerun = import_bills(
        ledger, alice, catalog, parsed.bills, store=store, source=bills_file.name
    )
    say("alice imports a file with bad rows (each is named; the good row is kept)")
    bad = parse_bills(BAD_ROWS.splitlines())
    report = import_bills(ledger, alice, catalog, bad.bills, store=store, source="corrections.csv")
    report.rejected[:0] = bad.errors
    report.rejected.sort(key=lambda e: e.line)
    result.imports.append(report)
    result.bad_file_errors = [f"line {e.line}: {e.field}: {e.reason}" for e in report.rejected]
    result.by_site = _summary(ledger, key)
    until = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
    say("Northwind grants dana auditor access to its channel for 30 days; dana audits 2023")
    grant(
        ledger,
        store,
        key,
        "northwind",
        dana.address,
        role="auditor",
        until=until.replace("+00:00", "Z"),
    )
    result.audit = run_audit(
        ledger, store, dana, "northwind", start=date(DEMO_YEAR, 1, 1), end=date(DEMO_YEAR, 12, 31)
    )
    say("alice leaves: her key is revoked, and her next transaction is refused")
    revoke_user(
        ledger, key, home.ca, alice.address, reason="left the company", ca_passphrase=passphrase
    )
    try:
        late = Bill(
            "nw-sf",
            "nw-sf-E1",
            date(DEMO_YEAR + 1, 1, 1),
            date(DEMO_YEAR + 1, 1, 31),
            Decimal(60_000),
            "kWh",
        )
        import_bills(ledger, alice, catalog, [late], store=store, source="late.csv")
    except PermissionDenied as exc:
        result.refused = str(exc)
    say("verifying the whole ledger")
    result.verify = ledger.verify()
    first = next(iter(ledger.items(ItemQuery(kind="emissions_record", limit=1))))
    doc = ledger.proof(first.leaf_index).document()
    check_proof(doc, expect_signer=key.address)
    (data_dir / "proof.json").write_text(json.dumps(doc, indent=2) + "\n")
    result.proof_record, result.proof_ok = first.item["id"], True
    ledger.close()
    return result


def _enroll(
    home: Home,
    ledger: SqliteLedger,
    admin: PrivateKey,
    passphrase: str,
    org: str,
    name: str,
    roles: list[str],
) -> PrivateKey:
    """The whole enrolment: admin registers, user makes a key and CSR, CA certifies, user records."""
    secret = register_user(ledger, admin, org=org, name=name, roles=roles)
    user_key, request = make_enrolment_request(org, name, secret)
    certificate = home.ca.issue(ledger, request, passphrase)
    path = home.user_keystore(org, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keystore(path, encrypt_key(user_key, passphrase, n=KEYSTORE_SCRYPT_N))
    enroll(ledger, user_key, request, certificate)
    return user_key


def _summary(ledger: SqliteLedger, key: PrivateKey) -> list[dict[str, Any]]:
    reader = RecordReader.for_member(ledger, ledger.channels, key)
    rows: dict[str, dict[str, Any]] = {}
    for stored in ledger.items(ItemQuery(kind="emissions_record")):
        r = stored.item
        row = rows.setdefault(
            r["site"],
            {
                "site": r["site"],
                "records": 0,
                "kwh": Decimal(0),
                "kg_co2e": Decimal(0),
                "factors": set(),
            },
        )
        row["records"] += 1
        row["kg_co2e"] += Decimal(r["kg_co2e"])
        if r["activity"] == "electricity":
            row["kwh"] += Decimal(reader.detail(r)["amount"])
        f = reader.trace(r)["factor"]
        row["factors"].add(f"{f['edition']} {f['region_key']}")
    for row in rows.values():
        row["factors"] = ", ".join(sorted(row["factors"]))
    return list(rows.values())
