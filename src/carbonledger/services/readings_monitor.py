"""The streaming monitor: meter readings checked against the recorded bills as they arrive.

The same tolerance and credential checks as the digital audit
(:mod:`carbonledger.services.digital_auditor`, which classifies every record at
once), applied one posted MeterReadingsCredential at a time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from carbonledger.core.rules.channels import channel_access
from carbonledger.core.units import convert, dimension
from carbonledger.credentials.proof import canonicalize
from carbonledger.credentials.types import METER_READINGS
from carbonledger.credentials.vc import issuer_id
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from carbonledger.services.credential_checks import (
    TOLERANCE,
    WH_PER_KWH,
    CredentialChecker,
    Tolerance,
    bill_bounds,
    kwh_text,
)
from carbonledger.services.devices import ledger_status_checker
from carbonledger.services.records import RecordReader

__all__ = ["AuditEvent", "ReadingsMonitor"]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What the monitor concluded from one credential for one record (or the credential)."""

    kind: str  # invalid | mismatch | verified | pending
    credential: str
    record: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "credential": self.credential,
            "record": self.record,
            "reason": self.reason,
        }


@dataclass
class _Bill:
    record: dict[str, Any]
    kwh: Decimal
    start: datetime
    end: datetime
    values: dict[int, Decimal] = field(default_factory=dict)
    covered: int = 0
    settled: bool = False


class ReadingsMonitor:
    """Checks meter readings as they arrive against the bills recorded for that meter.

    Build it once (it opens the organisation's sealed bill amounts with ``key``),
    then call :meth:`observe` with each credential posted. A mismatch is reported
    as soon as it is certain: at once when the readings so far already exceed the
    bill plus the tolerance, otherwise when the period is fully covered.
    """

    def __init__(
        self,
        ledger: LedgerPort,
        store: ChannelStore,
        key: PrivateKey,
        org: str,
        *,
        tolerance: Tolerance = TOLERANCE,
    ) -> None:
        state = ledger.state()
        channel_access(state, org, key.address)
        self._tol = tolerance
        self._checker = CredentialChecker(
            ledger, state.devices, state.sites, ledger_status_checker(ledger)
        )
        self._devices = state.devices
        reader = RecordReader.for_member(ledger, store, key)
        self._bills: dict[tuple[str, str], list[_Bill]] = {}
        for stored in ledger.items(ItemQuery(kind="emissions_record", org=org)):
            item = stored.item
            detail = reader.detail(item)
            unit = str(detail["unit"])
            if dimension(unit) != "energy":
                continue
            ps, pe = bill_bounds(item["period"])
            kwh = convert(Decimal(str(detail["amount"])), unit, "kWh")
            self._bills.setdefault((item["site"], item["account"]), []).append(
                _Bill(item, kwh, ps, pe)
            )

    def observe(
        self, credential: dict[str, Any], *, anchored_at: datetime | None = None
    ) -> list[AuditEvent]:
        """Check one MeterReadingsCredential; return what it showed, mismatches first."""
        name = f"vc-{hashlib.sha256(canonicalize(credential)).hexdigest()[:40]}"
        issuer = issuer_id(credential)
        holder = next(
            (
                h
                for h in self._devices.values()
                if h.get("kind") == "device" and h.get("did") == issuer
            ),
            None,
        )
        if holder is None:
            return [
                AuditEvent("invalid", name, None, f"issuer {issuer} is not a registered device")
            ]
        subject = credential.get("credentialSubject") or {}
        anchor = {
            "id": name,
            "type": METER_READINGS,
            "issuer": issuer,
            "holder": holder["id"],
            "site": subject.get("siteId"),
            "account_ref": holder["meter_ref"],
        }
        checked = self._checker.check(anchor, credential, anchored_at or datetime.now(UTC))
        if checked.problems:
            return [AuditEvent("invalid", name, None, "; ".join(checked.problems))]
        events = []
        ref = str(holder["meter_ref"])
        for bill in self._bills.get((holder["site"], ref), ()):
            if bill.settled:
                continue
            touched = False
            lo, hi = int(bill.start.timestamp()), int(bill.end.timestamp())
            for at, wh in zip(checked.times, checked.values, strict=True):
                if lo <= at < hi and at not in bill.values:
                    bill.values[at] = wh
                    bill.covered += checked.step
                    touched = True
            if touched:
                events.append(self._settle(bill, name))
        events.sort(key=lambda e: e.kind != "mismatch")
        return events

    def _settle(self, bill: _Bill, name: str) -> AuditEvent:
        total = sum(bill.values.values(), Decimal(0)) / WH_PER_KWH
        allowed = self._tol.allowed(bill.kwh)
        diff = total - bill.kwh
        complete = bill.covered >= int((bill.end - bill.start).total_seconds())
        rid = bill.record["id"]
        told = (
            f"readings so far sum to {kwh_text(str(total))} kWh; the bill"
            f" {bill.record['period']['start']}..{bill.record['period']['end']} says"
            f" {kwh_text(str(bill.kwh))} kWh (tolerance {kwh_text(str(allowed))} kWh)"
        )
        if diff > allowed or (complete and abs(diff) > allowed):
            bill.settled = True
            return AuditEvent("mismatch", name, rid, told)
        if complete:
            bill.settled = True
            return AuditEvent("verified", name, rid, told)
        return AuditEvent("pending", name, rid, told)
