"""Bills to emissions records on the ledger: validate, calculate, sign, append.

Behaviour (documented for users in the README):

* every bad row is reported with its line, field and reason and skipped; the
  good rows are recorded;
* a bill already on the ledger (same site, account and period, same amount,
  unit and activity) is counted as a duplicate and not recorded again, so a
  re-run of an import, complete or interrupted, records each bill once;
* a bill whose period overlaps an accepted period of the same account, or
  that repeats a period with a different amount, is rejected as overlapping;
* records are signed in transactions of ``batch_size`` records and committed
  ``commit_every`` transactions at a time; each commit is atomic, so a crash
  loses at most the uncommitted batch, which a re-run then records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from carbonledger.core.calculator import calculate
from carbonledger.core.domain import Bill, PeriodIndex, overlap_error
from carbonledger.core.factors import Location, Resolution
from carbonledger.core.units import normalise_unit
from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, RowError
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import LedgerPort

__all__ = ["ImportReport", "import_bills", "record_item", "site_location"]


@dataclass
class ImportReport:
    """What an import did: every row is recorded, a duplicate, or rejected."""

    rows: int = 0
    recorded: int = 0
    duplicates: int = 0
    rejected: list[RowError] = field(default_factory=list)
    kg_co2e: Decimal = Decimal(0)
    record_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "recorded": self.recorded, "duplicates": self.duplicates,
            "rejected": [{"line": e.line, "field": e.field, "reason": e.reason}
                         for e in self.rejected],
            "kg_co2e": str(self.kg_co2e),
        }


def site_location(site: dict[str, Any]) -> Location:
    return Location(zip=site.get("zip"), utility_id=site.get("utility_id"),
                    subregion=site.get("subregion"), state=site.get("state"),
                    country=site.get("country"))


def record_item(bill: Bill, rid: str, org: str, source: str | None,
                result_trace: dict[str, Any], kg_co2e: Decimal) -> dict[str, Any]:
    """The ledger item of one emissions record (``rid`` is ``bill.record_id``)."""
    return {
        "kind": "emissions_record",
        "id": rid,
        "org": org,
        "site": bill.site,
        "account": bill.account,
        "activity": bill.activity,
        "period": {"start": bill.start.isoformat(), "end": bill.end.isoformat()},
        "amount": str(bill.amount),
        "unit": bill.unit,
        "cost": None if bill.cost is None else str(bill.cost),
        "currency": bill.currency,
        "document_sha256": bill.document_sha256,
        "source": source,
        "kg_co2e": str(kg_co2e),
        "trace": result_trace,
    }


def _same_quantity(amount: str, unit: str, bill: Bill) -> bool:
    try:
        return Decimal(amount) == bill.amount and normalise_unit(unit) == normalise_unit(bill.unit)
    except CarbonLedgerError:
        return False


class _Known:
    """Accepted periods: from the ledger, then from this import as rows are accepted."""

    def __init__(self, ledger: LedgerPort, accounts: Sequence[str]) -> None:
        self.index = PeriodIndex()
        self.exact: dict[tuple[str, date, date], tuple[str, str, str]] = {}
        for p in ledger.periods(accounts):
            start, end = date.fromisoformat(p.start), date.fromisoformat(p.end)
            self.add(p.account, start, end, p.record_id, p.amount, p.unit)

    def add(self, account: str, start: date, end: date, rid: str, amount: str, unit: str) -> None:
        self.index.add(account, start, end, rid)
        self.exact[(account, start, end)] = (rid, amount, unit)


def import_bills(
    ledger: LedgerPort,
    key: PrivateKey,
    catalog: FactorCatalog,
    bills: Sequence[Bill],
    *,
    source: str | None = None,
    batch_size: int = 1000,
    commit_every: int = 10,
    progress: Callable[[int], None] | None = None,
    report: ImportReport | None = None,
) -> ImportReport:
    """Record ``bills`` on ``ledger``, signed with ``key``; see the module docstring."""
    report = report if report is not None else ImportReport()
    report.rows += len(bills)
    state = ledger.state()
    if state.ledger_id is None:
        raise CarbonLedgerError("the ledger has no genesis entry; run `carbonledger init`")
    known = _Known(ledger, sorted({f"{b.site}/{b.account}" for b in bills}))
    resolutions: dict[tuple[str, str, int], Resolution] = {}
    nonce = state.next_nonce(key.address)
    batch: list[dict[str, Any]] = []
    pending: list[Any] = []

    def flush(final: bool = False) -> None:
        nonlocal nonce, batch
        if batch:
            pending.append(build_tx(key, tx_type="record_emissions", ledger_id=state.ledger_id or "",
                                    nonce=nonce, created=utc_now(), items=batch))
            nonce += 1
            batch = []
        if pending and (final or len(pending) >= commit_every):
            ledger.submit(pending)
            if progress is not None:
                progress(sum(tx.body["count"] for tx in pending))
            pending.clear()

    for bill in bills:
        line = bill.line or 0
        site = state.sites.get(bill.site)
        if site is None:
            report.rejected.append(RowError(line, "site", f"site {bill.site!r} is not registered"))
            continue
        account = f"{bill.site}/{bill.account}"
        same = known.exact.get((account, bill.start, bill.end))
        if same is not None:
            if _same_quantity(same[1], same[2], bill):
                report.duplicates += 1
            else:
                report.rejected.append(RowError(
                    line, "period", f"{bill.start}..{bill.end} for account {bill.account!r} is"
                    f" already recorded with {same[1]} {same[2]} (record {same[0]})"))
            continue
        other = known.index.overlap(account, bill.start, bill.end)
        if other is not None:
            report.rejected.append(RowError(line, "period", str(overlap_error(bill, other))))
            continue
        try:
            rkey = (bill.site, bill.activity, bill.year)
            resolution = resolutions.get(rkey)
            if resolution is None:
                resolution = catalog.resolve(bill.activity, site_location(site), year=bill.year)
                resolutions[rkey] = resolution
            result = calculate(bill.amount, bill.unit, resolution)
        except CarbonLedgerError as exc:
            report.rejected.append(RowError(line, "unit" if "unit" in str(exc) else "site",
                                            str(exc)))
            continue
        rid = bill.record_id
        known.add(account, bill.start, bill.end, rid, str(bill.amount), bill.unit)
        batch.append(record_item(bill, rid, site["org"], source, result.trace, result.kg_co2e))
        report.recorded += 1
        report.kg_co2e += result.kg_co2e
        if len(report.record_ids) < 10_000:
            report.record_ids.append(rid)
        if len(batch) >= batch_size:
            flush()
    flush(final=True)
    return report
