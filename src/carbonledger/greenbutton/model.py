"""Green Button (NAESB ESPI) resources as frozen values.

Only what carbon accounting needs is kept: the usage points, what each meter
reading measures (its ReadingType), the interval readings and the usage
summaries.  Values are already scaled by the ReadingType's
``powerOfTenMultiplier`` and costs are in whole currency units (ESPI states
them in 1/100000 of the currency); both are exact Decimals.  Times are Unix
seconds, UTC, as in the file.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import overload

from carbonledger.greenbutton.localtime import LocalTimeParameters

__all__ = [
    "ACCUMULATION_NAMES",
    "CURRENCIES",
    "FLOW_DIRECTION_NAMES",
    "SERVICE_KINDS",
    "UOM",
    "GreenButtonDocument",
    "IntervalBlock",
    "IntervalReading",
    "MeterReading",
    "ReadingColumns",
    "ReadingType",
    "SummaryMeasurement",
    "UsagePoint",
    "UsageSummary",
]

#: ESPI ServiceKind -> name.
SERVICE_KINDS: dict[int, str] = {
    0: "electricity",
    1: "gas",
    2: "water",
    3: "time",
    4: "heat",
    5: "refuse",
    6: "sewerage",
    7: "rates",
    8: "tvLicence",
    9: "internet",
    10: "weather",
}

#: ESPI UnitSymbolKind -> (ESPI name, canonical carbonledger unit or None).
#: ``None`` means the unit is known but not an energy or volume carbonledger
#: converts (power, reactive energy, ...).  Weather-compensated and
#: uncompensated volumes map to the plain volume unit; the code stays on the
#: ReadingType for anyone who needs the distinction.
UOM: dict[int, tuple[str, str | None]] = {
    0: ("none", None),
    5: ("A", None),
    29: ("V", None),
    31: ("J", "J"),
    33: ("Hz", None),
    38: ("W", None),
    42: ("m3", "m3"),
    61: ("VA", None),
    63: ("VAr", None),
    65: ("cosTheta", None),
    71: ("VAh", None),
    72: ("Wh", "Wh"),
    73: ("VArh", None),
    80: ("money", None),
    119: ("ft3", "ft3"),
    120: ("ft3compensated", "ft3"),
    128: ("usGal", "gal"),
    132: ("btu", "Btu"),
    134: ("litre", "L"),
    156: ("litreUncompensated", "L"),
    157: ("litreCompensated", "L"),
    166: ("m3uncompensated", "m3"),
    167: ("m3compensated", "m3"),
    169: ("therm", "therm"),
}

#: ESPI FlowDirectionKind names for the values seen on bills.
FLOW_DIRECTION_NAMES: dict[int, str] = {
    0: "none",
    1: "forward",
    4: "net",
    19: "reverse",
    20: "total",
}

#: ESPI AccumulationKind names.
ACCUMULATION_NAMES: dict[int, str] = {
    0: "none",
    1: "bulkQuantity",
    2: "continuousCumulative",
    3: "cumulative",
    4: "deltaData",
    6: "indicating",
    9: "summation",
    10: "timeDelay",
    12: "instantaneous",
    13: "latchingQuantity",
    14: "boundedQuantity",
}

#: ISO 4217 numeric codes listed by the ESPI 3.3 schema.
CURRENCIES: dict[int, str] = {
    36: "AUD",
    124: "CAD",
    156: "CNY",
    208: "DKK",
    356: "INR",
    392: "JPY",
    578: "NOK",
    643: "RUB",
    752: "SEK",
    756: "CHF",
    826: "GBP",
    840: "USD",
    978: "EUR",
}


def _currency_code(code: int | None) -> str | None:
    if code is None:
        return None
    return CURRENCIES.get(code, f"ISO4217:{code}")


@dataclass(frozen=True, slots=True)
class ReadingType:
    """What a meter reading measures.  Missing elements are ``None``."""

    href: str | None
    uom: int | None = None
    power_of_ten_multiplier: int = 0
    accumulation_behaviour: int | None = None
    flow_direction: int | None = None
    interval_length: int | None = None
    currency: int | None = None
    commodity: int | None = None
    kind: int | None = None

    @property
    def unit(self) -> str | None:
        """The carbonledger unit symbol of ``uom``, or ``None`` when not convertible."""
        return UOM.get(self.uom, ("", None))[1] if self.uom is not None else None

    @property
    def uom_name(self) -> str:
        if self.uom is None:
            return "missing"
        return UOM.get(self.uom, (f"uom {self.uom}", None))[0]

    @property
    def currency_code(self) -> str | None:
        return _currency_code(self.currency)

    @property
    def is_delivered(self) -> bool:
        """True for energy delivered to the customer (forward, or not stated)."""
        return self.flow_direction in (None, 0, 1)

    @property
    def is_additive(self) -> bool:
        """True when interval values may be summed (deltaData, or not stated)."""
        return self.accumulation_behaviour in (None, 0, 4)


@dataclass(frozen=True, slots=True)
class IntervalReading:
    """One reading: ``value`` in the ReadingType's unit, ``cost`` in currency units."""

    start: int
    duration: int
    value: Decimal
    cost: Decimal | None = None
    quality: tuple[int, ...] = ()

    @property
    def end(self) -> int:
        return self.start + self.duration


_NO_COST = -(2**63)  # outside ESPI's Int48: "this reading has no cost"


class _Readings(Sequence[IntervalReading]):
    """A sequence of readings built one at a time when read (slices are lists)."""

    def _item(self, i: int) -> IntervalReading:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> IntervalReading: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[IntervalReading]: ...
    def __getitem__(self, i: int | slice) -> IntervalReading | Sequence[IntervalReading]:
        if isinstance(i, slice):
            return [self._item(j) for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return self._item(i % n)


@dataclass(eq=False)
class ReadingColumns(_Readings):
    """Interval readings held as columns of 64-bit integers, about 32 bytes a reading.

    A file of a million readings would take hundreds of megabytes as objects; as
    columns it takes tens. ESPI values and costs are Int48, so they fit; the rare
    value written with a fraction is kept aside as a Decimal. Each reading is
    built as an :class:`IntervalReading` when it is read: values scaled by
    ``10**scale``, costs in whole currency units.
    """

    scale: int = 0
    starts: array[int] = field(default_factory=lambda: array("q"))
    durations: array[int] = field(default_factory=lambda: array("q"))
    values: array[int] = field(default_factory=lambda: array("q"))
    costs: array[int] = field(default_factory=lambda: array("q"))
    exact: dict[tuple[int, str], Decimal] = field(default_factory=dict)  # fractions
    quality: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def append(
        self,
        start: int,
        duration: int,
        value: Decimal,
        cost: Decimal | None,
        quality: tuple[int, ...] = (),
    ) -> None:
        """Add a reading: ``value`` unscaled, ``cost`` in ESPI's 1/100000 currency units."""
        n = len(self.starts)
        self.starts.append(start)
        self.durations.append(duration)
        self.values.append(self._int(n, "value", value))
        self.costs.append(_NO_COST if cost is None else self._int(n, "cost", cost))
        if quality:
            self.quality[n] = quality

    def _int(self, n: int, name: str, number: Decimal) -> int:
        whole = int(number)
        if whole != number:
            self.exact[(n, name)] = number
        return whole

    def with_scale(self, scale: int) -> ReadingColumns:
        """The same columns read with values scaled by ``10**scale`` (no copy)."""
        return ReadingColumns(
            scale, self.starts, self.durations, self.values, self.costs, self.exact, self.quality
        )

    def __len__(self) -> int:
        return len(self.starts)

    def _item(self, i: int) -> IntervalReading:
        value = self.exact.get((i, "value"), Decimal(self.values[i]))
        cost_units = self.costs[i]
        cost = (
            None
            if cost_units == _NO_COST
            else self.exact.get((i, "cost"), Decimal(cost_units)).scaleb(-5)
        )
        return IntervalReading(
            self.starts[i],
            self.durations[i],
            value.scaleb(self.scale),
            cost,
            self.quality.get(i, ()),
        )

    def __iter__(self) -> Iterator[IntervalReading]:
        return (self._item(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable while the file is read


@dataclass(frozen=True, slots=True)
class IntervalBlock:
    href: str | None
    start: int | None
    duration: int | None
    readings: Sequence[IntervalReading]


@dataclass(frozen=True, slots=True)
class MeterReading:
    href: str | None
    title: str | None
    reading_type: ReadingType | None
    blocks: tuple[IntervalBlock, ...]

    @property
    def readings(self) -> Sequence[IntervalReading]:
        """Every reading of every block, in file order, built as they are read."""
        return _Chained(tuple(b.readings for b in self.blocks))


@dataclass(frozen=True, slots=True)
class _Chained(_Readings):
    parts: tuple[Sequence[IntervalReading], ...]

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __iter__(self) -> Iterator[IntervalReading]:
        return itertools.chain.from_iterable(self.parts)

    def _item(self, i: int) -> IntervalReading:
        ends = list(itertools.accumulate(len(p) for p in self.parts))
        part = bisect.bisect_right(ends, i)
        return self.parts[part][i - (ends[part - 1] if part else 0)]


@dataclass(frozen=True, slots=True)
class SummaryMeasurement:
    """A scaled quantity in a usage summary; ``value`` already includes the multiplier."""

    value: Decimal
    uom: int | None
    power_of_ten_multiplier: int = 0
    timestamp: int | None = None

    @property
    def unit(self) -> str | None:
        return UOM.get(self.uom, ("", None))[1] if self.uom is not None else None


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """A billing period summary (ESPI UsageSummary or ElectricPowerUsageSummary).

    Money amounts are in whole currency units.
    """

    href: str | None
    billing_start: int | None
    billing_duration: int | None
    bill_last_period: Decimal | None = None
    bill_to_date: Decimal | None = None
    cost_additional_last_period: Decimal | None = None
    currency: int | None = None
    overall_consumption_last_period: SummaryMeasurement | None = None
    current_billing_period_overall_consumption: SummaryMeasurement | None = None

    @property
    def currency_code(self) -> str | None:
        return _currency_code(self.currency)


@dataclass(frozen=True, slots=True)
class UsagePoint:
    href: str | None
    title: str | None
    kind: int | None
    meter_readings: tuple[MeterReading, ...]
    usage_summaries: tuple[UsageSummary, ...] = ()
    local_time: LocalTimeParameters | None = None

    @property
    def kind_name(self) -> str:
        if self.kind is None:
            return "missing"
        return SERVICE_KINDS.get(self.kind, f"kind {self.kind}")

    @property
    def label(self) -> str:
        """A short name for messages: the title, else the href."""
        return self.title or self.href or "usage point"


@dataclass(frozen=True, slots=True)
class GreenButtonDocument:
    """A parsed Green Button file.

    ``notes`` say what the parser had to assume; ``sha256`` is the hex digest of
    the bytes parsed, kept so bills can cite the document they came from.
    """

    source: str
    usage_points: tuple[UsagePoint, ...]
    notes: tuple[str, ...] = ()
    sha256: str | None = None
