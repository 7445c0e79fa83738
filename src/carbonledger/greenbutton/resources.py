"""ESPI resources found in a Green Button file, built into model values.

:mod:`carbonledger.greenbutton.parser` reads the file safely and hands each
resource over as a :class:`Raw` (its element and the Atom links of its entry);
:class:`Builder` takes the interval readings as they stream by, links the
resources (UsagePoint, MeterReading, ReadingType, IntervalBlock, summaries,
LocalTimeParameters) and checks every number against ESPI's ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from xml.etree.ElementTree import Element

from carbonledger.errors import InvalidInput
from carbonledger.greenbutton.localtime import LocalTimeParameters
from carbonledger.greenbutton.model import (
    GreenButtonDocument,
    IntervalBlock,
    MeterReading,
    ReadingColumns,
    ReadingType,
    SummaryMeasurement,
    UsagePoint,
    UsageSummary,
)

__all__ = ["ATOM", "ATOM_NS", "ESPI", "ESPI_NS", "Builder", "Raw", "norm_href", "split_tag"]

ESPI_NS = "http://naesb.org/espi"
ATOM_NS = "http://www.w3.org/2005/Atom"
#: Tag prefixes of the two namespaces, as ElementTree writes them.
ESPI = "{" + ESPI_NS + "}"
ATOM = "{" + ATOM_NS + "}"
_SUMMARIES = ("UsageSummary", "ElectricPowerUsageSummary")
_INT = re.compile(r"[+-]?\d+")
#: ESPI readings and costs are ``Int48``; a longer number is not a reading.
_INT48 = 2**47
#: ESPI ``UnitMultiplierKind``: the powers of ten a ReadingType may scale by.
_MULTIPLIERS = frozenset({-12, -9, -6, -3, -2, -1, 0, 1, 2, 3, 6, 9, 12})
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


@dataclass(slots=True)
class Raw:
    """One ESPI resource with the Atom links of the entry that carries it."""

    name: str
    elem: Element
    self_href: str | None = None
    up_href: str | None = None
    related: frozenset[str] = frozenset()
    title: str | None = None


def norm_href(href: str | None) -> str | None:
    if href is None:
        return None
    text = href.strip().rstrip("/")
    return text or None


def split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


@dataclass
class Builder:
    source: str
    raws: list[Raw]
    notes: list[str] = field(default_factory=list)
    fractional: list[str] = field(default_factory=list)
    #: readings taken while streaming, by the id of their IntervalBlock element
    columns: dict[int, ReadingColumns] = field(default_factory=dict)

    def take_reading(self, el: Element, stack: list[Element]) -> None:
        """Read an IntervalReading element into its block's columns (``stack``: its ancestors)."""
        block = stack[-1]
        cols = self.columns.get(id(block))
        if cols is None:
            cols = self.columns[id(block)] = ReadingColumns()
        entry = next((e for e in reversed(stack) if e.tag == ATOM + "entry"), None)
        href = None
        if entry is not None:
            href = next(
                (
                    norm_href(k.get("href"))
                    for k in entry.findall(ATOM + "link")
                    if k.get("rel") == "self"
                ),
                None,
            )
        where = f"IntervalBlock {href or ''}".rstrip() + f", IntervalReading {len(cols) + 1}"
        self._reading(el, cols, where)

    def build(self) -> GreenButtonDocument:
        by: dict[str, list[Raw]] = {}
        for raw in self.raws:
            key = "Summary" if raw.name in _SUMMARIES else raw.name
            by.setdefault(key, []).append(raw)
        ups, mrs = by.get("UsagePoint", []), by.get("MeterReading", [])
        rts, ibs = by.get("ReadingType", []), by.get("IntervalBlock", [])
        sums, ltps = by.get("Summary", []), by.get("LocalTimeParameters", [])
        if not (ups or mrs or ibs):
            raise InvalidInput(
                f"{self.source}: no ESPI usage data found"
                " (no UsagePoint, MeterReading or IntervalBlock)"
            )
        if not ups:
            ups = [Raw("UsagePoint", Element(ESPI + "UsagePoint"))]
            self.notes.append("the file has no UsagePoint; its service kind is unknown")
        if not mrs and ibs:
            mrs = [Raw("MeterReading", Element(ESPI + "MeterReading"))]
            self.notes.append("the file has no MeterReading; its interval blocks are read as one")

        mr_of_up = self._assign(mrs, ups, "MeterReading", "UsagePoint", required=True)
        ib_of_mr = self._assign(ibs, mrs, "IntervalBlock", "MeterReading", required=True)
        sum_of_up = self._assign(sums, ups, "usage summary", "UsagePoint", required=False)
        reading_types = [self._reading_type(r) for r in rts]
        points = []
        for i, up in enumerate(ups):
            meters = tuple(
                self._meter(
                    mr, index=j, ibs=ibs, ib_of_mr=ib_of_mr, rts=rts, reading_types=reading_types
                )
                for j, mr in enumerate(mrs)
                if mr_of_up[j] == i
            )
            summaries = tuple(self._summary(s) for j, s in enumerate(sums) if sum_of_up[j] == i)
            points.append(
                UsagePoint(
                    up.self_href,
                    up.title,
                    self._int(up.elem, "ServiceCategory/kind", "UsagePoint"),
                    meters,
                    summaries,
                    self._local_time(up, ltps),
                )
            )
        if self.fractional:
            self.notes.append(
                f"{len(self.fractional)} time values have fractional seconds"
                f" (first {self.fractional[0]}); they were truncated to whole seconds"
            )
        return GreenButtonDocument(self.source, tuple(points), tuple(self.notes))

    # --- linking -------------------------------------------------------------------

    def _assign(
        self,
        children: list[Raw],
        parents: list[Raw],
        what: str,
        parent_kind: str,
        *,
        required: bool,
    ) -> list[int | None]:
        """Index of each child's parent: by related/up/self hrefs, else the only parent."""
        out: list[int | None] = []
        guessed = 0
        for child in children:
            found = next((i for i, p in enumerate(parents) if _linked(child, p)), None)
            if found is None and len(parents) == 1:
                found, guessed = 0, guessed + 1
            if found is None and required:
                raise InvalidInput(
                    f"{self.source}: {what} {child.self_href or '(no href)'} is not linked to"
                    f" any of the {len(parents)} {parent_kind}s; its readings cannot be placed"
                )
            if found is None:
                self.notes.append(f"{what} {child.self_href or '(no href)'} is not linked; ignored")
            out.append(found)
        if guessed and len(children) > 0 and any(p.self_href for p in parents):
            self.notes.append(
                f"{guessed} {what}(s) carry no link to their {parent_kind};"
                f" assigned to the only {parent_kind} in the file"
            )
        return out

    def _local_time(self, up: Raw, ltps: list[Raw]) -> LocalTimeParameters | None:
        chosen = next((t for t in ltps if t.self_href and t.self_href in up.related), None)
        if chosen is None and len(ltps) == 1:
            chosen = ltps[0]
        if chosen is None:
            return None
        el, where = chosen.elem, "LocalTimeParameters"
        return LocalTimeParameters(
            self._int(el, "tzOffset", where) or 0,
            self._int(el, "dstOffset", where) or 0,
            _hex(_text(el, "dstStartRule")),
            _hex(_text(el, "dstEndRule")),
        )

    # --- resources -----------------------------------------------------------------

    def _reading_type(self, raw: Raw) -> ReadingType:
        el, where = raw.elem, f"ReadingType {raw.self_href or ''}".rstrip()
        return ReadingType(
            raw.self_href,
            uom=self._int(el, "uom", where),
            power_of_ten_multiplier=self._multiplier(el, where),
            accumulation_behaviour=self._int(el, "accumulationBehaviour", where),
            flow_direction=self._int(el, "flowDirection", where),
            interval_length=self._int(el, "intervalLength", where),
            currency=self._int(el, "currency", where),
            commodity=self._int(el, "commodity", where),
            kind=self._int(el, "kind", where),
        )

    def _meter(
        self,
        mr: Raw,
        *,
        index: int,
        ibs: list[Raw],
        ib_of_mr: list[int | None],
        rts: list[Raw],
        reading_types: list[ReadingType],
    ) -> MeterReading:
        rtype = next(
            (t for r, t in zip(rts, reading_types, strict=True) if r.self_href in mr.related),
            None,
        )
        if rtype is None and len(reading_types) == 1:
            rtype = reading_types[0]
            self.notes.append(
                f"MeterReading {mr.self_href or '(no href)'} has no ReadingType link;"
                " using the only ReadingType in the file"
            )
        scale = rtype.power_of_ten_multiplier if rtype else 0
        blocks = tuple(
            self._block(ib, scale)
            for ib, owner in zip(ibs, ib_of_mr, strict=True)
            if owner == index
        )
        return MeterReading(mr.self_href, mr.title, rtype, blocks)

    def _block(self, raw: Raw, scale: int) -> IntervalBlock:
        where = f"IntervalBlock {raw.self_href or ''}".rstrip()
        interval = raw.elem.find(ESPI + "interval")
        start = duration = None
        if interval is not None:
            start = self._time(interval, "start", where)
            duration = self._time(interval, "duration", where)
        cols = self.columns.get(id(raw.elem), ReadingColumns())
        return IntervalBlock(raw.self_href, start, duration, cols.with_scale(scale))

    def _reading(self, el: Element, cols: ReadingColumns, where: str) -> None:
        period = el.find(ESPI + "timePeriod")
        if period is None:
            raise InvalidInput(f"{self.source}: {where}: timePeriod is missing")
        start = self._time(period, "start", where)
        duration = self._time(period, "duration", where)
        if start is None or duration is None:
            raise InvalidInput(f"{self.source}: {where}: timePeriod needs start and duration")
        if duration < 0:
            raise InvalidInput(f"{self.source}: {where}: duration {duration} is negative")
        value = self._int48(el, "value", where)
        if value is None:
            raise InvalidInput(f"{self.source}: {where}: value is missing")
        cost = self._int48(el, "cost", where)
        quality = tuple(
            q
            for rq in el.findall(ESPI + "ReadingQuality")
            if (q := self._int(rq, "quality", where)) is not None
        )
        cols.append(start, duration, value, cost, quality)

    def _summary(self, raw: Raw) -> UsageSummary:
        el, where = raw.elem, f"{raw.name} {raw.self_href or ''}".rstrip()
        period = el.find(ESPI + "billingPeriod")
        start = duration = None
        if period is not None:
            start = self._time(period, "start", where)
            duration = self._time(period, "duration", where)

        def money(name: str) -> Decimal | None:
            value = self._int48(el, name, where)
            return None if value is None else value.scaleb(-5)

        return UsageSummary(
            raw.self_href,
            start,
            duration,
            bill_last_period=money("billLastPeriod"),
            bill_to_date=money("billToDate"),
            cost_additional_last_period=money("costAdditionalLastPeriod"),
            currency=self._int(el, "currency", where),
            overall_consumption_last_period=self._measurement(
                el, "overallConsumptionLastPeriod", where
            ),
            current_billing_period_overall_consumption=self._measurement(
                el, "currentBillingPeriodOverAllConsumption", where
            ),
        )

    def _measurement(self, el: Element, name: str, where: str) -> SummaryMeasurement | None:
        sub = el.find(ESPI + name)
        if sub is None:
            return None
        value = self._int48(sub, "value", f"{where}, {name}")
        if value is None:
            return None
        scale = self._multiplier(sub, where)
        return SummaryMeasurement(
            value.scaleb(scale),
            self._int(sub, "uom", where),
            scale,
            self._time(sub, "timeStamp", where),
        )

    # --- leaf values ---------------------------------------------------------------

    def _int(self, el: Element, path: str, where: str) -> int | None:
        text = _text(el, path)
        if text is None:
            return None
        if not _INT.fullmatch(text):
            raise InvalidInput(f"{self.source}: {where}: {_leaf(path)} {text!r} is not an integer")
        return int(text)

    def _multiplier(self, el: Element, where: str) -> int:
        scale = self._int(el, "powerOfTenMultiplier", where) or 0
        if scale not in _MULTIPLIERS:
            raise InvalidInput(
                f"{self.source}: {where}: powerOfTenMultiplier {scale} is not an ESPI"
                f" multiplier (one of {', '.join(map(str, sorted(_MULTIPLIERS)))})"
            )
        return scale

    def _int48(self, el: Element, name: str, where: str) -> Decimal | None:
        """A reading's value or cost: a number within ESPI's Int48 range."""
        value = self._number(el, name, where)
        if value is not None and abs(value) >= _INT48:
            text = _text(el, name) or ""
            shown = text if len(text) <= 24 else f"{text[:12]}...{text[-6:]} ({len(text)} digits)"
            raise InvalidInput(
                f"{self.source}: {where}: {name} {shown} is out of range"
                f" (ESPI values are 48-bit integers, below {_INT48:,})"
            )
        return value

    def _time(self, el: Element, name: str, where: str) -> int | None:
        text = _text(el, name)
        if text is None:
            return None
        if _INT.fullmatch(text):
            return int(text)
        if _NUMBER.fullmatch(text):
            self.fractional.append(text)
            return int(Decimal(text).to_integral_value(rounding="ROUND_FLOOR"))
        raise InvalidInput(f"{self.source}: {where}: {name} {text!r} is not a Unix time")

    def _number(self, el: Element, name: str, where: str) -> Decimal | None:
        text = _text(el, name)
        if text is None:
            return None
        if not _NUMBER.fullmatch(text):
            raise InvalidInput(f"{self.source}: {where}: {name} {text!r} is not a number")
        return Decimal(text)


def _linked(child: Raw, parent: Raw) -> bool:
    if child.self_href is None and child.up_href is None:
        return False
    if child.self_href in parent.related or child.up_href in parent.related:
        return True
    return bool(
        parent.self_href and child.self_href and child.self_href.startswith(parent.self_href + "/")
    )


def _text(el: Element, path: str) -> str | None:
    child = el.find(_path(path))
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _path(path: str) -> str:
    return "/".join(p if p.startswith("{") else ESPI + p for p in path.split("/"))


def _leaf(path: str) -> str:
    return split_tag(path.rsplit("/", 1)[-1])[1]


def _hex(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None
