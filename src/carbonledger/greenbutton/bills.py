"""From a parsed Green Button document to bills, without I/O.

Bills are cut at calendar months in UTC by default, or in the usage point's
local time (ESPI LocalTimeParameters, DST rules included) with
``timezone="local"``.  A reading that straddles a month boundary is split in
proportion to time; the parts are rounded and the last part takes the
remainder, so the bills always sum exactly to the readings.  Which readings
count, and their units, are those of :mod:`carbonledger.greenbutton.convert`.
"""

from __future__ import annotations

import calendar
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal
from typing import Literal

from carbonledger.core.domain import Bill
from carbonledger.core.units import convert
from carbonledger.errors import InvalidInput
from carbonledger.greenbutton.convert import (
    DST_SLACK,
    flow_of,
    in_order,
    natural_unit,
    reading_unit,
    utc_time,
)
from carbonledger.greenbutton.localtime import LocalTimeParameters
from carbonledger.greenbutton.model import (
    ACCUMULATION_NAMES,
    GreenButtonDocument,
    MeterReading,
    UsagePoint,
)
from carbonledger.greenbutton.results import (
    BillsFromGreenButton,
)

__all__ = ["to_bills"]

Period = Literal["month", "usage_summary", "reading"]
TimeZone = Literal["utc", "local"]
_ACTIVITY = {0: "electricity", 1: "natural_gas"}


def to_bills(
    doc: GreenButtonDocument,
    *,
    site: str,
    account: str | None = None,
    period: Period = "month",
    timezone: TimeZone = "utc",
) -> BillsFromGreenButton:
    """Bills of delivered energy, amounts in kWh (electricity) or therm (gas in therms).

    ``period``: ``"month"`` cuts at calendar months, ``"usage_summary"`` gives one
    bill per UsageSummary billing period (cost from ``billLastPeriod``), and
    ``"reading"`` one bill per reading (for monthly gas billing data).
    ``timezone``: months and inclusive dates in ``"utc"`` or in the file's
    ``"local"`` time.  ``account`` defaults to each usage point's href; a file
    with several usage points needs that default.  Partial months are kept and
    named in the notes.  Raises :class:`InvalidInput` when the service kind is
    not electricity or gas, the unit is unknown, values are register reads or
    negative, or readings overlap by more than an hour.
    """
    if period not in ("month", "usage_summary", "reading"):
        raise InvalidInput(f"period {period!r}: use 'month', 'usage_summary' or 'reading'")
    if timezone not in ("utc", "local"):
        raise InvalidInput(f"timezone {timezone!r}: use 'utc' or 'local'")
    points = [up for up in doc.usage_points if up.meter_readings]
    if account is not None and len(points) > 1:
        raise InvalidInput(
            f"{doc.source}: {len(points)} usage points; leave the account out so each"
            " usage point's href is its account"
        )
    bills: list[Bill] = []
    notes: list[str] = [
        f"{up.label}: no meter readings, no bills"
        for up in doc.usage_points
        if not up.meter_readings
    ]
    for up in points:
        acct = account or up.href or up.title or "greenbutton"
        bills.extend(
            _bills_for(
                doc, up, site=site, account=acct, period=period, timezone=timezone, notes=notes
            )
        )
    return BillsFromGreenButton(tuple(bills), tuple(notes))


@dataclass(frozen=True, slots=True)
class _Piece:
    """A reading already in the bill unit, as (start, end) Unix seconds."""

    start: int
    end: int
    amount: Decimal
    cost: Decimal | None


def _bills_for(
    doc: GreenButtonDocument,
    up: UsagePoint,
    *,
    site: str,
    account: str,
    period: Period,
    timezone: TimeZone,
    notes: list[str],
) -> list[Bill]:
    where = f"{doc.source}: {up.label}"
    activity = _ACTIVITY.get(up.kind) if up.kind is not None else None
    if activity is None:
        raise InvalidInput(
            f"{where}: service kind {up.kind_name}; only electricity (0) and gas (1) become bills"
        )
    activity_of_bills: str = activity
    delivered = [mr for mr in up.meter_readings if flow_of(mr.reading_type) == "delivered"]
    for mr in up.meter_readings:
        if mr not in delivered:
            notes.append(
                f"{up.label}: MeterReading {mr.title or mr.href or '(no href)'} is"
                f" {flow_of(mr.reading_type)}"
                " energy; reported by summarise, not billed"
            )
    streams: list[tuple[MeterReading, str]] = []
    bill_unit: str | None = None
    currency: str | None = None
    for mr in delivered:
        unit = reading_unit(doc, mr)
        rt = mr.reading_type
        if rt is not None and not rt.is_additive:
            name = ACCUMULATION_NAMES.get(rt.accumulation_behaviour or 0, "?")
            raise InvalidInput(
                f"{where}: MeterReading {mr.href}: values are {name} register reads,"
                " not consumption per interval; they cannot be summed into bills"
            )
        bill_unit = bill_unit or natural_unit(unit, up.kind)
        currency = currency or (rt.currency_code if rt else None)
        streams.append((mr, unit))
    if bill_unit is None or not any(len(mr.readings) for mr, _ in streams):
        notes.append(f"{up.label}: no delivered readings, no bills")
        return []
    unit_of_bills: str = bill_unit

    def raw() -> Iterator[_Piece]:
        """Every delivered reading in the bill unit, in time order (read, never stored)."""
        each = [
            (
                _Piece(r.start, r.end, convert(r.value, unit, unit_of_bills), r.cost)
                for r in in_order(mr.readings)
            )
            for mr, unit in streams
        ]
        return heapq.merge(*each, key=lambda p: (p.start, p.end))

    negative = next((p for p in raw() if p.amount < 0), None)
    if negative is not None:
        raise InvalidInput(
            f"{where}: delivered reading at {utc_time(negative.start):%Y-%m-%dT%H:%M:%SZ} is"
            f" negative ({negative.amount} {bill_unit}); consumption cannot be below zero"
        )
    for _ in _clip_dst_overlaps(raw(), where, notes):  # checks overlaps, notes clipping once
        pass

    def pieces() -> Iterator[_Piece]:
        return _clip_dst_overlaps(raw(), where, None)

    zone = _Zone.of(up, timezone)

    def bill(start: int, end: int, amount: Decimal, cost: Decimal | None) -> Bill:
        return Bill(
            site,
            account,
            zone.date(start),
            zone.date(max(start, end - 1)),
            _tidy(amount),
            unit_of_bills,
            activity_of_bills,
            None if cost is None else _tidy(cost),
            currency if cost is not None else None,
            doc.sha256,
        )

    if period == "reading":
        per_reading = [bill(p.start, p.end, p.amount, p.cost) for p in pieces()]
        for earlier, later in itertools.pairwise(per_reading):
            if later.start <= earlier.end:
                raise InvalidInput(
                    f"{where}: readings are shorter than a day ({earlier.start} and"
                    f" {later.start} share dates); use period 'month'"
                )
        return per_reading
    if period == "usage_summary":
        return _summary_bills(up, pieces, zone=zone, bill=bill, unit=unit_of_bills, notes=notes)
    return _month_bills(up, pieces(), zone, bill, notes)


def _clip_dst_overlaps(
    pieces: Iterable[_Piece], where: str, notes: list[str] | None
) -> Iterator[_Piece]:
    """Refuse overlapping readings, except an overlap of at most an hour.

    Utilities that count a billing period's length in local time give the
    period holding the end of DST one hour too many (the NGMA sample does); the
    earlier reading's end is moved back to the next start, its amount untouched.
    ``pieces`` come in (start, end) order; with ``notes``, the clipping is noted.
    """
    held: _Piece | None = None
    clipped = 0
    for p in pieces:
        if held is not None and p.start < held.end:
            a = held
            if a.end - p.start > DST_SLACK or p.start <= a.start:
                raise InvalidInput(
                    f"{where}: readings overlap ({utc_time(a.start):%Y-%m-%dT%H:%M:%SZ}"
                    f" +{a.end - a.start}s and {utc_time(p.start):%Y-%m-%dT%H:%M:%SZ});"
                    " bills would count use twice"
                )
            held = _Piece(a.start, p.start, a.amount, a.cost)
            clipped += 1
        if held is not None:
            yield held
        held = p
    if held is not None:
        yield held
    if clipped and notes is not None:
        notes.append(
            f"{where.split(': ', 1)[-1]}: {clipped} reading(s) overlapped the next by at most"
            " an hour (a DST change counted in local time); their ends were moved to the next"
            " start, amounts unchanged"
        )


@dataclass(slots=True)
class _Month:
    """What the bill of one month needs, added up as the readings stream by."""

    start: int
    end: int
    covered: int = 0
    amount: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    parts: int = 0
    costed: int = 0


def _month_bills(
    up: UsagePoint,
    pieces: Iterable[_Piece],
    zone: _Zone,
    bill: Callable[[int, int, Decimal, Decimal | None], Bill],
    notes: list[str],
) -> list[Bill]:
    months: dict[tuple[int, int], _Month] = {}
    split = 0
    for p in pieces:
        parts = _split(p, zone.month_cuts(p.start, p.end))
        split += len(parts) > 1
        for part in parts:
            key = zone.month(part.start)
            m = months.get(key)
            if m is None:
                m = months[key] = _Month(part.start, part.end)
            m.start, m.end = min(m.start, part.start), max(m.end, part.end)
            m.covered += part.end - part.start
            m.amount += part.amount
            m.parts += 1
            if part.cost is not None:
                m.cost += part.cost
                m.costed += 1
    if split:
        notes.append(
            f"{up.label}: {split} reading(s) straddle a month boundary and were split"
            " in proportion to time"
        )
    out = []
    for (year, month), m in sorted(months.items()):
        length = zone.month_start(year, month + 1) - zone.month_start(year, month)
        if m.covered < length:
            notes.append(
                f"{up.label}: {year}-{month:02d} is partly covered: readings span"
                f" {Decimal(m.covered) / 3600:.1f} h of the month's"
                f" {Decimal(length) / 3600:.1f} h"
            )
        # a month's cost is known only when every reading in it has one
        cost = m.cost if m.costed == m.parts else None
        out.append(bill(m.start, m.end, m.amount, cost))
    return out


def _summary_bills(
    up: UsagePoint,
    pieces: Callable[[], Iterable[_Piece]],
    *,
    zone: _Zone,
    bill: Callable[[int, int, Decimal, Decimal | None], Bill],
    unit: str,
    notes: list[str],
) -> list[Bill]:
    periods = [s for s in up.usage_summaries if s.billing_start is not None and s.billing_duration]
    if not periods:
        raise InvalidInput(f"{up.label}: no UsageSummary with a billing period; use period 'month'")
    out = []
    for s in sorted(periods, key=lambda s: s.billing_start or 0):
        start = s.billing_start or 0
        end = start + (s.billing_duration or 0)
        inside = [
            part
            for p in pieces()
            if p.start < end and p.end >= start
            for part in _split(p, [start, end])
            if start <= part.start < end
        ]
        amount = sum((p.amount for p in inside), Decimal(0))
        covered = sum(p.end - p.start for p in inside)
        reported = s.overall_consumption_last_period
        reported_amount = (
            convert(reported.value, reported.unit, unit) if reported and reported.unit else None
        )
        if not inside and reported_amount is not None:
            amount = reported_amount
            notes.append(
                f"{up.label}: billing period from {zone.date(start)} has no readings;"
                " amount taken from overallConsumptionLastPeriod"
            )
        elif reported_amount is not None and reported_amount != amount:
            notes.append(
                f"{up.label}: billing period from {zone.date(start)}: readings sum to"
                f" {amount} {unit} but the summary says {reported_amount} {unit};"
                " the readings are used"
            )
        if inside and covered < end - start:
            notes.append(
                f"{up.label}: billing period from {zone.date(start)} is partly covered by readings"
            )
        cost = s.bill_last_period
        if cost is None and inside:
            cost = _total_cost(inside)
        out.append(bill(start, end, amount, cost))
    return out


def _total_cost(parts: list[_Piece]) -> Decimal | None:
    """The sum of the parts' costs, or None unless every part has one."""
    costs = [p.cost for p in parts if p.cost is not None]
    return sum(costs, Decimal(0)) if len(costs) == len(parts) else None


def _split(p: _Piece, cuts: Iterable[int]) -> list[_Piece]:
    """Split ``p`` at the cut instants inside it, amounts and costs pro rata by time."""
    bounds = [p.start, *sorted(c for c in cuts if p.start < c < p.end), p.end]
    if len(bounds) == 2:
        return [p]
    total = p.end - p.start
    out: list[_Piece] = []
    amount_left, cost_left = p.amount, p.cost
    for a, b in itertools.pairwise(bounds):
        if b == p.end:
            out.append(_Piece(a, b, amount_left, cost_left))
            break
        share = _share(p.amount, b - a, total)
        cost = None if p.cost is None else _share(p.cost, b - a, total)
        amount_left -= share
        cost_left = None if cost_left is None or cost is None else cost_left - cost
        out.append(_Piece(a, b, share, cost))
    return out


# Sums of Int48 readings scaled by up to 10**12 need more than the default 28 digits.
_WIDE = Context(prec=60)


def _tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros (``67.52000`` -> ``67.52``) without going to exponent form."""
    tidy = value.normalize(_WIDE)
    exponent = tidy.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return tidy.quantize(Decimal(1), context=_WIDE)
    return tidy


def _share(value: Decimal, part: int, whole: int) -> Decimal:
    exponent = value.as_tuple().exponent
    places = min(exponent if isinstance(exponent, int) else 0, 0) - 6
    share = _WIDE.divide(_WIDE.multiply(value, part), whole)
    return share.quantize(Decimal(1).scaleb(places), context=_WIDE)


# --- local time ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Zone:
    """UTC, or an ESPI fixed offset with optional DST rules."""

    local: LocalTimeParameters | None

    @classmethod
    def of(cls, up: UsagePoint, timezone: TimeZone) -> _Zone:
        if timezone == "utc":
            return cls(None)
        if up.local_time is None:
            raise InvalidInput(f"{up.label}: the file has no LocalTimeParameters; use timezone utc")
        return cls(up.local_time)

    def offset(self, t: int) -> int:
        """Seconds to add to UTC ``t`` to get local wall time."""
        return 0 if self.local is None else self.local.utc_offset(t)

    def date(self, t: int) -> date:
        return utc_time(t + self.offset(t)).date()

    def month(self, t: int) -> tuple[int, int]:
        local = utc_time(t + self.offset(t))
        return local.year, local.month

    def month_start(self, year: int, month: int) -> int:
        """UTC instant of local midnight on the first of the month (month may be 13)."""
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        naive = calendar.timegm((year, month, 1, 0, 0, 0))
        return naive - self.offset(naive - self.offset(naive))

    def month_cuts(self, start: int, end: int) -> list[int]:
        cuts = []
        year, month = self.month(start)
        while (cut := self.month_start(year, month + 1)) < end:
            cuts.append(cut)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return cuts
