"""From a parsed Green Button document to totals, intervals and bills, without I/O.

Only energy delivered to the customer counts as consumption: ReadingTypes with
``flowDirection`` forward (1), or none stated.  Reverse flow (19, exported
energy), net and total registers are reported apart and never added in.
Values are summed only when ``accumulationBehaviour`` says they are per-interval
deltas (4) or says nothing; register reads (cumulative, bulk) are refused.

Bills are cut at calendar months in UTC by default, or in the usage point's
local time (ESPI LocalTimeParameters, DST rules included) with
``timezone="local"``.  A reading that straddles a month boundary is split in
proportion to time; the parts are rounded and the last part takes the
remainder, so the bills always sum exactly to the readings.
"""

from __future__ import annotations

import calendar
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from typing import Literal

from carbonledger.core.domain import Bill
from carbonledger.core.units import convert, dimension
from carbonledger.errors import InvalidInput, UnknownUnit
from carbonledger.greenbutton.model import (
    ACCUMULATION_NAMES,
    FLOW_DIRECTION_NAMES,
    BillsFromGreenButton,
    GreenButtonDocument,
    Interval,
    IntervalReading,
    LocalTimeParameters,
    MeterReading,
    MeterSummary,
    ReadingType,
    Summary,
    UsagePoint,
    UsagePointSummary,
)

__all__ = [
    "natural_unit",
    "summarise",
    "to_bills",
    "to_intervals",
]

Period = Literal["month", "usage_summary", "reading"]
TimeZone = Literal["utc", "local"]
_ACTIVITY = {0: "electricity", 1: "natural_gas"}
_DST_SLACK = 3600  # seconds of overlap put down to a DST change, see _clip_dst_overlaps


def natural_unit(unit: str, kind: int | None) -> str:
    """The unit totals are given in: kWh for energy, therm for gas metered in therm/Btu."""
    if dimension(unit) != "energy":
        return unit
    if kind == 1 and unit in ("therm", "Btu"):
        return "therm"
    return "kWh"


def _flow(rt: ReadingType | None) -> str:
    if rt is None or rt.is_delivered:
        return "delivered"
    if rt.flow_direction == 19:
        return "received"
    code = rt.flow_direction or 0
    return FLOW_DIRECTION_NAMES.get(code, f"flowDirection {code}")


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _unit(doc: GreenButtonDocument, mr: MeterReading) -> str:
    rt = mr.reading_type
    where = f"{doc.source}: MeterReading {mr.href or mr.title or '(no href)'}"
    if rt is None or rt.uom is None:
        raise UnknownUnit(f"{where}: its ReadingType gives no uom, so the unit is unknown")
    if rt.unit is None:
        raise UnknownUnit(
            f"{where}: uom {rt.uom} ({rt.uom_name}) is not an energy or volume unit"
            " carbonledger converts"
        )
    return rt.unit


def to_intervals(doc: GreenButtonDocument) -> list[Interval]:
    """Every interval reading of every meter reading, in time order per meter reading.

    Raises :class:`UnknownUnit` when a ReadingType's uom is missing or not convertible.
    """
    out: list[Interval] = []
    for up in doc.usage_points:
        for mr in up.meter_readings:
            unit = _unit(doc, mr)
            rt = mr.reading_type
            currency = rt.currency_code if rt else None
            flow = _flow(rt)
            for r in sorted(mr.readings, key=lambda r: r.start):
                out.append(
                    Interval(
                        up.href,
                        mr.href,
                        _utc(r.start),
                        _utc(r.end),
                        r.value,
                        unit,
                        flow,
                        r.cost,
                        currency if r.cost is not None else None,
                        r.quality,
                    )
                )
    return out


def _ordered(readings: Sequence[IntervalReading]) -> Iterable[IntervalReading]:
    """``readings`` in (start, end) order: as they are when already in order (no copy).

    Files list readings in time order, so one pass usually settles it; only an
    unordered file is sorted in memory.
    """
    previous: tuple[int, int] | None = None
    for r in readings:
        key = (r.start, r.end)
        if previous is not None and key < previous:
            return sorted(readings, key=lambda r: (r.start, r.end))
        previous = key
    return readings


def _overlap(readings: Sequence[IntervalReading]) -> tuple[IntervalReading, IntervalReading] | None:
    previous: IntervalReading | None = None
    for r in _ordered(readings):
        if previous is not None and r.start < previous.end:
            return previous, r
        if previous is None or r.end > previous.end:
            previous = r
    return None


def _sum_cost(readings: Iterable[IntervalReading]) -> Decimal | None:
    total, found = Decimal(0), False
    for r in readings:
        if r.cost is not None:
            total, found = total + r.cost, True
    return total if found else None


def _meter_summary(
    doc: GreenButtonDocument, up: UsagePoint, mr: MeterReading, notes: list[str]
) -> MeterSummary:
    rt, readings = mr.reading_type, mr.readings
    label = f"{up.label}, MeterReading {mr.title or mr.href or '(no href)'}"
    total = total_unit = None
    try:
        unit = _unit(doc, mr)
    except UnknownUnit as exc:
        notes.append(f"{label}: no total: {str(exc).split(': ', 2)[-1]}")
    else:
        if rt is not None and not rt.is_additive:
            name = ACCUMULATION_NAMES.get(rt.accumulation_behaviour or 0, "?")
            notes.append(f"{label}: no total: values are {name} register reads, not deltas")
        else:
            total_unit = natural_unit(unit, up.kind)
            total = convert(sum((r.value for r in readings), Decimal(0)), unit, total_unit)
    if (pair := _overlap(readings)) is not None:
        seconds = pair[0].end - pair[1].start
        why = (
            "probably a DST change counted in local time"
            if seconds <= _DST_SLACK and pair[1].start > pair[0].start
            else "the total may count some use twice"
        )
        notes.append(
            f"{label}: readings overlap by {seconds} s ({_utc(pair[0].start):%Y-%m-%dT%H:%MZ}"
            f" and {_utc(pair[1].start):%Y-%m-%dT%H:%MZ}); {why}"
        )
    cost = _sum_cost(readings)
    return MeterSummary(
        mr.href,
        mr.title,
        rt,
        rt.uom_name if rt else "missing",
        _flow(rt),
        len(readings),
        _utc(min(r.start for r in readings)) if readings else None,
        _utc(max(r.end for r in readings)) if readings else None,
        total,
        total_unit,
        cost,
        rt.currency_code if rt and cost is not None else None,
    )


def summarise(doc: GreenButtonDocument) -> Summary:
    """Per usage point: service kind, reading types, period, count, totals and cost."""
    notes = list(doc.notes)
    points = []
    for up in doc.usage_points:
        meters = tuple(_meter_summary(doc, up, mr, notes) for mr in up.meter_readings)
        delivered = [m for m in meters if m.flow == "delivered"]
        received = [m for m in meters if m.flow == "received"]
        consumption, unit = _combine(delivered)
        received_total, _ = _combine(received, unit)
        costs = [m.cost for m in delivered if m.cost is not None]
        starts = [m.start for m in meters if m.start is not None]
        ends = [m.end for m in meters if m.end is not None]
        points.append(
            UsagePointSummary(
                up.href,
                up.title,
                up.kind,
                up.kind_name,
                meters,
                sum(m.readings for m in meters),
                min(starts) if starts else None,
                max(ends) if ends else None,
                consumption,
                unit,
                received_total,
                sum(costs, Decimal(0)) if costs else None,
                next((m.currency for m in delivered if m.currency), None),
                up.usage_summaries,
            )
        )
    return Summary(doc.source, tuple(points), tuple(notes))


def _combine(
    meters: list[MeterSummary], unit: str | None = None
) -> tuple[Decimal | None, str | None]:
    """Sum the totals of ``meters`` in one unit; None when any is missing or units differ."""
    parts = [(m.total, m.total_unit) for m in meters]
    known = [(t, u) for t, u in parts if t is not None and u is not None]
    if not meters or len(known) < len(parts):
        return None, unit
    target = unit or known[0][1]
    try:
        return sum((convert(t, u, target) for t, u in known), Decimal(0)), target
    except InvalidInput:
        return None, unit


# --- bills ---------------------------------------------------------------------------


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
    delivered = [mr for mr in up.meter_readings if _flow(mr.reading_type) == "delivered"]
    for mr in up.meter_readings:
        if mr not in delivered:
            notes.append(
                f"{up.label}: MeterReading {mr.title or mr.href or '(no href)'} is"
                f" {_flow(mr.reading_type)}"
                " energy; reported by summarise, not billed"
            )
    streams: list[tuple[MeterReading, str]] = []
    bill_unit: str | None = None
    currency: str | None = None
    for mr in delivered:
        unit = _unit(doc, mr)
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
                for r in _ordered(mr.readings)
            )
            for mr, unit in streams
        ]
        return heapq.merge(*each, key=lambda p: (p.start, p.end))

    negative = next((p for p in raw() if p.amount < 0), None)
    if negative is not None:
        raise InvalidInput(
            f"{where}: delivered reading at {_utc(negative.start):%Y-%m-%dT%H:%M:%SZ} is"
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
            if a.end - p.start > _DST_SLACK or p.start <= a.start:
                raise InvalidInput(
                    f"{where}: readings overlap ({_utc(a.start):%Y-%m-%dT%H:%M:%SZ}"
                    f" +{a.end - a.start}s and {_utc(p.start):%Y-%m-%dT%H:%M:%SZ});"
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
        return _utc(t + self.offset(t)).date()

    def month(self, t: int) -> tuple[int, int]:
        local = _utc(t + self.offset(t))
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
