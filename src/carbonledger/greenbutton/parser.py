"""Parse Green Button (NAESB ESPI) XML into :mod:`carbonledger.greenbutton.model` values.

The XML is read only through :mod:`defusedxml` with DTDs forbidden, so entity
expansion ("billion laughs") and external entities (XXE) are refused before
anything is expanded; the size cap is checked before parsing.  Any problem
raises :class:`~carbonledger.errors.InvalidInput` and nothing partial is
returned.

Three shapes are accepted: an Atom feed whose entries each carry one ESPI
resource, "containerized" feeds whose entry content holds several resources
(all IntervalBlocks of a meter reading in one entry), and a bare ESPI resource
as the root element.  Resources are linked the ESPI way, by the entries' Atom
``self``/``up``/``related`` hrefs; where a file leaves a link out and only one
candidate exists, that candidate is used and a note says so.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DefusedET

from carbonledger.errors import InvalidInput
from carbonledger.greenbutton.model import (
    GreenButtonDocument,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingColumns,
    ReadingType,
    SummaryMeasurement,
    UsagePoint,
    UsageSummary,
)

__all__ = ["ATOM_NS", "DEFAULT_MAX_BYTES", "ESPI_NS", "parse_bytes", "parse_file"]

ESPI_NS = "http://naesb.org/espi"
ATOM_NS = "http://www.w3.org/2005/Atom"
#: Files larger than this are refused before parsing (200 MB).
DEFAULT_MAX_BYTES = 200 * 1024 * 1024

_E = "{" + ESPI_NS + "}"
_A = "{" + ATOM_NS + "}"
_READING = _E + "IntervalReading"
_RESOURCES = frozenset(
    {
        "UsagePoint",
        "MeterReading",
        "ReadingType",
        "IntervalBlock",
        "UsageSummary",
        "ElectricPowerUsageSummary",
        "LocalTimeParameters",
    }
)
_SUMMARIES = ("UsageSummary", "ElectricPowerUsageSummary")
_INT = re.compile(r"[+-]?\d+")
#: ESPI readings and costs are ``Int48``; a longer number is not a reading.
_INT48 = 2**47
#: ESPI ``UnitMultiplierKind``: the powers of ten a ReadingType may scale by.
_MULTIPLIERS = frozenset({-12, -9, -6, -3, -2, -1, 0, 1, 2, 3, 6, 9, 12})
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def parse_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> GreenButtonDocument:
    """Parse a Green Button XML file; refuse it unread when over ``max_bytes``.

    The file is read as a stream: each interval reading is taken into compact
    columns as soon as it is parsed and its element dropped, so memory grows by
    about 32 bytes a reading, not with the XML.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise InvalidInput(f"{p}: {size:,} bytes is over the limit of {max_bytes:,} bytes")
        with p.open("rb") as fh:
            return _parse(_Hashing(fh, max_bytes, str(p)), str(p))
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot read: {exc.strerror or exc}") from exc


def parse_bytes(
    data: bytes, *, source: str = "<bytes>", max_bytes: int = DEFAULT_MAX_BYTES
) -> GreenButtonDocument:
    """Parse Green Button XML held in memory; ``source`` names it in messages."""
    if len(data) > max_bytes:
        raise InvalidInput(
            f"{source}: {len(data):,} bytes is over the limit of {max_bytes:,} bytes"
        )
    return _parse(_Hashing(io.BytesIO(data), max_bytes, source), source)


class _Hashing:
    """A binary stream read once, hashed as it goes and refused past ``max_bytes``."""

    def __init__(self, fh: BinaryIO, max_bytes: int, source: str) -> None:
        self._fh, self._max, self._source = fh, max_bytes, source
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._fh.read(n if n > 0 else 1 << 16)
        self.size += len(chunk)
        if self.size > self._max:  # the file grew after it was measured
            raise InvalidInput(f"{self._source}: over the limit of {self._max:,} bytes")
        self.sha256.update(chunk)
        return chunk


def _parse(stream: _Hashing, source: str) -> GreenButtonDocument:
    builder = _Builder(source, [])
    root = _load(stream, source, builder)
    builder.raws = list(_resources(root, source))
    doc = builder.build()
    return replace(doc, sha256=stream.sha256.hexdigest())


def _load(stream: _Hashing, source: str, builder: _Builder) -> Element:
    """The document's tree without its interval readings, which go to ``builder.columns``.

    Parsed incrementally (defusedxml's ``iterparse``, DTDs forbidden, so entity
    expansion and external entities are refused before anything is expanded).
    """
    stack: list[Element] = []
    root: Element | None = None
    try:
        for event, elem in DefusedET.iterparse(stream, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                stack.append(elem)
                continue
            stack.pop()
            root = elem
            if elem.tag == _READING and stack:
                builder.take_reading(elem, stack)
                del stack[-1][-1]  # the element just ended is its parent's last child
    except defusedxml.DefusedXmlException as exc:
        raise InvalidInput(
            f"{source}: XML entities/DTD are not allowed ({type(exc).__name__})"
        ) from exc
    except ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":", 1)[0]
        raise InvalidInput(
            f"{source}: malformed XML at line {line}, column {column}: {reason}"
        ) from exc
    if root is None:
        raise InvalidInput(f"{source}: malformed XML at line 1, column 0: no element found")
    return root


@dataclass(slots=True)
class _Raw:
    """One ESPI resource with the Atom links of the entry that carries it."""

    name: str
    elem: Element
    self_href: str | None = None
    up_href: str | None = None
    related: frozenset[str] = frozenset()
    title: str | None = None


def _norm(href: str | None) -> str | None:
    if href is None:
        return None
    text = href.strip().rstrip("/")
    return text or None


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _resources(root: Element, source: str) -> Iterator[_Raw]:
    ns, name = _local(root.tag)
    if ns == ATOM_NS and name == "feed":
        for entry in root.iter(_A + "entry"):
            yield from _entry(entry)
    elif ns == ATOM_NS and name == "entry":
        yield from _entry(root)
    elif ns == ESPI_NS and name in _RESOURCES:
        yield _Raw(name, root)
    elif ns == ESPI_NS:
        yield from _espi_children(root, _Raw(name, root))
    else:
        shown = f"{{{ns}}}{name}" if ns else name
        raise InvalidInput(
            f"{source}: not a Green Button (ESPI) file: the root element is <{shown}>,"
            " expected an Atom feed or an ESPI resource"
        )


def _entry(entry: Element) -> Iterator[_Raw]:
    self_href = up_href = None
    related: set[str] = set()
    for link in entry.findall(_A + "link"):
        rel, href = link.get("rel"), _norm(link.get("href"))
        if href is None:
            continue
        if rel == "self":
            self_href = href
        elif rel == "up":
            up_href = href
        elif rel == "related":
            related.add(href)
    title_el = entry.find(_A + "title")
    title = (title_el.text or "").strip() or None if title_el is not None else None
    content = entry.find(_A + "content")
    if content is None:
        return
    template = _Raw("", content, self_href, up_href, frozenset(related), title)
    yield from _espi_children(content, template)


def _espi_children(parent: Element, template: _Raw) -> Iterator[_Raw]:
    for child in parent:
        ns, name = _local(child.tag) if isinstance(child.tag, str) else ("", "")
        if ns == ESPI_NS and name in _RESOURCES:
            yield _Raw(
                name, child, template.self_href, template.up_href, template.related, template.title
            )


@dataclass
class _Builder:
    source: str
    raws: list[_Raw]
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
        entry = next((e for e in reversed(stack) if e.tag == _A + "entry"), None)
        href = None
        if entry is not None:
            href = next(
                (
                    _norm(k.get("href"))
                    for k in entry.findall(_A + "link")
                    if k.get("rel") == "self"
                ),
                None,
            )
        where = f"IntervalBlock {href or ''}".rstrip() + f", IntervalReading {len(cols) + 1}"
        self._reading(el, cols, where)

    def build(self) -> GreenButtonDocument:
        by: dict[str, list[_Raw]] = {}
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
            ups = [_Raw("UsagePoint", Element(_E + "UsagePoint"))]
            self.notes.append("the file has no UsagePoint; its service kind is unknown")
        if not mrs and ibs:
            mrs = [_Raw("MeterReading", Element(_E + "MeterReading"))]
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
        children: list[_Raw],
        parents: list[_Raw],
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

    def _local_time(self, up: _Raw, ltps: list[_Raw]) -> LocalTimeParameters | None:
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

    def _reading_type(self, raw: _Raw) -> ReadingType:
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
        mr: _Raw,
        *,
        index: int,
        ibs: list[_Raw],
        ib_of_mr: list[int | None],
        rts: list[_Raw],
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

    def _block(self, raw: _Raw, scale: int) -> IntervalBlock:
        where = f"IntervalBlock {raw.self_href or ''}".rstrip()
        interval = raw.elem.find(_E + "interval")
        start = duration = None
        if interval is not None:
            start = self._time(interval, "start", where)
            duration = self._time(interval, "duration", where)
        cols = self.columns.get(id(raw.elem), ReadingColumns())
        return IntervalBlock(raw.self_href, start, duration, cols.with_scale(scale))

    def _reading(self, el: Element, cols: ReadingColumns, where: str) -> None:
        period = el.find(_E + "timePeriod")
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
            for rq in el.findall(_E + "ReadingQuality")
            if (q := self._int(rq, "quality", where)) is not None
        )
        cols.append(start, duration, value, cost, quality)

    def _summary(self, raw: _Raw) -> UsageSummary:
        el, where = raw.elem, f"{raw.name} {raw.self_href or ''}".rstrip()
        period = el.find(_E + "billingPeriod")
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
        sub = el.find(_E + name)
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


def _linked(child: _Raw, parent: _Raw) -> bool:
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
    return "/".join(p if p.startswith("{") else _E + p for p in path.split("/"))


def _leaf(path: str) -> str:
    return _local(path.rsplit("/", 1)[-1])[1]


def _hex(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None
