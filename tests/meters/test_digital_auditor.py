"""The digital auditor: records checked against signed meter readings and utility bills.

Three 28-day bills of 672 kWh at acme-hq (account E1); meter m1 reads 1 kWh an hour.
Every tampering is a real attempt (often by a poster that skips the checks) that
the auditor must catch and name.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.credentials import (
    BitstringStatusList,
    Ed25519Signer,
    issue,
    issue_status_list,
    meter_readings_credential,
    status_entry,
    utility_bill_credential,
    verify,
)
from carbonledger.credentials.proof import add_proof, canonicalize
from carbonledger.demo.meters import hourly_readings, run_meter_demo
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.channels import grant
from carbonledger.services.devices import (
    post_credentials,
    publish_status_list,
    register_device,
    register_utility,
    set_device_status,
)
from carbonledger.services.digital_auditor import (
    TOLERANCE,
    DigitalAuditReport,
    Tolerance,
    run_digital_audit,
)
from carbonledger.services.readings_monitor import ReadingsMonitor
from tests.identity.test_identity import World

METER = Ed25519Signer.from_seed(b"\x11" * 32)
UTILITY = Ed25519Signer.from_seed(b"\x12" * 32)
FORGER = Ed25519Signer.from_seed(b"\x13" * 32)
YEAR = (date(2023, 1, 1), date(2023, 12, 31))


class Site(World):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.bills(self.admin, "acme-hq", range(1, 4), amount="672")
        register_device(
            self.ledger, self.admin, device_id="m1", did=METER.did, site="acme-hq", meter="E1",
            valid_from=date(2023, 1, 1),
        )  # fmt: skip
        register_utility(
            self.ledger, self.admin, utility_id="comed", did=UTILITY.did, name="ComEd",
            eia_id="4110",
        )  # fmt: skip

    def post(self, *credentials: dict[str, Any], check: bool = True) -> None:
        report = post_credentials(
            self.ledger, self.store, self.admin, list(credentials), check=check
        )
        assert report.rejected == [], report.rejected
        assert report.posted == len(credentials)

    def audit(self, **kw: Any) -> DigitalAuditReport:
        return run_digital_audit(
            self.ledger, self.store, self.admin, "acme", start=YEAR[0], end=YEAR[1], **kw
        )


def month(m: int, *, signer: Ed25519Signer = METER, wh: str = "1000", **extra: Any) -> dict:  # type: ignore[type-arg]
    start = datetime(2023, m, 1, tzinfo=UTC)
    unsigned = meter_readings_credential(
        issuer=signer.did,
        meter_id="E1",
        site_id="acme-hq",
        interval_seconds=3600,
        readings=[(start + timedelta(hours=h), wh) for h in range(28 * 24)],
        valid_from=datetime(2023, m, 28, tzinfo=UTC),
    )
    unsigned.update(extra)
    return issue(unsigned, signer)


def bill(m: int, *, amount: str = "672", signer: Ed25519Signer = UTILITY) -> dict:  # type: ignore[type-arg]
    unsigned = utility_bill_credential(
        issuer=signer.did, account="E1", site_id="acme-hq", period_start=date(2023, m, 1),
        period_end=date(2023, m, 28), amount=amount, unit="kWh", cost="99.50", currency="USD",
        valid_from=datetime(2023, m, 28, tzinfo=UTC),
    )  # fmt: skip
    return issue(unsigned, signer)


def resign(credential: dict, signer: Ed25519Signer) -> dict:  # type: ignore[type-arg]
    unsigned = {k: v for k, v in credential.items() if k != "proof"}
    return issue(unsigned, signer)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "home")


def verdicts(report: DigitalAuditReport) -> list[str]:
    return [f.verdict for f in report.findings]


def test_tolerance_is_the_larger_of_half_a_percent_and_one_kwh() -> None:
    assert TOLERANCE.allowed(Decimal(672)) == Decimal("3.360")
    assert TOLERANCE.allowed(Decimal(50)) == Decimal(1)
    assert Tolerance(Decimal("0.01"), Decimal(0)).allowed(Decimal(200)) == Decimal(2)


def test_matching_readings_and_bills_verify_and_the_result_is_signed_and_anchored(
    site: Site,
) -> None:
    site.post(month(1), bill(1), month(2), bill(2))
    report = site.audit()
    assert verdicts(report) == ["verified", "verified", "unverifiable"]
    first = report.findings[0]
    assert "672 signed readings sum to 672 kWh" in first.reason
    assert "utility 'comed' billed 672 kWh" in first.reason
    assert report.findings[2].reason == "no credentials for acme-hq/E1 in the period"
    assert report.counts == {"verified": 2, "unverifiable": 1, "contradicted": 0}
    # The AuditResultCredential is signed by the auditor's did:key and its hash recorded.
    assert report.credential is not None
    assert verify(report.credential).ok
    assert report.credential["issuer"] == report.auditor
    (item,) = [s.item for s in site.ledger.items(ItemQuery(kind="audit_result"))]
    assert item["sha256"] == hashlib.sha256(canonicalize(report.credential)).hexdigest()
    assert item["counts"] == report.counts
    assert site.ledger.verify().ok


def test_readings_within_tolerance_verify_and_beyond_contradict(site: Site) -> None:
    # 672 readings of 1.004 kWh: 674.688 kWh, inside 3.36 kWh; 1.006 kWh: 676.032, outside.
    site.post(month(1, wh="1004"), month(2, wh="1006"))
    report = site.audit()
    assert verdicts(report)[:2] == ["verified", "contradicted"]
    assert "sum to 676.032 kWh" in report.findings[1].reason
    assert "tolerance 3.36 kWh" in report.findings[1].reason


def test_a_changed_reading_is_caught(site: Site) -> None:
    tampered = month(1)
    tampered["credentialSubject"]["readings"][100]["value"] = "9000"
    tampered["credentialSubject"]["total"] = "680000"
    site.post(tampered, check=False)  # a poster that does not check
    (finding, *_) = site.audit().findings
    assert finding.verdict == "contradicted"
    assert "signature" in finding.reason


def test_a_swapped_issuer_is_caught(site: Site) -> None:
    # The forger signs as itself but claims to be the meter: the proof's key is not the issuer.
    unsigned = {k: v for k, v in month(1, signer=FORGER).items() if k != "proof"}
    forged = add_proof({**unsigned, "issuer": METER.did}, FORGER)  # issue() would refuse
    assert verify(forged).errors[0].startswith("issuer mismatch")
    site.post(forged, check=False)
    (finding, *_) = site.audit().findings
    assert finding.verdict == "contradicted"
    assert "issuer mismatch" in finding.reason


def test_a_bill_from_another_utility_is_caught(site: Site) -> None:
    # A lying poster anchors a bill signed by an unregistered key under the utility's name.
    forged = bill(1, signer=FORGER)
    forged = resign({**forged, "issuer": FORGER.did}, FORGER)
    report = post_credentials(site.ledger, site.store, site.admin, [forged])
    assert "not a registered, active device or utility" in report.rejected[0][1]
    site.post(bill(1, amount="600"))
    (finding, *_) = site.audit().findings
    assert finding.verdict == "contradicted"
    assert "billed 600 kWh for 2023-01-01..2023-01-28; the record says 672 kWh" in finding.reason


def test_an_unregistered_device_is_caught(site: Site) -> None:
    stranger = month(1, signer=FORGER)
    report = post_credentials(site.ledger, site.store, site.admin, [stranger])
    assert report.posted == 0
    assert f"issuer {FORGER.did} is not a registered" in report.rejected[0][1]
    # Readings outside the device's registration (before it was installed) are caught too.
    register_device(
        site.ledger, site.admin, device_id="m2", did=FORGER.did, site="acme-hq", meter="E1",
        valid_from=date(2023, 2, 1),
    )  # fmt: skip
    site.post(stranger, check=False)
    (finding, *_) = site.audit().findings
    assert finding.verdict == "contradicted"
    assert "registration: device 'm2' is registered to acme-hq/E1 from 2023-02-01" in finding.reason


def test_an_expired_credential_is_caught(site: Site) -> None:
    expired = month(1, validUntil="2023-02-01T00:00:00Z")
    report = post_credentials(site.ledger, site.store, site.admin, [expired])
    assert report.posted == 0
    assert "expired" in report.rejected[0][1]
    site.post(expired, check=False)
    (finding, *_) = site.audit().findings
    assert finding.verdict == "contradicted"
    assert "expired: validUntil 2023-02-01T00:00:00Z" in finding.reason


def test_a_revoked_credential_is_caught(site: Site) -> None:
    url = "urn:carbonledger:status:m1"
    bits = BitstringStatusList()
    publish_status_list(site.ledger, site.admin, issue_status_list(bits, METER, list_id=url))
    site.post(month(1, credentialStatus=status_entry(url, 3)), bill(1))
    assert verdicts(site.audit())[0] == "verified"
    bits.set(3)
    publish_status_list(site.ledger, site.admin, issue_status_list(bits, METER, list_id=url))
    (finding, *_) = site.audit().findings
    assert finding.verdict == "contradicted"
    assert f"revoked: status list {url} has bit 3 set" in finding.reason


def test_a_revoked_device_key_is_caught(site: Site) -> None:
    site.post(month(1))
    # The key leaked before the readings were posted: revocation is backdated.
    leaked = datetime.now(UTC) - timedelta(days=1)
    set_device_status(site.ledger, site.admin, "m1", status="revoked", effective=leaked)
    (finding, *_) = site.audit().findings
    assert finding.verdict == "contradicted"
    assert "revoked: device 'm1' was revoked effective" in finding.reason


def test_missing_readings_leave_a_record_unverifiable(site: Site) -> None:
    half = month(1)
    subject = half["credentialSubject"]
    rows = [(r["start"], r["value"]) for r in subject["readings"][:336]]
    unsigned = meter_readings_credential(
        issuer=METER.did, meter_id="E1", site_id="acme-hq", interval_seconds=3600,
        readings=rows, valid_from=datetime(2023, 1, 28, tzinfo=UTC),
    )  # fmt: skip
    site.post(issue(unsigned, METER))
    (finding, *_) = site.audit().findings
    assert finding.verdict == "unverifiable"
    assert "readings cover only 50.0% of the period" in finding.reason


def test_conflicting_readings_for_one_interval_are_a_contradiction(site: Site) -> None:
    first = month(1)
    rows = [(r["start"], "2000") for r in first["credentialSubject"]["readings"][:24]]
    other = meter_readings_credential(
        issuer=METER.did, meter_id="E1", site_id="acme-hq", interval_seconds=3600,
        readings=rows, valid_from=datetime(2023, 1, 28, tzinfo=UTC),
    )  # fmt: skip
    site.post(first, issue(other, METER))
    (finding, *_) = site.audit().findings
    assert finding.verdict == "contradicted"
    assert "signed two readings for 2023-01-01T00:00:00Z" in finding.reason


def test_an_auditor_with_access_runs_it_and_the_read_is_recorded(site: Site) -> None:
    site.post(month(1))
    dana = site.user("audits", "dana", ["auditor"])
    grant(site.ledger, site.store, site.admin, "acme", dana.address, role="auditor")
    report = run_digital_audit(site.ledger, site.store, dana, "acme", start=YEAR[0], end=YEAR[1])
    assert verdicts(report)[0] == "verified"
    reads = [s.item for s in site.ledger.items(ItemQuery(kind="channel_read"))]
    assert reads[-1]["purpose"] == "digital audit"
    assert site.ledger.verify().ok


def test_streaming_flags_a_mismatch_as_soon_as_it_is_certain(site: Site) -> None:
    monitor = ReadingsMonitor(site.ledger, site.store, site.admin, "acme")
    start = datetime(2023, 1, 1, tzinfo=UTC)

    def week(n: int, wh: str) -> dict:  # type: ignore[type-arg]
        rows = [(start + timedelta(days=7 * n, hours=h), wh) for h in range(7 * 24)]
        return issue(
            meter_readings_credential(
                issuer=METER.did, meter_id="E1", site_id="acme-hq", interval_seconds=3600,
                readings=rows, valid_from=start + timedelta(days=7 * n + 7),
            ),
            METER,
        )  # fmt: skip

    assert [e.kind for e in monitor.observe(week(0, "1000"))] == ["pending"]
    # Week 2 at 4 kWh an hour: 168 + 672 = 840 kWh already exceeds 672 kWh + 3.36.
    (event,) = monitor.observe(week(1, "4000"))
    assert (event.kind, event.record) == (
        "mismatch",
        site.audit(record=False).findings[0].record_id,
    )
    assert "sum to 840 kWh" in event.reason
    (invalid,) = monitor.observe(month(2, signer=FORGER))
    assert invalid.kind == "invalid"
    # A full month that matches is verified at once.
    assert [e.kind for e in monitor.observe(month(2))] == ["verified"]


@given(
    index=st.integers(0, 28 * 24 - 1),
    value=st.integers(0, 10**7).map(str),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_changed_reading_breaks_the_proof(index: int, value: str) -> None:
    credential = _SIGNED
    rows = credential["credentialSubject"]["readings"]
    if rows[index]["value"] == value:
        return
    changed = {**credential, "credentialSubject": {**credential["credentialSubject"]}}
    changed["credentialSubject"]["readings"] = [dict(r) for r in rows]
    changed["credentialSubject"]["readings"][index]["value"] = value
    result = verify(changed)
    assert not result.ok
    assert any(e.startswith("signature") for e in result.errors)


_SIGNED = month(1)


@given(kwh=st.decimals(min_value=0, max_value=10**6, places=3), days=st.integers(1, 31))
@settings(max_examples=60, deadline=None)
def test_demo_readings_sum_exactly_to_the_bill(kwh: Decimal, days: int) -> None:
    rows = hourly_readings(date(2023, 1, 1), date(2023, 1, days), kwh)
    assert len(rows) == days * 24
    assert sum(v for _, v in rows) == int((kwh * 1000).to_integral_value())
    assert all(v >= 0 for _, v in rows)


def test_meter_demo_contradicts_exactly_one_month(tmp_path: Path) -> None:
    world = World(tmp_path / "home")
    for m in range(1, 13):
        world.bills(world.admin, "acme-hq", range(m, m + 1), amount=str(50_000 + 1_000 * m))
    summary = run_meter_demo(world.ledger, world.store, world.admin, org="acme", site="acme-hq")
    assert summary["readings"] == 8 * 28 * 24 + 4 * 28 * 24  # 28-day test bills
    assert summary["credentials_posted"] == 24
    assert summary["audit"]["counts"] == {"verified": 11, "unverifiable": 0, "contradicted": 1}
    (bad,) = summary["contradicted"]
    assert bad["period"] == ["2023-07-01", "2023-07-28"]
    assert "sum to 52440 kWh; the bill says 57000 kWh" in bad["reason"]
    assert [e["kind"] for e in summary["streaming"]].count("mismatch") == 1
    assert world.ledger.verify().ok


@pytest.mark.parametrize("with_numpy", [True, False])
def test_fast_readings_checks_what_validate_checks(
    with_numpy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carbonledger.credentials.types import validate_meter_readings
    from carbonledger.errors import InvalidInput
    from carbonledger.services import credential_checks, digital_auditor

    if not with_numpy:
        monkeypatch.setattr(credential_checks, "_np", None)
    times, values = digital_auditor.fast_readings(_SIGNED)
    assert len(times) == 672
    assert times[1] - times[0] == 3600
    assert sum(values) == Decimal(672_000)
    for index, value in ((0, "1e3"), (5, "-1"), (7, " 1"), (9, "NaN")):
        bad = {**_SIGNED, "credentialSubject": {**_SIGNED["credentialSubject"]}}
        bad["credentialSubject"]["readings"] = [
            dict(r) for r in _SIGNED["credentialSubject"]["readings"]
        ]
        bad["credentialSubject"]["readings"][index]["value"] = value
        for check in (validate_meter_readings, digital_auditor.fast_readings):
            with pytest.raises(InvalidInput):
                check(bad)
    off_grid = {**_SIGNED, "credentialSubject": {**_SIGNED["credentialSubject"]}}
    rows = [dict(r) for r in _SIGNED["credentialSubject"]["readings"]]
    rows[3]["start"] = "2023-01-01T03:30:00Z"
    off_grid["credentialSubject"]["readings"] = rows
    for check in (validate_meter_readings, digital_auditor.fast_readings):
        with pytest.raises(InvalidInput, match="grid"):
            check(off_grid)
