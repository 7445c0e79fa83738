"""The auditor's workflow: read an organisation's channel, check every record, sign a report.

For each emissions record of the organisation in the period the auditor (who
must hold the auditor role and current access to the organisation's channel):

* opens its sealed details and checks them against the record's commitment;
* recomputes the emissions from the billed amount and the calculation basis;
* checks the record's inclusion proof against the latest signed checkpoint.

The read itself is a ledger transaction, made before anything is decrypted;
the report is signed by the auditor as another. Its public item holds the
counts and the ids of the records that did not hold; the totals (by site, scope
and month) and the reasons are sealed in the organisation's channel beside it,
since a monthly total of one site is one bill's result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from carbonledger.core.canonical import canonical
from carbonledger.core.merkle import leaf_hash, verify_inclusion
from carbonledger.core.rules.channels import channel_access
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, PermissionDenied
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort, Receipt
from carbonledger.services.access import ReadAccess, record_read
from carbonledger.services.channels import ChannelKeys, fresh_epochs, submit_one
from carbonledger.services.records import RecordReader
from carbonledger.services.sealing import DetailReader, pad_to_bucket
from carbonledger.services.totals import RecordResult, Totals

__all__ = ["AuditReport", "run_audit"]


@dataclass
class AuditReport:
    id: str
    org: str
    start: date
    end: date
    auditor: str
    records: int = 0
    verified: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    #: The verified records' kg CO2e, summed as every other report sums them.
    totals: Totals = field(default_factory=Totals)
    receipt: Receipt | None = None

    @property
    def total_kg_co2e(self) -> Decimal:
        return self.totals.kg_co2e

    @property
    def by_site(self) -> dict[str, Decimal]:
        return self.totals.by_site

    @property
    def by_scope(self) -> dict[str, Decimal]:
        return dict(self.totals.by_scope)

    @property
    def by_month(self) -> dict[str, Decimal]:
        return dict(self.totals.by_month)

    def item(self) -> dict[str, Any]:
        """The report's public ledger item: counts and the ids of failed records."""
        return {
            "kind": "audit_report",
            "id": self.id,
            "org": self.org,
            "channel": self.org,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "auditor": self.auditor,
            "records": self.records,
            "verified": self.verified,
            "failures": [f["record"] for f in self.failures],
        }

    def sealed(self) -> dict[str, Any]:
        """What the channel's members read: totals (amounts as strings) and the reasons."""
        return {
            "failures": self.failures,
            "totals": {
                "kg_co2e": str(self.total_kg_co2e),
                "by_site": {k: str(v) for k, v in sorted(self.by_site.items())},
                "by_scope": {k: str(v) for k, v in sorted(self.by_scope.items())},
                "by_month": {k: str(v) for k, v in sorted(self.by_month.items())},
            },
        }


def _check_record(
    ledger: LedgerPort,
    *,
    reader: RecordReader,
    index: int,
    data: bytes,
    item: dict[str, Any],
    root: bytes,
) -> list[str]:
    reasons: list[str] = []
    try:
        again = reader.recompute(item)
        sealed = reader.full(item)["kg_co2e"]
        if str(again["kg_co2e"]) != sealed:
            reasons.append(
                f"kg_co2e {sealed} does not recompute from its activity and factor"
                f" ({again['kg_co2e']})"
            )
    except CarbonLedgerError as exc:
        reasons.append(str(exc))
    proof = ledger.proof(index, with_tx=False)
    path = [bytes.fromhex(h) for h in proof.path]
    if not verify_inclusion(leaf_hash(data), index, proof.tree_size, path, root):
        reasons.append("its inclusion proof does not lead to the signed checkpoint")
    return reasons


def run_audit(
    ledger: LedgerPort,
    store: ChannelStore,
    auditor: PrivateKey,
    org: str,
    *,
    start: date,
    end: date,
) -> AuditReport:
    """Audit ``org``'s records whose period overlaps [start, end]; sign and record the report."""
    state = ledger.state()
    ident = state.identities.get(auditor.address, {})
    if "auditor" not in ident.get("roles", ()):
        raise PermissionDenied(f"{auditor.address} does not hold the auditor role")
    channel_access(state, org, auditor.address)  # a clear error before any transaction
    period = (start.isoformat(), end.isoformat())
    record_read(ledger, auditor, org, purpose="audit", period=period)
    access = ReadAccess(ledger, auditor, recorded={org})
    keys = ChannelKeys(ledger.state(), store, auditor, access=access)
    reader = RecordReader(ledger, DetailReader(keys, store))
    report = AuditReport(f"audit-{uuid.uuid4().hex[:12]}", org, start, end, auditor.address)
    query = ItemQuery(
        kind="emissions_record", org=org, since=start.isoformat(), until=end.isoformat()
    )
    head = None
    for stored in ledger.items(query):
        if head is None:
            head = bytes.fromhex(ledger.proof(stored.leaf_index, with_tx=False).checkpoint.root)
        item = stored.item
        report.records += 1
        reasons = _check_record(
            ledger, reader=reader, index=stored.leaf_index, data=stored.data, item=item, root=head
        )
        if reasons:
            report.failures.append({"record": item["id"], "site": item["site"], "reasons": reasons})
            continue
        report.verified += 1
        report.totals.add(RecordResult(item, Decimal(reader.full(item)["kg_co2e"])))
    if fresh_epochs(ledger, store, auditor, [org]):
        keys = ChannelKeys(ledger.state(), store, auditor, access=access)
    epoch = int(ledger.state().channels[org]["epoch"])
    blob_id, blob = keys.seal(org, epoch, pad_to_bucket(canonical(report.sealed())))
    item = {**report.item(), "sealed": {"channel": org, "epoch": epoch, "blob": blob_id}}
    report.receipt = submit_one(ledger, auditor, "audit_report", [item], [blob])
    return report


def report_digest(report: AuditReport) -> str:
    import hashlib

    return hashlib.sha256(canonical(report.item())).hexdigest()
