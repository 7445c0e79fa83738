"""A ledger with organisations, sites, dealers, an auditor and a consumer, built once.

Building it (CA, enrolments, a year of bills) takes about two seconds, so the
session builds one template and each test gets a copy of its files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.domain import Bill, Organisation, Site
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.keystore import encrypt_key, save_keystore
from carbonledger.factors import FactorCatalog
from carbonledger.services.channels import grant
from carbonledger.services.home import Home
from carbonledger.services.identity import enroll, make_enrolment_request, register_user
from carbonledger.services.importer import import_bills
from carbonledger.services.offsets import package_directory, register_directory
from carbonledger.services.registry import register_orgs, register_sites

PASS = "correct horse battery staple"
ORGS = (
    Organisation("acme", "Acme Corp", "US"),
    Organisation("globex", "Globex", "US"),
    Organisation("dealers", "Green Dealers", "US"),
    Organisation("audits", "Audit Firm", "GB"),
)
SITES = (
    Site("acme-chi", "acme", "Chicago", "US", "60601", utility_id="4110"),  # RFCW
    Site("acme-sf", "acme", "San Francisco", "US", "94105", utility_id="16612"),  # CAMX
    Site("acme-berlin", "acme", "Berlin", "DE"),
    Site("globex-hq", "globex", "HQ", "US", "10001", utility_id="4226"),
)
#: Monthly kWh billed per site in 2023 (Chicago, San Francisco, Berlin).
MONTHLY_KWH = {"acme-chi": 100_000, "acme-sf": 20_000, "acme-berlin": 50_000}


@dataclass
class World:
    home: Home
    ledger: SqliteLedger
    admin: PrivateKey
    rec_dealer: PrivateKey
    offset_dealer: PrivateKey
    auditor: PrivateKey
    alice: PrivateKey  # acme member (consumer)
    bob: PrivateKey  # globex member

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.ledger.channels

    def reopen(self) -> SqliteLedger:
        self.ledger.close()
        self.ledger = self.home.ledger(self.admin)
        return self.ledger


def _user(
    home: Home, ledger: SqliteLedger, admin: PrivateKey, org: str, name: str, roles: list[str]
) -> PrivateKey:
    secret = register_user(ledger, admin, org=org, name=name, roles=roles)
    key, request = make_enrolment_request(org, name, secret)
    enroll(ledger, key, request, home.ca.issue(ledger, request, PASS))
    path = home.user_keystore(org, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keystore(path, encrypt_key(key, PASS, n=2**10))  # for the CLI's --as ORG/NAME
    return key


def build_template(path: Path) -> World:
    home = Home(path)
    admin = home.init(PASS, scrypt_n=2**10)
    ledger = home.ledger(admin)
    certs = {o.id: home.ca.create_org(o.id, o.name, PASS) for o in ORGS}
    register_orgs(ledger, ledger.channels, admin, list(ORGS), ca_certs=certs)
    register_sites(ledger, admin, list(SITES))
    rec = _user(home, ledger, admin, "dealers", "recs", ["rec_dealer"])
    off = _user(home, ledger, admin, "dealers", "offsets", ["offset_dealer"])
    aud = _user(home, ledger, admin, "audits", "dana", ["auditor"])
    alice = _user(home, ledger, admin, "acme", "alice", ["member", "consumer"])
    bob = _user(home, ledger, admin, "globex", "bob", ["member"])
    grant(ledger, ledger.channels, admin, "acme", alice.address, role="member")
    grant(ledger, ledger.channels, admin, "acme", aud.address, role="auditor")
    bills = [
        Bill(site, f"{site}-E1", date(2023, m, 1), _month_end(2023, m), Decimal(kwh), "kWh")
        for site, kwh in MONTHLY_KWH.items()
        for m in range(1, 13)
    ]
    report = import_bills(ledger, alice, FactorCatalog(), bills, store=ledger.channels)
    if report.recorded != len(bills):
        raise RuntimeError(f"template bills not recorded: {report.rejected}")
    register_directory(ledger, admin, package_directory())
    return World(home, ledger, admin, rec, off, aud, alice, bob)


def _month_end(year: int, month: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def copy_world(template: World, path: Path) -> World:
    template.ledger.close()
    shutil.copytree(template.home.path, path)
    template.ledger = template.home.ledger(template.admin)
    home = Home(path)
    return World(
        home,
        home.ledger(template.admin),
        template.admin,
        template.rec_dealer,
        template.offset_dealer,
        template.auditor,
        template.alice,
        template.bob,
    )
