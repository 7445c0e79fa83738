"""Travel and expense CSVs to emissions records, with the guarantees of bill imports.

Each row is one trip or stay, recorded through :class:`ImportSession` like a
bill: every bad row named (line, field, reason), a re-import records nothing
twice, the quantity is sealed in the organisation's channel and the record is
signed on the ledger.  Columns (case-insensitive):

========== ======== ==========================================================
column     required meaning
========== ======== ==========================================================
site       if no    the site (cost centre) the trip is reported under
           --site
trip       yes      a unique id of the trip or expense line [id, expense_id]
date       yes      day of travel or first night, YYYY-MM-DD [start]
end        no       last day (default: ``date``)
mode       yes      ``flight``, or a travel or freight activity: rail_national,
                    taxi, car_medium_petrol, bus, hotel, freight_hgv, ...
from, to   flights  IATA airport codes
cabin      no       flights: average (default), economy, premium_economy,
                    business, first
passengers no       flights: travellers on the ticket (default 1)
amount     not for  distance, nights or tonne-km [quantity, distance, nights]
           flights
unit       not for  pkm, km, mi, nights, tkm, ...
           flights
country    hotels   where the stay was (ISO code or name)
========== ======== ==========================================================

A flight's distance is computed (:mod:`carbonledger.core.travel`); the factor
is DEFRA's with radiative forcing (the without-RF factor is named in the
steps), or the EPA Hub's for a site in the US.  The route (airports, distance,
cabin, passengers) is sealed with the quantity; the public basis names only the
haul class and the rule.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from carbonledger.core.calculator import calculate
from carbonledger.core.domain import Bill, parse_amount, parse_date
from carbonledger.core.factor_values import Location, Resolution
from carbonledger.core.travel import CABINS, plan_flight, with_basis
from carbonledger.errors import CarbonLedgerError, InvalidInput, RowError
from carbonledger.factors.airports import airport
from carbonledger.factors.countries import normalise_country
from carbonledger.factors.resolver import normalise_activity
from carbonledger.services.importer import ImportReport, ImportSession, site_location

__all__ = ["TRAVEL_COLUMNS", "TravelImportSession", "Trip", "iter_trips"]

TRAVEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "site": ("site", "site_id", "cost_centre", "cost_center"),
    "trip": ("trip", "id", "trip_id", "expense_id", "expense"),
    "date": ("date", "start", "travel_date", "check_in"),
    "end": ("end", "return", "check_out"),
    "mode": ("mode", "activity", "type"),
    "from": ("from", "origin"),
    "to": ("to", "destination"),
    "cabin": ("cabin", "class"),
    "passengers": ("passengers", "travellers", "travelers"),
    "amount": ("amount", "quantity", "distance", "nights"),
    "unit": ("unit", "uom"),
    "country": ("country",),
}
_REQUIRED = ("trip", "date", "mode")


@dataclass(frozen=True, slots=True)
class Trip:
    """One parsed row: a flight (route) or an activity with its amount."""

    line: int
    site: str
    trip: str
    start: Any
    end: Any
    mode: str
    origin: str = ""
    destination: str = ""
    cabin: str = "average"
    passengers: int = 1
    amount: Decimal | None = None
    unit: str = ""
    country: str | None = None


def _header(header: list[str], site_given: bool) -> dict[str, int]:
    normal = [h.strip().lower().replace(" ", "_") for h in header]
    cols = {
        name: normal.index(a)
        for name, aliases in TRAVEL_COLUMNS.items()
        for a in aliases[::-1]
        if a in normal
    }
    missing = [c for c in _REQUIRED if c not in cols]
    if "site" not in cols and not site_given:
        missing.insert(0, "site")
    if missing:
        raise InvalidInput(f"line 1: header lacks column(s) {', '.join(missing)}")
    return cols


def iter_trips(lines: Iterable[str], *, site: str | None = None) -> Iterator[Trip | RowError]:
    """Rows as trips or, for bad rows, :class:`RowError` (a bad header raises)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise InvalidInput("line 1: the file is empty (a header row is required)")
    cols = _header(header, site is not None)
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        yield _trip(reader.line_num, row, cols, site, len(header))


def _trip(
    line: int, row: list[str], cols: dict[str, int], site: str | None, width: int
) -> Trip | RowError:
    if len(row) != width:
        return RowError(line, "row", f"has {len(row)} fields, header has {width}")

    def get(name: str) -> str:
        pos = cols.get(name)
        return row[pos].strip() if pos is not None else ""

    site_id = get("site") or site
    if not site_id:
        return RowError(line, "site", "required")
    if not get("trip"):
        return RowError(line, "trip", "required (a unique id of the trip or expense line)")
    field = "date"
    try:
        start = parse_date(get("date"), "date")
        field = "end"
        end = parse_date(get("end"), "end") if get("end") else start
        if end < start:
            raise InvalidInput(f"{end} is before {start}")
        field = "mode"
        mode = normalise_activity(get("mode"))
        if not mode:
            raise InvalidInput("required: flight, rail_national, hotel, freight_hgv, ...")
        if mode == "flight":
            field = "from" if not get("from") else "to"
            if not get("from") or not get("to"):
                raise InvalidInput("a flight needs from and to (IATA codes)")
            field = "cabin"
            cabin = "_".join((get("cabin") or "average").lower().replace("-", " ").split())
            if cabin not in CABINS:
                raise InvalidInput(f"unknown cabin class {cabin!r}; known: {', '.join(CABINS)}")
            field = "passengers"
            passengers = int(get("passengers") or "1")
            if passengers < 1:
                raise InvalidInput("must be at least 1")
            return Trip(line, site_id, get("trip"), start, end, mode, get("from").upper(),
                        get("to").upper(), cabin, passengers)  # fmt: skip
        field = "amount"
        amount = parse_amount(get("amount"), "amount", allow_zero=False)
        field = "unit"
        if not get("unit"):
            raise InvalidInput("required (pkm, km, mi, nights, tkm, ...)")
        field = "country"
        country = normalise_country(get("country")) if get("country") else None
    except (InvalidInput, ValueError) as exc:
        return RowError(line, field, str(exc).removeprefix(f"{field}: "))
    return Trip(line, site_id, get("trip"), start, end, mode, amount=amount, unit=get("unit"),
                country=country)  # fmt: skip


class TravelImportSession(ImportSession):
    """An import session whose rows are trips: per-trip locations and flight plans."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file = self.source
        self._trips: dict[int, tuple[Location | None, tuple[str, ...], str]] = {}
        self._travel_resolutions: dict[tuple[Any, ...], Resolution] = {}

    def add_trips(self, trips: Iterable[Trip | RowError]) -> ImportReport:
        """Plan, calculate and batch each trip (bad rows are reported and skipped)."""
        for trip in trips:
            if isinstance(trip, RowError):
                self.report.rows += 1
                self.report.rejected.append(trip)
                continue
            bill = self._bill(trip)
            if isinstance(bill, RowError):
                self.report.rows += 1
                self.report.rejected.append(bill)
                continue
            self.source = self._trips[trip.line][2]  # sealed with the quantity
            self._add(bill)
        self.source = self._file
        return self.report

    def _bill(self, trip: Trip) -> Bill | RowError:
        site = self.state.sites.get(trip.site) or {}
        note = f"{self._file or 'travel'} line {trip.line}"
        if trip.mode != "flight":
            location = Location(country=trip.country) if trip.country else None
            self._trips[trip.line] = (location, (), note)
            if trip.amount is None:
                return RowError(trip.line, "amount", "required for this mode")
            return Bill(trip.site, trip.trip, trip.start, trip.end, trip.amount, trip.unit,
                        trip.mode, line=trip.line)  # fmt: skip
        us = str(site.get("country") or "").upper() in ("US", "USA") or bool(site.get("zip"))
        dataset = "EPA-Hub" if us else "DEFRA"
        try:
            a, b = airport(trip.origin), airport(trip.destination)
            probe = plan_flight(a, b, "average", dataset=dataset, cabins_available={"average"})
            prefix = f"flight_{probe.haul}_"
            cabins = {
                f.activity.removeprefix(prefix)
                for i in self.catalog.infos(dataset)
                for f in self.catalog.edition(i.edition).factors
                if f.activity.startswith(prefix)
            }
            plan = plan_flight(a, b, trip.cabin, dataset=dataset, cabins_available=cabins)
        except CarbonLedgerError as exc:
            return RowError(trip.line, "from", str(exc))
        rule = (
            "EPA Hub haul class by great-circle miles, no uplift"
            if dataset == "EPA-Hub"
            else "DEFRA haul class; distance = great circle x 1.08"
        )
        steps = (f"flight, {plan.haul}, {plan.cabin} ({rule}; route sealed)",)
        route = (
            f"{note}: {a.code}-{b.code} {plan.cabin} x{trip.passengers}, "
            f"{plan.great_circle_km} km great circle, {plan.distance_km} km counted"
        )
        self._trips[trip.line] = (None, steps, route)
        pkm = plan.distance_km * trip.passengers
        return Bill(trip.site, trip.trip, trip.start, trip.end, pkm, "pkm", plan.activity,
                    line=trip.line)  # fmt: skip

    def _resolve(self, bill: Bill, site: dict[str, Any]) -> Resolution | RowError:
        location, steps, _ = self._trips.get(bill.line or 0, (None, (), ""))
        key = (bill.site, bill.activity, bill.year, location, steps)
        found = self._travel_resolutions.get(key)
        if found is None:
            try:
                r = self.catalog.resolve(
                    bill.activity, location or site_location(site), year=bill.year
                )
                bases = {p[0].basis for p in [(r.co2e, None), *r.variants]}
                if "with RF" in bases:
                    off = with_basis(r, "without RF").co2e
                    r = with_basis(r, "with RF")
                    steps = (
                        *steps,
                        f"without radiative forcing: {off.edition} {off.value} {off.unit}",
                    )
                found = replace(r, steps=(*steps, *r.steps), _plans={})
                calculate(Decimal(0), bill.unit, found)  # an unusable unit fails here, by row
            except CarbonLedgerError as exc:
                field = "mode" if "no factors for activity" in str(exc) else "unit"
                return RowError(bill.line or 0, field, str(exc))
            self._travel_resolutions[key] = found
        return found
