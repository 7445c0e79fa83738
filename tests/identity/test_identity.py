"""Identities, roles and channels: each attack is a real attempt that must fail clearly."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from carbonledger.core.domain import Bill, Organisation, Site
from carbonledger.crypto import x509ca, x509crl
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import NotFound, PermissionDenied
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.audit import run_audit
from carbonledger.services.channels import ChannelKeys, grant, revoke, submit_one
from carbonledger.services.home import Home
from carbonledger.services.identity import (
    enroll,
    make_enrolment_request,
    register_user,
    revoke_user,
)
from carbonledger.services.importer import import_bills
from carbonledger.services.records import RecordReader
from carbonledger.services.registry import register_orgs, register_sites
from carbonledger.services.sealing import DetailReader

PASS = "correct horse battery staple"
ORGS = (
    Organisation("acme", "Acme Corp", "US"),
    Organisation("globex", "Globex", "US"),
    Organisation("audits", "Audit Firm", "GB"),
)


class World:
    """A ledger with three organisations, a site each, and helpers to enroll users."""

    def __init__(self, path: Path) -> None:
        self.home = Home(path)
        self.admin = self.home.init(PASS, scrypt_n=2**10)
        self.ledger = self.home.ledger(self.admin)
        self.store = self.ledger.channels
        certs = {o.id: self.home.ca.create_org(o.id, o.name, PASS) for o in ORGS}
        register_orgs(self.ledger, self.store, self.admin, list(ORGS), ca_certs=certs)
        register_sites(
            self.ledger,
            self.admin,
            [
                Site("acme-hq", "acme", "HQ", "US", "60601", utility_id="4110"),
                Site("globex-hq", "globex", "HQ", "US", "10001", utility_id="4226"),
            ],
        )
        self.catalog = FactorCatalog()

    def user(self, org: str, name: str, roles: list[str]) -> PrivateKey:
        secret = register_user(self.ledger, self.admin, org=org, name=name, roles=roles)
        key, request = make_enrolment_request(org, name, secret)
        enroll(self.ledger, key, request, self.home.ca.issue(self.ledger, request, PASS))
        return key

    def bills(self, key: PrivateKey, site: str, months: range, amount: str = "987654.321"):
        bills = [
            Bill(
                site,
                "E1",
                date(2023, m, 1),
                date(2023, m, 28),
                Decimal(amount),
                "kWh",
                cost=Decimal("13579.24"),
                currency="USD",
            )
            for m in months
        ]
        return import_bills(
            self.ledger, key, self.catalog, bills, store=self.store, source="secret-source.csv"
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "home")


def test_enrolment_records_identity_with_certificate(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    ident = world.ledger.state().identities[alice.address]
    assert (ident["name"], ident["org"], ident["roles"], ident["status"]) == (
        "alice",
        "acme",
        ["member"],
        "active",
    )
    assert len(ident["fingerprint"]) == 64
    assert world.ledger.verify().ok


def test_wrong_enrolment_secret_is_refused_by_ca_and_ledger(world: World) -> None:
    secret = register_user(world.ledger, world.admin, org="acme", name="bob", roles=["member"])
    key, request = make_enrolment_request("acme", "bob", secret + "x")
    with pytest.raises(PermissionDenied, match="wrong enrolment secret"):
        world.home.ca.issue(world.ledger, request, PASS)
    # A CA that skipped the check would still not get past the ledger's rule.
    good = make_enrolment_request("acme", "bob", secret)[1]
    cert = world.home.ca.issue(world.ledger, type(good)("acme", "bob", secret, request.csr), PASS)
    with pytest.raises(PermissionDenied, match="wrong enrolment secret"):
        enroll(world.ledger, key, request, cert)
    assert key.address not in world.ledger.state().identities


def test_expired_enrolment_secret_is_refused(world: World) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    from carbonledger.core.rules.identity import secret_hash

    submit_one(
        world.ledger,
        world.admin,
        "register_identity",
        [
            {
                "kind": "registration",
                "id": "carol",
                "org": "acme",
                "roles": ["member"],
                "salt": "00" * 16,
                "secret_sha256": secret_hash("00" * 16, "s3cret"),
                "expires": past.replace("+00:00", "Z"),
            }
        ],
    )
    _, request = make_enrolment_request("acme", "carol", "s3cret")
    with pytest.raises(PermissionDenied, match="expired"):
        world.home.ca.issue(world.ledger, request, PASS)


def test_certificate_from_another_organisation_is_refused(world: World) -> None:
    secret = register_user(world.ledger, world.admin, org="acme", name="dave", roles=["member"])
    key, request = make_enrolment_request("acme", "dave", secret)
    globex_ca = x509ca.CaBundle.from_pem(
        world.home.ca.certificate("org-globex").encode(),
        (world.home.ca.directory / "org-globex.key").read_bytes(),
        PASS,
    )
    wrong = x509ca.make_csr(key, common_name="dave", org_id="globex")
    cert = x509ca.issue_certificate(globex_ca, wrong, roles=["member"], org_id="globex").decode()
    with pytest.raises(PermissionDenied, match="certificate"):
        enroll(world.ledger, key, request, cert)


def test_certificate_for_another_key_is_refused(world: World) -> None:
    secret = register_user(world.ledger, world.admin, org="acme", name="erin", roles=["member"])
    _, request = make_enrolment_request("acme", "erin", secret)
    cert = world.home.ca.issue(world.ledger, request, PASS)
    thief = PrivateKey.generate()
    with pytest.raises(PermissionDenied, match="certificate is for"):
        enroll(world.ledger, thief, request, cert)


def test_unregistered_signer_cannot_write(world: World) -> None:
    stranger = PrivateKey.generate()
    with pytest.raises(PermissionDenied, match="not an enrolled identity"):
        submit_one(world.ledger, stranger, "register_site", [Site("x", "acme", "X", "US").item()])


def test_revoked_user_cannot_write_but_past_entries_stay_valid(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", alice.address, role="member")
    assert world.bills(alice, "acme-hq", range(1, 3)).recorded == 2
    revoke_user(
        world.ledger, world.admin, world.home.ca, alice.address, reason="left", ca_passphrase=PASS
    )
    with pytest.raises(PermissionDenied, match="revoked"):
        world.bills(alice, "acme-hq", range(3, 4))
    report = world.ledger.verify()
    assert report.ok, report.error
    records = list(world.ledger.items(ItemQuery(kind="emissions_record")))
    assert len(records) == 2
    crl = (world.home.ca.directory / "org-acme.crl.pem").read_bytes()
    serial = world.ledger.state().identities[alice.address]["serial"]
    assert x509crl.is_revoked(crl, world.home.ca.certificate("org-acme").encode(), serial)


def test_member_of_one_org_cannot_record_for_another(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", alice.address, role="member")
    report = world.bills(alice, "globex-hq", range(1, 2))
    assert report.recorded == 0
    assert "not a member or admin of organisation 'globex'" in report.rejected[0].reason
    # Past the service, the ledger's own rule refuses the same record.
    from tests.ledger_helpers import record

    with pytest.raises(PermissionDenied, match="not a member or admin"):
        submit_one(world.ledger, alice, "record_emissions", [record("globex-hq", 1, org="globex")])


def test_member_must_be_granted_the_channel_to_seal_details(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    report = world.bills(alice, "acme-hq", range(1, 2))
    assert report.recorded == 0
    assert "not a member of channel 'acme'" in report.rejected[0].reason


def test_non_member_cannot_read_and_file_holds_no_plaintext(world: World) -> None:
    world.bills(world.admin, "acme-hq", range(1, 13))
    item = next(iter(world.ledger.items(ItemQuery(kind="emissions_record")))).item
    assert (
        RecordReader.for_member(world.ledger, world.store, world.admin).detail(item)["amount"]
        == "987654.321"
    )
    outsider = world.user("globex", "mallory", ["member"])
    with pytest.raises(PermissionDenied, match="not a member of channel 'acme'"):
        RecordReader.for_member(world.ledger, world.store, outsider).detail(item)
    with pytest.raises(PermissionDenied, match="sealed in channel 'acme'"):
        RecordReader(world.ledger).detail(item)
    world.ledger.close()
    raw = b"".join(p.read_bytes() for p in world.home.path.glob("ledger.db*"))
    for secret in (b"987654.321", b"13579.24", b"secret-source.csv"):
        assert secret not in raw


def test_removing_a_member_rotates_the_key_for_new_data(world: World) -> None:
    bob = world.user("acme", "bob", ["member"])
    grant(world.ledger, world.store, world.admin, "acme", bob.address, role="member")
    world.bills(world.admin, "acme-hq", range(1, 2))
    revoke(world.ledger, world.store, world.admin, "acme", bob.address)
    assert world.ledger.state().channels["acme"]["epoch"] == 1
    world.bills(world.admin, "acme-hq", range(2, 3))
    old, new = (s.item for s in world.ledger.items(ItemQuery(kind="emissions_record")))
    with pytest.raises(PermissionDenied, match="not a member of channel 'acme'"):
        RecordReader.for_member(world.ledger, world.store, bob).detail(old)
    # With his own key and the raw store (no access check) he still opens what was
    # sealed while he was a member, and nothing sealed after.
    raw = ChannelKeys(world.ledger.state(), world.store, bob, access=lambda _channel: None)
    bobs = RecordReader(world.ledger, DetailReader(raw, world.store))
    assert bobs.detail(old)["amount"] == "987654.321"
    with pytest.raises(NotFound, match="epoch 1"):
        bobs.detail(new)
    assert world.ledger.verify().ok


def test_auditor_role_and_cross_org_rules(world: World) -> None:
    clerk = world.user("audits", "clerk", ["member"])
    with pytest.raises(PermissionDenied, match="does not hold the auditor role"):
        grant(world.ledger, world.store, world.admin, "acme", clerk.address, role="auditor")
    with pytest.raises(PermissionDenied, match="only auditors"):
        grant(world.ledger, world.store, world.admin, "acme", clerk.address, role="member")


def test_auditor_workflow_and_access_ending(world: World) -> None:
    world.bills(world.admin, "acme-hq", range(1, 13))
    dana = world.user("audits", "dana", ["auditor"])
    with pytest.raises(PermissionDenied, match="not a member of channel 'acme'"):
        run_audit(
            world.ledger, world.store, dana, "acme", start=date(2023, 1, 1), end=date(2023, 12, 31)
        )
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat(timespec="milliseconds")
    grant(
        world.ledger,
        world.store,
        world.admin,
        "acme",
        dana.address,
        role="auditor",
        until=until.replace("+00:00", "Z"),
    )
    report = run_audit(
        world.ledger, world.store, dana, "acme", start=date(2023, 1, 1), end=date(2023, 6, 30)
    )
    assert (report.records, report.verified, report.failures) == (6, 6, [])
    # 6 months x 987,654.321 kWh x eGRID2023r2 RFCW CO2e rate; recomputed independently:
    rate = Decimal("916.054") * Decimal("0.45359237") / 1000  # kg per kWh
    expected = sum((Decimal("987654.321") * rate).quantize(Decimal("0.000001")) for _ in range(6))
    assert report.total_kg_co2e == expected
    assert set(report.by_month) == {f"2023-0{m}" for m in range(1, 7)}
    reads = [s.item for s in world.ledger.items(ItemQuery(kind="channel_read"))]
    assert [r["channel"] for r in reads] == ["acme"]
    time.sleep(2.2)
    with pytest.raises(PermissionDenied, match="ended"):
        run_audit(
            world.ledger, world.store, dana, "acme", start=date(2023, 1, 1), end=date(2023, 12, 31)
        )
    assert world.ledger.verify().ok


def test_only_admins_register_users(world: World) -> None:
    alice = world.user("acme", "alice", ["member"])
    with pytest.raises(PermissionDenied, match="not an admin of 'acme'"):
        register_user(world.ledger, alice, org="acme", name="eve", roles=["member"])
