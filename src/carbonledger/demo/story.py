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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from carbonledger.core.domain import Bill, Organisation, Site
from carbonledger.core.proofdoc import check_proof
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.keystore import encrypt_key, save_keystore
from carbonledger.demo.dao import run_dao_demo
from carbonledger.demo.meters import run_meter_demo
from carbonledger.demo.tokens import run_token_demo
from carbonledger.demo.travel import import_demo_travel
from carbonledger.errors import ConfigurationError, PermissionDenied
from carbonledger.factors import FactorCatalog
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort, VerifyReport
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
from carbonledger.services.inventory import inventory_report
from carbonledger.services.records import RecordReader
from carbonledger.services.registry import register_orgs, register_sites
from carbonledger.services.totals import emission_totals

__all__ = ["DEMO_YEAR", "DemoResult", "move_aside", "run_demo"]

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
    tokens: dict[str, Any] = field(default_factory=dict)
    meters: dict[str, Any] = field(default_factory=dict)
    dao: dict[str, Any] = field(default_factory=dict)
    travel: ImportReport | None = None
    inventory: dict[str, Any] = field(default_factory=dict)


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


@dataclass
class _Story:
    """What every step of the demo needs."""

    home: Home
    ledger: LedgerPort
    admin: PrivateKey
    passphrase: str
    catalog: FactorCatalog
    result: DemoResult
    say: Callable[[str], None]

    @property
    def store(self) -> ChannelStore:
        return self.ledger.channels

    def enroll(self, org: str, name: str, roles: list[str]) -> PrivateKey:
        """Admin registers; the user makes a key and CSR; the CA certifies; the user records."""
        secret = register_user(self.ledger, self.admin, org=org, name=name, roles=roles)
        user_key, request = make_enrolment_request(org, name, secret)
        certificate = self.home.ca.issue(self.ledger, request, self.passphrase)
        path = self.home.user_keystore(org, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_keystore(path, encrypt_key(user_key, self.passphrase, n=KEYSTORE_SCRYPT_N))
        enroll(self.ledger, user_key, request, certificate)
        return user_key

    def import_file(self, key: PrivateKey, bills: list[Bill], source: str) -> ImportReport:
        return import_bills(self.ledger, key, self.catalog, bills, store=self.store, source=source)


def move_aside(path: Path) -> Path:
    """Rename ``path`` to a free ``<name>.previous-<UTC time>[-n]`` beside it; the new name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.previous-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.previous-{stamp}-{n}")
    path.rename(target)
    return target


def run_demo(
    home: Home,
    passphrase: str,
    *,
    progress: Callable[[str], None] | None = None,
    rpc: str | None = None,
    db: str | None = None,
) -> DemoResult:
    """Build the demo ledger in ``home`` (which must be empty or a previous demo).

    With ``rpc`` the story runs on the EVM backend: ``CarbonLedger`` is deployed
    on that chain right after the genesis, with the off-chain store at ``db`` (a
    database URL, e.g. PostgreSQL) or ``offchain.db`` in the home.
    """
    marker = home.path / "demo.json"
    say = progress or (lambda _msg: None)
    if home.exists():
        if not marker.exists():
            raise ConfigurationError(
                f"{home.path} holds a ledger that is not a demo; run the demo with"
                " --home DIR (or CARBONLEDGER_HOME) pointing elsewhere"
            )
        # A previous demo may hold what the user added to it: kept, never replaced.
        previous = move_aside(home.path)
        say(f"the previous demo ledger was moved to {previous}")
    key = home.init(passphrase, name="Northwind demo ledger")
    marker.write_text(json.dumps({"demo": True, "year": DEMO_YEAR}) + "\n")
    if rpc is not None:
        section = home.deploy_evm(key, rpc, mirror=db)
        say(
            f"EVM backend: CarbonLedger deployed at {section['contract']} (chain"
            f" {section['chain_id']}); the genesis copied on chain"
        )
    story = _Story(
        home,
        home.ledger(key),
        key,
        passphrase,
        FactorCatalog(home=home.path),
        DemoResult(home.path),
        say,
    )
    try:
        alice, dana = _register(story)
        _import(story, alice)
        _audit_and_revoke(story, alice, dana)
        story.say(
            "a meter at nw-sf signs a year of hourly readings as credentials; the digital"
            " auditor checks every record against them (one month is made to disagree)"
        )
        story.result.meters = run_meter_demo(story.ledger, story.store, story.admin)
        story.say(
            "GreenMarkets issues RECs and offsets (a real project from the offsets"
            " directory); Northwind retires them; Scope 2 both ways and net emissions"
        )
        story.result.tokens = run_token_demo(
            story.ledger,
            story.store,
            story.admin,
            story.home,
            story.passphrase,
            enroll=story.enroll,
        )
        story.say(
            "members of the DAO propose, vote quadratically and execute: offsets of a"
            " real directory project are issued through the DAO"
        )
        story.result.dao = run_dao_demo(
            story.ledger,
            story.store,
            story.admin,
            story.home,
            story.passphrase,
            enroll=story.enroll,
        )
        inventory = inventory_report(story.ledger, story.store, story.admin, ORG.id, DEMO_YEAR)
        story.result.inventory = inventory.to_dict()
        _verify(story)
    finally:
        story.ledger.close()
    return story.result


def _register(story: _Story) -> tuple[PrivateKey, PrivateKey]:
    story.say(
        "registering Northwind Foods (with its CA and private data channel), its 8 sites"
        " and the audit firm GreenAudit"
    )
    certs = {
        o.id: story.home.ca.create_org(o.id, o.name, story.passphrase) for o in (ORG, AUDIT_FIRM)
    }
    register_orgs(story.ledger, story.store, story.admin, [ORG, AUDIT_FIRM], ca_certs=certs)
    register_sites(story.ledger, story.admin, [s for s, _, _ in SITES])
    story.say("alice (Northwind, member) and dana (GreenAudit, auditor) enroll with their own keys")
    alice = story.enroll("northwind", "alice", ["member"])
    dana = story.enroll("greenaudit", "dana", ["auditor"])
    story.result.identities = {"alice": alice.address, "dana": dana.address}
    grant(story.ledger, story.store, story.admin, "northwind", alice.address, role="member")
    return alice, dana


def _import(story: _Story, alice: PrivateKey) -> None:
    result = story.result
    data_dir = story.home.path / "demo"
    data_dir.mkdir(exist_ok=True)
    bills_file = data_dir / f"northwind-bills-{DEMO_YEAR}.csv"
    bills_file.write_text(_bills_csv(DEMO_YEAR))
    story.say(
        f"alice imports a year of bills from {bills_file.name} (amounts sealed in the channel)"
    )
    parsed = parse_bills(bills_file.read_text().splitlines())
    result.imports.append(story.import_file(alice, parsed.bills, bills_file.name))
    story.say("alice imports the same file again (nothing is recorded twice)")
    result.rerun = story.import_file(alice, parsed.bills, bills_file.name)
    story.say("alice imports a file with bad rows (each is named; the good row is kept)")
    bad = parse_bills(BAD_ROWS.splitlines())
    report = story.import_file(alice, bad.bills, "corrections.csv")
    report.rejected[:0] = bad.errors
    report.rejected.sort(key=lambda e: e.line)
    result.imports.append(report)
    result.bad_file_errors = [f"line {e.line}: {e.field}: {e.reason}" for e in report.rejected]
    story.say("alice imports the year's business travel and freight (flights from airport codes)")
    result.travel = import_demo_travel(story.ledger, alice, story.catalog, story.store, data_dir)
    result.by_site = _summary(story.ledger, story.admin)


def _audit_and_revoke(story: _Story, alice: PrivateKey, dana: PrivateKey) -> None:
    until = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
    story.say(
        f"Northwind grants dana auditor access to its channel for 30 days; dana audits {DEMO_YEAR}"
    )
    grant(
        story.ledger,
        story.store,
        story.admin,
        "northwind",
        dana.address,
        role="auditor",
        until=until.replace("+00:00", "Z"),
    )
    story.result.audit = run_audit(
        story.ledger,
        story.store,
        dana,
        "northwind",
        start=date(DEMO_YEAR, 1, 1),
        end=date(DEMO_YEAR, 12, 31),
    )
    story.say("alice leaves: her key is revoked, and her next transaction is refused")
    revoke_user(
        story.ledger,
        story.admin,
        story.home.ca,
        alice.address,
        reason="left the company",
        ca_passphrase=story.passphrase,
    )
    late = Bill(
        "nw-sf",
        "nw-sf-E1",
        date(DEMO_YEAR + 1, 1, 1),
        date(DEMO_YEAR + 1, 1, 31),
        Decimal(60_000),
        "kWh",
    )
    try:
        story.import_file(alice, [late], "late.csv")
    except PermissionDenied as exc:
        story.result.refused = str(exc)


def _verify(story: _Story) -> None:
    story.say("verifying the whole ledger")
    ledger = story.ledger
    story.result.verify = ledger.verify()
    first = next(iter(ledger.items(ItemQuery(kind="emissions_record", limit=1))))
    doc = ledger.proof(first.leaf_index).document()
    check_proof(doc, expect_signer=story.admin.address)
    (story.home.path / "demo" / "proof.json").write_text(json.dumps(doc, indent=2) + "\n")
    story.result.proof_record, story.result.proof_ok = first.item["id"], True


def _summary(ledger: LedgerPort, key: PrivateKey) -> list[dict[str, Any]]:
    reader = RecordReader.for_member(ledger, ledger.channels, key)
    totals = emission_totals(ledger, reader, traces=True)  # results sealed in the channel
    return [
        {
            "site": site,
            "records": t.records,
            "kwh": t.kwh,
            "kg_co2e": t.kg_co2e,
            "factors": ", ".join(sorted(t.factors)),
        }
        for site, t in totals.sites.items()
    ]
