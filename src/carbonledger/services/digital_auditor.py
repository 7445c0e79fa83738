"""The digital auditor: every emissions record checked against signed meter and utility data.

For each emissions record of an organisation in a period, the auditor (a channel
member: an auditor granted access, or an admin of the organisation) opens the
sealed bill amount and looks for credentials anchored on the ledger for the same
site and account:

* **meter readings**: MeterReadingsCredentials of a device registered (on the
  ledger) to that site and meter. The readings whose interval *starts* inside the
  bill period (its dates taken as whole UTC days, end inclusive) are summed; they
  support the record when they cover every interval of the period and their sum
  equals the billed amount within :data:`TOLERANCE` (the larger of 0.5 % of the
  bill and 1 kWh). A sum above the bill plus the tolerance contradicts the record
  even when readings are missing; a shortfall with readings missing only leaves
  it unverifiable. The same interval read twice with different values is a
  contradiction.
* **utility bill**: a UtilityBillCredential for the same site, account and exact
  period from the utility registered for that account (or for the site's EIA
  utility id), whose amount, converted to the record's unit, equals it exactly.

Every credential used must hold: it is the one anchored (its JCS SHA-256),
well formed, its proof verifies, its issuer is the DID registered for that
device or utility, it was valid (``validFrom``/``validUntil``) when it was
anchored (the ledger's time, not the device's), it is not revoked in the
issuer's status list on the ledger, its readings fall inside the device's
registration, and it was not anchored after the device's revocation took effect.

A record is *contradicted* when any matching credential fails a check or
disagrees with it (the reason names which and why), *verified* when meter
readings or a utility bill support it and nothing contradicts it, and
*unverifiable* otherwise. The findings go into an AuditResultCredential signed
by the auditor's ``did:key``, sealed in the organisation's channel, with its
SHA-256 recorded on the ledger.

:class:`carbonledger.services.readings_monitor.ReadingsMonitor` is the streaming
mode: it checks readings as they
arrive against the bills already recorded for that meter and reports a
mismatch as soon as one is certain.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from carbonledger.core.rules.channels import channel_access
from carbonledger.core.rules.common import is_org_admin
from carbonledger.core.units import convert, dimension
from carbonledger.credentials.did import Secp256k1Signer, Signer
from carbonledger.credentials.proof import canonicalize, parse_datetime
from carbonledger.credentials.types import (
    METER_READINGS,
    RecordVerdict,
    audit_result_credential,
)
from carbonledger.credentials.vc import issue
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, PermissionDenied
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort, Receipt
from carbonledger.services.access import ReadAccess, record_read
from carbonledger.services.channels import ChannelKeys, fresh_epochs, submit_one
from carbonledger.services.credential_checks import (
    TOLERANCE,
    WH_PER_KWH,
    CheckedCredential,
    CredentialChecker,
    Tolerance,
    bill_bounds,
    fast_readings,
    kwh_text,
)
from carbonledger.services.devices import CredentialReader, ledger_status_checker
from carbonledger.services.records import RecordReader

__all__ = [
    "TOLERANCE",
    "DigitalAuditReport",
    "Finding",
    "Tolerance",
    "fast_readings",
    "run_digital_audit",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """The verdict on one emissions record, with the reason and the evidence used."""

    record_id: str
    site: str
    account: str
    period: tuple[str, str]
    verdict: str  # verified | unverifiable | contradicted
    reason: str
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": self.record_id,
            "site": self.site,
            "account": self.account,
            "period": list(self.period),
            "verdict": self.verdict,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }


@dataclass
class DigitalAuditReport:
    """Every record's finding, the signed AuditResultCredential and where it was recorded."""

    id: str
    org: str
    start: date
    end: date
    auditor: str
    findings: list[Finding] = field(default_factory=list)
    credential: dict[str, Any] | None = None
    sha256: str | None = None
    receipt: Receipt | None = None

    @property
    def counts(self) -> dict[str, int]:
        out = {"verified": 0, "unverifiable": 0, "contradicted": 0}
        for f in self.findings:
            out[f.verdict] += 1
        return out

    def by_verdict(self, verdict: str) -> list[Finding]:
        return [f for f in self.findings if f.verdict == verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org": self.org,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "auditor": self.auditor,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
            "sha256": self.sha256,
            "entry": None if self.receipt is None else self.receipt.seq,
        }


def _meter_verdict(
    checked: list[CheckedCredential], bill_kwh: Decimal, ps: datetime, pe: datetime, tol: Tolerance
) -> tuple[str, str]:
    """('ok' | 'partial' | 'none' | 'contradicted', reason) for the meter readings of one bill."""
    values: dict[int, Decimal] = {}
    covered = 0
    names = []
    lo, hi = int(ps.timestamp()), int(pe.timestamp())
    for c in checked:
        names.append(c.anchor["holder"])
        if c.times and lo <= c.times[0] and c.times[-1] < hi and values.keys().isdisjoint(c.times):
            values.update(zip(c.times, c.values, strict=True))  # the usual case, at C speed
            covered += c.step * len(c.times)
            continue
        for at, wh in zip(c.times, c.values, strict=True):
            if not lo <= at < hi:
                continue
            seen = values.get(at)
            if seen is None:
                values[at] = wh
                covered += c.step
            elif seen != wh:
                return "contradicted", (
                    f"meter {c.anchor['holder']!r} signed two readings for"
                    f" {datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%SZ}: {seen} Wh and {wh} Wh"
                )
    if not values:
        return "none", ""
    total = sum(values.values(), Decimal(0)) / WH_PER_KWH
    allowed = tol.allowed(bill_kwh)
    diff = total - bill_kwh
    meters = "/".join(sorted(set(names)))
    told = (
        f"meter {meters!r}: {len(values)} signed readings sum to {kwh_text(str(total))} kWh;"
        f" the bill says {kwh_text(str(bill_kwh))} kWh (difference {kwh_text(str(diff))} kWh,"
        f" tolerance {kwh_text(str(allowed))} kWh)"
    )
    length = int((pe - ps).total_seconds())
    if diff > allowed or (covered >= length and abs(diff) > allowed):
        return "contradicted", told
    if covered < length:
        share = Decimal(covered * 100) / length
        return "partial", f"{told}; readings cover only {share:.1f}% of the period"
    return "ok", told


class _Evidence:
    """The organisation's anchored credentials by (site, account, type), checked lazily."""

    def __init__(self, ledger: LedgerPort, store: ChannelStore, key: PrivateKey, org: str) -> None:
        state = ledger.state()
        self._ledger = ledger
        self._reader = CredentialReader(ledger, store, key)
        self._checker = CredentialChecker(
            ledger, state.devices, state.sites, ledger_status_checker(ledger)
        )
        self._by: dict[tuple[str, str, str], list[tuple[dict[str, Any], int, int]]] = {}
        self._times: dict[int, datetime] = {}
        self._done: dict[str, CheckedCredential] = {}
        for stored in ledger.items(ItemQuery(kind="credential", org=org)):
            a = stored.item
            # Anchors name accounts by the reference records use (core.domain.account_ref).
            ref = str(a["account_ref"])
            self._by.setdefault((a["site"], ref, a["type"]), []).append(
                (a, stored.seq, stored.leaf_index)
            )

    def _anchored_at(self, seq: int, leaf: int) -> datetime:
        when = self._times.get(seq)
        if when is None:
            evidence = self._ledger.proof(leaf, with_tx=True).tx
            when = self._times[seq] = parse_datetime(str(evidence["ledger_time"]), "ledger time")
        return when

    def matching(
        self, site: str, account: str, kind: str, ps: datetime, pe: datetime
    ) -> list[CheckedCredential]:
        out = []
        for anchor, seq, leaf in self._by.get((site, account, kind), ()):
            a_start, a_end = _anchor_bounds(anchor["period"])
            if a_end <= ps or a_start >= pe:
                continue
            done = self._done.get(anchor["sha256"])
            if done is None:
                try:
                    credential: dict[str, Any] | None = self._reader.credential(anchor)
                    problem = None
                except CarbonLedgerError as exc:
                    credential, problem = None, str(exc)
                done = self._checker.check(anchor, credential, self._anchored_at(seq, leaf))
                if problem is not None:
                    done.problems[:] = [f"sealed credential: {problem}"]
                if len(self._done) >= 4096:  # bound memory: a year of hourly data is large
                    self._done.clear()
                self._done[anchor["sha256"]] = done
            out.append(done)
        return out


def _anchor_bounds(period: Mapping[str, str]) -> tuple[datetime, datetime]:
    start, end = period["start"], period["end"]
    if "T" in start:
        return parse_datetime(start, "start"), parse_datetime(end, "end")
    return bill_bounds(period)


def _bill_verdict(
    checked: list[CheckedCredential], record: Mapping[str, Any], amount: Decimal, unit: str
) -> tuple[str, str]:
    period = record["period"]
    same = [
        c
        for c in checked
        if c.credential is None
        or (
            c.anchor["period"]["start"] == period["start"]
            and c.anchor["period"]["end"] == period["end"]
        )
    ]
    if not same:
        return "none", ""
    for c in same:
        if c.problems or c.credential is None:
            continue
        subject = c.credential["credentialSubject"]
        try:
            billed = convert(Decimal(subject["amount"]), subject["unit"], unit)
        except CarbonLedgerError as exc:
            return "contradicted", f"utility bill credential {c.anchor['id']}: {exc}"
        if billed != amount:
            return "contradicted", (
                f"utility {c.anchor['holder']!r} billed {subject['amount']} {subject['unit']}"
                f" for {period['start']}..{period['end']}; the record says {amount} {unit}"
            )
        return "ok", f"utility {c.anchor['holder']!r} billed {subject['amount']} {subject['unit']}"
    return "none", ""


def _judge(
    evidence: _Evidence, record: Mapping[str, Any], detail: Mapping[str, Any], tol: Tolerance
) -> Finding:
    site, ref = record["site"], record["account"]
    # The account number is sealed with the details; the public item has its reference.
    account = str(detail.get("account", ref))
    period = record["period"]
    ps, pe = bill_bounds(period)
    amount, unit = Decimal(str(detail["amount"])), str(detail["unit"])
    meters = evidence.matching(site, ref, METER_READINGS, ps, pe)
    bills = evidence.matching(site, ref, "UtilityBillCredential", ps, pe)

    def finding(verdict: str, reason: str, used: Iterable[str] = ()) -> Finding:
        return Finding(
            record["id"],
            site,
            account,
            (period["start"], period["end"]),
            verdict,
            reason,
            tuple(used),
        )

    for c in (*meters, *bills):
        if c.problems:
            what = "meter readings" if c.anchor["type"] == METER_READINGS else "utility bill"
            return finding(
                "contradicted",
                f"{what} credential {c.anchor['id']} from {c.anchor['holder']!r}: "
                + "; ".join(c.problems),
                [c.anchor["id"]],
            )
    used = [c.anchor["id"] for c in (*meters, *bills)]
    reasons: list[str] = []
    supported = False
    if meters:
        if dimension(unit) != "energy":
            reasons.append(f"meter readings are energy; the bill is in {unit}")
        else:
            state, why = _meter_verdict(meters, convert(amount, unit, "kWh"), ps, pe, tol)
            if state == "contradicted":
                return finding("contradicted", why, used)
            supported |= state == "ok"
            if why:
                reasons.append(why)
    state, why = _bill_verdict(bills, record, amount, unit)
    if state == "contradicted":
        return finding("contradicted", why, used)
    supported |= state == "ok"
    if why:
        reasons.append(why)
    if supported:
        return finding("verified", "; ".join(reasons), used)
    if not used:
        return finding("unverifiable", f"no credentials for {site}/{account} in the period")
    return finding("unverifiable", "; ".join(reasons) or "no credential covers the period", used)


def run_digital_audit(
    ledger: LedgerPort,
    store: ChannelStore,
    key: PrivateKey,
    org: str,
    *,
    start: date,
    end: date,
    signer: Signer | None = None,
    tolerance: Tolerance = TOLERANCE,
    record: bool = True,
) -> DigitalAuditReport:
    """Audit ``org``'s records whose period overlaps [start, end] against its credentials.

    ``key`` must be able to read the organisation's channel (an auditor with access,
    who records a ``channel_read`` first, or an admin). ``signer`` signs the
    AuditResultCredential; by default the key's own ``did:key`` (secp256k1). With
    ``record`` the credential is sealed in the channel and its hash put on the ledger.
    """
    state = ledger.state()
    channel_access(state, org, key.address)  # a clear error before anything else
    roles = state.identities.get(key.address, {}).get("roles", ())
    if not is_org_admin(state, key.address, org) and key.address != state.admin:
        if "auditor" not in roles:
            raise PermissionDenied(f"{key.address} is neither an auditor nor an admin of {org!r}")
        period = (start.isoformat(), end.isoformat())
        record_read(ledger, key, org, purpose="digital audit", period=period)
    signer = signer or Secp256k1Signer(key)
    # The read was recorded above, with its purpose and period.
    access = ReadAccess(ledger, key, recorded={org})
    reader = RecordReader.for_member(ledger, store, key, access=access)
    evidence = _Evidence(ledger, store, key, org)
    report = DigitalAuditReport(f"ar-{uuid.uuid4().hex[:16]}", org, start, end, signer.did)
    query = ItemQuery(
        kind="emissions_record", org=org, since=start.isoformat(), until=end.isoformat()
    )
    for stored in ledger.items(query):
        item = stored.item
        try:
            detail = reader.detail(item)
        except CarbonLedgerError as exc:
            report.findings.append(
                Finding(
                    item["id"],
                    item["site"],
                    item["account"],
                    (item["period"]["start"], item["period"]["end"]),
                    "contradicted",
                    f"its sealed bill details do not open: {exc}",
                )
            )
            continue
        report.findings.append(_judge(evidence, item, detail, tolerance))
    unsigned = audit_result_credential(
        issuer=signer.did,
        organisation=org,
        period_start=start,
        period_end=end,
        records=[RecordVerdict(f.record_id, f.verdict, f.reason) for f in report.findings],  # type: ignore[arg-type]
        credential_id=f"urn:carbonledger:audit:{report.id}",
    )
    report.credential = issue(unsigned, signer)
    report.sha256 = hashlib.sha256(canonicalize(report.credential)).hexdigest()
    if record:
        report.receipt = _record(ledger, store, key, report)
    return report


def _record(
    ledger: LedgerPort, store: ChannelStore, key: PrivateKey, report: DigitalAuditReport
) -> Receipt:
    fresh_epochs(ledger, store, key, [report.org])
    state = ledger.state()
    epoch = int(state.channels[report.org]["epoch"])
    keys = ChannelKeys(state, store, key)
    blob_id, blob = keys.seal(report.org, epoch, orjson.dumps(report.credential))
    item = {
        "kind": "audit_result",
        "id": report.id,
        "org": report.org,
        "auditor": report.auditor,
        "sha256": report.sha256,
        "period": {"start": report.start.isoformat(), "end": report.end.isoformat()},
        "counts": report.counts,
        "sealed": {"channel": report.org, "epoch": epoch, "blob": blob_id},
    }
    return submit_one(ledger, key, "audit_result", [item], [blob])
