"""Emission totals per site, month, scope and activity: the one place they are summed.

The dashboard, the audit report, the demo's summary and the Scope 2 report all
show per-site figures of the same records; they all add records through
:class:`Totals` (which attributes a record to its site, the month its period
starts, its scope and its activity), so the same ledger gives the same figures
everywhere. Results are read through :func:`readable_results`, which opens what
the reader can open and counts what stays sealed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from carbonledger.core.units import factor_between, normalise_unit
from carbonledger.errors import CarbonLedgerError
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from carbonledger.services.record_values import record_kg
from carbonledger.services.records import RecordReader

__all__ = ["RecordResult", "SiteTotal", "Totals", "emission_totals", "readable_results"]


@dataclass(frozen=True)
class RecordResult:
    """A record and its result as the reader sees it: ``kg_co2e`` None when sealed for
    this reader, ``trace`` None when only the result was opened."""

    item: dict[str, Any]
    kg_co2e: Decimal | None
    trace: dict[str, Any] | None = None


@dataclass
class SiteTotal:
    """One site's records: their number, kg CO2e, billed electricity and factors used."""

    records: int = 0
    kg_co2e: Decimal = Decimal(0)
    #: Electricity billed, in kWh (from the records whose trace the reader opened).
    kwh: Decimal = Decimal(0)
    #: ``edition region`` of each factor behind the figure (when the trace was opened).
    factors: set[str] = field(default_factory=set)


@dataclass
class Totals:
    """kg CO2e per site, month (of the period's start), scope and activity."""

    sites: dict[str, SiteTotal] = field(default_factory=lambda: defaultdict(SiteTotal))
    by_month: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    by_scope: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    by_activity: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    records: int = 0
    #: Records whose result the reader could not open (sealed in a channel).
    sealed: int = 0

    @property
    def kg_co2e(self) -> Decimal:
        return sum((s.kg_co2e for s in self.sites.values()), Decimal(0))

    @property
    def by_site(self) -> dict[str, Decimal]:
        return {site: s.kg_co2e for site, s in self.sites.items()}

    def add(self, result: RecordResult) -> None:
        """Count one record's result (a sealed one only as sealed)."""
        item, kg = result.item, result.kg_co2e
        if kg is None:
            self.sealed += 1
            return
        site = self.sites[str(item["site"])]
        site.records += 1
        site.kg_co2e += kg
        trace = result.trace
        if trace is not None:
            if item.get("activity") == "electricity":
                inputs = trace["inputs"]
                unit = normalise_unit(inputs["unit"])
                site.kwh += Decimal(inputs["amount"]) * factor_between(unit, "kWh")
            factor = trace.get("factor") or {}
            site.factors.add(f"{factor.get('edition')} {factor.get('region_key')}")
        self.by_month[str(item["period"]["start"])[:7]] += kg
        self.by_scope[str(item["trace"].get("scope"))] += kg
        self.by_activity[str(item.get("activity"))] += kg
        self.records += 1


def readable_results(
    ledger: LedgerPort,
    reader: RecordReader,
    query: ItemQuery,
    *,
    traces: bool = False,
    activity: str | None = None,
) -> Iterator[RecordResult]:
    """Each emissions record of ``query`` (of ``activity`` only, if given) with its result
    as far as ``reader`` opens it; ``traces`` opens each full trace too (a member's key:
    a record it cannot open raises)."""
    for stored in ledger.items(query):
        item = stored.item
        if item.get("kind") != "emissions_record":
            continue
        if activity is not None and item.get("activity") != activity:
            continue
        if traces:
            trace = reader.trace(item)
            yield RecordResult(item, record_kg(item, trace), trace)
            continue
        try:
            value = reader.view(item).get("kg_co2e")
        except CarbonLedgerError:
            value = None  # a channel this reader has no key of
        yield RecordResult(item, None if value is None else Decimal(str(value)))


def emission_totals(
    ledger: LedgerPort,
    reader: RecordReader,
    *,
    org: str | None = None,
    year: int | None = None,
    traces: bool = False,
) -> Totals:
    """The totals of ``org``'s records (all organisations' if None) whose period starts in
    ``year`` (every year if None), as far as ``reader`` can open them."""
    query = ItemQuery(kind="emissions_record", org=org)
    if year is not None:
        query = ItemQuery(
            kind="emissions_record", org=org, since=f"{year}-01-01", until=f"{year}-12-31"
        )
    totals = Totals()
    for result in readable_results(ledger, reader, query, traces=traces):
        if year is None or str(result.item["period"]["start"]).startswith(f"{year}-"):
            totals.add(result)  # a record counts in the year its period starts
    return totals
