"""From a parsed Green Button document to totals and intervals, without I/O.

Only energy delivered to the customer counts as consumption: ReadingTypes with
``flowDirection`` forward (1), or none stated.  Reverse flow (19, exported
energy), net and total registers are reported apart and never added in.
Values are summed only when ``accumulationBehaviour`` says they are per-interval
deltas (4) or says nothing; register reads (cumulative, bulk) are refused.

Bills are made from the same readings by :mod:`carbonledger.greenbutton.bills`,
which shares this module's reading helpers (``reading_unit``, ``flow_of``,
``in_order``, ``first_overlap``, ``utc_time``; not part of ``__all__``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from carbonledger.core.units import convert, dimension
from carbonledger.errors import InvalidInput, UnknownUnit
from carbonledger.greenbutton.model import (
    ACCUMULATION_NAMES,
    FLOW_DIRECTION_NAMES,
    GreenButtonDocument,
    IntervalReading,
    MeterReading,
    ReadingType,
    UsagePoint,
)
from carbonledger.greenbutton.results import (
    Interval,
    MeterSummary,
    Summary,
    UsagePointSummary,
)

__all__ = [
    "natural_unit",
    "summarise",
    "to_intervals",
]

DST_SLACK = 3600  # seconds of overlap put down to a DST change (see bills._clip_dst_overlaps)


def natural_unit(unit: str, kind: int | None) -> str:
    """The unit totals are given in: kWh for energy, therm for gas metered in therm/Btu."""
    if dimension(unit) != "energy":
        return unit
    if kind == 1 and unit in ("therm", "Btu"):
        return "therm"
    return "kWh"


def flow_of(rt: ReadingType | None) -> str:
    if rt is None or rt.is_delivered:
        return "delivered"
    if rt.flow_direction == 19:
        return "received"
    code = rt.flow_direction or 0
    return FLOW_DIRECTION_NAMES.get(code, f"flowDirection {code}")


def utc_time(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def reading_unit(doc: GreenButtonDocument, mr: MeterReading) -> str:
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
            unit = reading_unit(doc, mr)
            rt = mr.reading_type
            currency = rt.currency_code if rt else None
            flow = flow_of(rt)
            for r in sorted(mr.readings, key=lambda r: r.start):
                out.append(
                    Interval(
                        up.href,
                        mr.href,
                        utc_time(r.start),
                        utc_time(r.end),
                        r.value,
                        unit,
                        flow,
                        r.cost,
                        currency if r.cost is not None else None,
                        r.quality,
                    )
                )
    return out


def in_order(readings: Sequence[IntervalReading]) -> Iterable[IntervalReading]:
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


def first_overlap(
    readings: Sequence[IntervalReading],
) -> tuple[IntervalReading, IntervalReading] | None:
    previous: IntervalReading | None = None
    for r in in_order(readings):
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
        unit = reading_unit(doc, mr)
    except UnknownUnit as exc:
        notes.append(f"{label}: no total: {str(exc).split(': ', 2)[-1]}")
    else:
        if rt is not None and not rt.is_additive:
            name = ACCUMULATION_NAMES.get(rt.accumulation_behaviour or 0, "?")
            notes.append(f"{label}: no total: values are {name} register reads, not deltas")
        else:
            total_unit = natural_unit(unit, up.kind)
            total = convert(sum((r.value for r in readings), Decimal(0)), unit, total_unit)
    if (pair := first_overlap(readings)) is not None:
        seconds = pair[0].end - pair[1].start
        why = (
            "probably a DST change counted in local time"
            if seconds <= DST_SLACK and pair[1].start > pair[0].start
            else "the total may count some use twice"
        )
        notes.append(
            f"{label}: readings overlap by {seconds} s ({utc_time(pair[0].start):%Y-%m-%dT%H:%MZ}"
            f" and {utc_time(pair[1].start):%Y-%m-%dT%H:%MZ}); {why}"
        )
    cost = _sum_cost(readings)
    return MeterSummary(
        mr.href,
        mr.title,
        rt,
        rt.uom_name if rt else "missing",
        flow_of(rt),
        len(readings),
        utc_time(min(r.start for r in readings)) if readings else None,
        utc_time(max(r.end for r in readings)) if readings else None,
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
