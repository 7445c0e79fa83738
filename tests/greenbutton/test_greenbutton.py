"""Green Button (NAESB ESPI) import: parsing, safety, totals and bills.

Expected totals are recomputed here with a plain ElementTree pass over each file,
so the tests do not reuse the parser they check.
"""

from __future__ import annotations

import calendar
import time
import xml.etree.ElementTree as ET
import zoneinfo
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import carbonledger.greenbutton as gb
from carbonledger.errors import InvalidInput, UnknownUnit
from carbonledger.greenbutton import (
    GreenButtonDocument,
    IntervalBlock,
    IntervalReading,
    MeterReading,
    ReadingType,
    UsagePoint,
    parse_bytes,
    parse_file,
    summarise,
    to_bills,
    to_intervals,
)

DATA = Path(__file__).parents[1] / "data" / "greenbutton"
COASTAL = DATA / "Coastal_Multi_Family_Jan_1_2011_to_Jan_1_2012_RetailCustomer_5.xml"
GAS_BILLING = (
    DATA / "ngma_natural_gas_billing_billing_data_Service_1_1_2021-05-26_to_2024-04-25.xml"
)
ESPI = "{http://naesb.org/espi}"


def independent(path: Path) -> tuple[int, Decimal, int | None, list[tuple[int, int, Decimal]]]:
    """(readings, scaled total, uom, [(start, duration, scaled value)]) by a plain pass.

    Every sample file has at most one ReadingType, so its multiplier applies to all.
    """
    root = ET.parse(path).getroot()  # trusted test data
    rt = next(root.iter(ESPI + "ReadingType"), None)
    mult_el = rt.find(ESPI + "powerOfTenMultiplier") if rt is not None else None
    uom_el = rt.find(ESPI + "uom") if rt is not None else None
    mult = int(mult_el.text) if mult_el is not None and mult_el.text else 0
    rows = []
    for reading in root.iter(ESPI + "IntervalReading"):
        period = reading.find(ESPI + "timePeriod")
        assert period is not None
        start = int(Decimal(period.findtext(ESPI + "start") or ""))
        duration = int(period.findtext(ESPI + "duration") or "")
        value = Decimal(reading.findtext(ESPI + "value") or "").scaleb(mult)
        rows.append((start, duration, value))
    uom = int(uom_el.text) if uom_el is not None and uom_el.text else None
    return len(rows), sum((v for *_, v in rows), Decimal(0)), uom, rows


# file, service kind, uom, readings, total in the natural unit (None: unit unknown)
SAMPLES = [
    (COASTAL.name, 0, 72, 8760, "kWh"),
    ("TestGBDataOneYearDailyBinnedMonthly.xml", 0, 72, 444, "kWh"),
    ("TestGBDataHourlyNineDaysBinnedDaily.xml", 0, 72, 216, "kWh"),
    ("electric_containerized.xml", 0, 72, 8, "kWh"),
    ("gas_direct.xml", 1, 169, 5, "therm"),
    (GAS_BILLING.name, 1, 169, 35, "therm"),
    ("gas_containerized.xml", None, None, 3, None),
    ("ngma_gas_provider_2024-07-16.xml", None, None, 36, None),
]


@pytest.mark.parametrize(("name", "kind", "uom", "count", "unit"), SAMPLES)
def test_sample_totals_match_an_independent_pass(
    name: str, kind: int | None, uom: int | None, count: int, unit: str | None
) -> None:
    path = DATA / name
    n, total, file_uom, _ = independent(path)
    doc = parse_file(path)
    summary = summarise(doc)
    (up,) = summary.usage_points
    assert up.kind == kind
    assert file_uom == uom
    assert up.readings == n == count
    (meter,) = up.meter_readings
    assert meter.reading_type is not None
    assert meter.reading_type.uom == uom
    if unit is None:
        assert meter.total is None
        assert any("no uom" in note for note in summary.notes)
        with pytest.raises(UnknownUnit, match="gives no uom"):
            to_intervals(doc)
        return
    divisor = 1000 if unit == "kWh" else 1  # Wh -> kWh; therms stay therms
    assert up.consumption == total / divisor
    assert up.consumption_unit == meter.total_unit == unit
    assert sum(i.amount for i in to_intervals(doc)) == total


def test_coastal_year_kwh_and_reading_type() -> None:
    count, total, _, _ = independent(COASTAL)
    doc = parse_file(COASTAL)
    (up,) = doc.usage_points
    (mr,) = up.meter_readings
    rt = mr.reading_type
    assert rt is not None
    assert (rt.uom, rt.power_of_ten_multiplier, rt.flow_direction) == (72, 0, 1)
    assert (rt.accumulation_behaviour, rt.interval_length, rt.currency_code) == (4, 3600, "USD")
    assert count == 8760 == len(mr.readings)
    assert summarise(doc).usage_points[0].consumption == total / 1000 == Decimal("4425.305")
    intervals = to_intervals(doc)
    assert intervals[0].start == datetime(2011, 1, 1, 8, tzinfo=UTC)
    assert intervals[-1].end == datetime(2012, 1, 1, 8, tzinfo=UTC)
    assert {i.unit for i in intervals} == {"Wh"}
    summary = up.usage_summaries[0]
    assert summary.overall_consumption_last_period is not None
    assert summary.overall_consumption_last_period.value == Decimal(768032)


def test_gas_units_multiplier_and_costs() -> None:
    doc = parse_file(DATA / "gas_direct.xml")
    (up,) = doc.usage_points
    (mr,) = up.meter_readings
    assert mr.reading_type is not None
    assert mr.reading_type.unit == "therm"
    assert mr.reading_type.power_of_ten_multiplier == -3
    first = mr.readings[0]
    assert first.value == Decimal("37.000")  # 37000 x 10^-3 therm
    assert first.cost == Decimal("51")  # 5100000 / 100000 USD
    assert first.start == 1621987200
    assert first.duration == 3024000


def test_containerized_gas_notes_its_quirks() -> None:
    doc = parse_file(DATA / "gas_containerized.xml")
    assert any("fractional seconds" in n for n in doc.notes)
    assert doc.usage_points[0].kind is None
    summary = summarise(doc)
    assert any("overlap" in n for n in summary.notes)
    with pytest.raises(InvalidInput, match="service kind missing"):
        to_bills(doc, site="hq")


def test_binned_files_and_usage_summary() -> None:
    doc = parse_file(DATA / "TestGBDataOneYearDailyBinnedMonthly.xml")
    (up,) = doc.usage_points
    assert len(up.meter_readings[0].blocks) == 15
    (summary,) = up.usage_summaries
    assert summary.bill_last_period == Decimal("67.52")
    assert summary.currency_code == "USD"
    result = to_bills(doc, site="hq", period="usage_summary", timezone="local")
    (bill,) = result.bills
    assert (bill.start, bill.end) == (date(2014, 2, 1), date(2014, 2, 28))
    assert bill.amount == Decimal("625.716")  # the readings agree with the summary
    assert bill.cost == Decimal("67.52")
    assert result.notes == ()
    nine = parse_file(DATA / "TestGBDataHourlyNineDaysBinnedDaily.xml")
    assert [len(b.readings) for b in nine.usage_points[0].meter_readings[0].blocks] == [24] * 9


# --- safety and malformed input ---------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol3;</title></feed>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&xxe;</title></entry></feed>"""


def _with_value(text: str) -> bytes:
    data = (DATA / "gas_direct.xml").read_bytes()
    return data.replace(b"<value>14000</value>", f"<value>{text}</value>".encode(), 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (COASTAL.read_bytes()[:20000], r"malformed XML at line \d+, column \d+"),
        (BILLION_LAUGHS, "XML entities/DTD are not allowed"),
        (XXE, "XML entities/DTD are not allowed"),
        (b"<html/>", r"not a Green Button \(ESPI\) file: the root element is <html>"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "no ESPI usage data"),
        (_with_value("14k"), r"IntervalReading 2: value '14k' is not a number"),
        (_with_value("NaN"), "is not a number"),
        (_with_value(""), "value is missing"),
    ],
    ids=["truncated", "billion-laughs", "xxe", "html", "empty-feed", "non-numeric", "nan", "empty"],
)
def test_bad_documents_raise_invalid_input(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        parse_bytes(data, source="upload.xml")
    assert str(info.value).startswith("upload.xml: ")
    assert "root:" not in str(info.value)  # nothing from /etc/passwd


def test_files_are_named_in_errors_and_size_is_capped(tmp_path: Path) -> None:
    bad = tmp_path / "cut.xml"
    bad.write_bytes(COASTAL.read_bytes()[:5000])
    with pytest.raises(InvalidInput, match=rf"{bad}: malformed XML at line \d+"):
        parse_file(bad)
    with pytest.raises(InvalidInput, match="over the limit of 1,000,000 bytes"):
        parse_file(COASTAL, max_bytes=1_000_000)
    with pytest.raises(InvalidInput, match="over the limit"):
        parse_bytes(b"<html/>", max_bytes=3)
    with pytest.raises(InvalidInput, match="cannot read"):
        parse_file(tmp_path / "missing.xml")


def test_unlinked_interval_blocks_are_refused() -> None:
    data = (DATA / "TestGBDataHourlyNineDaysBinnedDaily.xml").read_bytes()
    # A second meter reading that nothing links to makes the blocks' owner ambiguous.
    extra = (
        b'<entry><link rel="self" href="/other/MeterReading/9"/>'
        b'<content><MeterReading xmlns="http://naesb.org/espi"/></content></entry>'
        b'<entry><link rel="self" href="/nowhere/IntervalBlock/1"/><content>'
        b'<IntervalBlock xmlns="http://naesb.org/espi"/></content></entry></feed>'
    )
    with pytest.raises(InvalidInput, match="IntervalBlock /nowhere/IntervalBlock/1 is not linked"):
        parse_bytes(data.replace(b"</feed>", extra), source="x.xml")


def test_bare_espi_resource_root() -> None:
    data = b"""<IntervalBlock xmlns="http://naesb.org/espi">
      <IntervalReading><timePeriod><duration>3600</duration><start>0</start></timePeriod>
      <value>5</value></IntervalReading></IntervalBlock>"""
    doc = parse_bytes(data)
    (up,) = doc.usage_points
    assert up.kind is None
    assert up.meter_readings[0].readings[0].value == 5
    assert any("no UsagePoint" in n for n in doc.notes)


# --- bills --------------------------------------------------------------------------


def _month_totals(rows: list[tuple[int, int, Decimal]], zone: object | None) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for start, _, value in rows:
        when = datetime.fromtimestamp(start, UTC)
        if zone is not None:
            when = when.astimezone(zone)  # type: ignore[arg-type]
        totals[f"{when:%Y-%m}"] += value / 1000
    return dict(totals)


def test_coastal_bills_per_local_month() -> None:
    try:
        pacific = zoneinfo.ZoneInfo("America/Los_Angeles")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip(reason="no time zone database on this machine")
    _, total, _, rows = independent(COASTAL)
    result = to_bills(parse_file(COASTAL), site="hq", account="meter-5", timezone="local")
    assert len(result.bills) == 12
    assert sum(b.amount for b in result.bills) == total / 1000
    assert result.notes == ()
    expected = _month_totals(rows, pacific)
    for month, bill in enumerate(result.bills, 1):
        assert bill.start == date(2011, month, 1)
        assert bill.end == date(2011, month, calendar.monthrange(2011, month)[1])
        assert bill.amount == expected[f"2011-{month:02d}"]
        assert (bill.unit, bill.activity, bill.account, bill.site) == (
            "kWh",
            "electricity",
            "meter-5",
            "hq",
        )
        assert bill.document_sha256 is not None


def test_coastal_bills_per_utc_month_keep_partial_months() -> None:
    _, total, _, rows = independent(COASTAL)
    result = to_bills(parse_file(COASTAL), site="hq")
    # The year is a Pacific one: in UTC it runs from Jan 1 08:00 to Jan 1 08:00.
    assert len(result.bills) == 13
    assert sum(b.amount for b in result.bills) == total / 1000
    expected = _month_totals(rows, None)
    assert [b.amount for b in result.bills] == [expected[k] for k in sorted(expected)]
    first, last = result.bills[0], result.bills[-1]
    assert (first.start, first.end) == (date(2011, 1, 1), date(2011, 1, 31))
    assert (last.start, last.end) == (date(2012, 1, 1), date(2012, 1, 1))
    assert any("2011-01 is partly covered" in n and "736.0 h" in n for n in result.notes)
    assert any("2012-01 is partly covered" in n and "8.0 h" in n for n in result.notes)
    for a, b in zip(result.bills, result.bills[1:], strict=False):
        assert a.end < b.start  # inclusive dates never overlap
    assert first.account.endswith("/RetailCustomer/5/UsagePoint/1")


def test_gas_bills_per_reading_and_dst_overlap() -> None:
    n, total, _, _ = independent(GAS_BILLING)
    result = to_bills(parse_file(GAS_BILLING), site="hq", period="reading")
    assert len(result.bills) == n == 35
    assert sum(b.amount for b in result.bills) == total
    assert {b.unit for b in result.bills} == {"therm"}
    assert {b.activity for b in result.bills} == {"natural_gas"}
    assert result.bills[0].cost == Decimal(51)
    assert result.bills[0].currency == "USD"
    assert any("at most an hour" in n for n in result.notes)
    months = to_bills(parse_file(GAS_BILLING), site="hq")
    assert sum(b.amount for b in months.bills) == total
    assert any("straddle a month boundary" in n for n in months.notes)


def _doc(*meters: MeterReading, kind: int = 0) -> GreenButtonDocument:
    return GreenButtonDocument("synthetic", (UsagePoint("/up/1", "t", kind, meters),))


def _meter(readings: list[IntervalReading], **rt: int) -> MeterReading:
    block = IntervalBlock(None, None, None, tuple(readings))
    return MeterReading(None, None, ReadingType(None, uom=72, **rt), (block,))


def test_reverse_flow_is_reported_not_billed() -> None:
    hour = [IntervalReading(0, 3600, Decimal(1000))]
    doc = _doc(_meter(hour, flow_direction=1), _meter(hour * 1, flow_direction=19))
    summary = summarise(doc).usage_points[0]
    assert summary.consumption == Decimal(1)
    assert summary.received == Decimal(1)
    result = to_bills(doc, site="hq")
    assert [b.amount for b in result.bills] == [Decimal(1)]
    assert any("received energy" in n for n in result.notes)


def test_register_reads_and_overlaps_are_refused() -> None:
    cumulative = _doc(_meter([IntervalReading(0, 3600, Decimal(5))], accumulation_behaviour=3))
    with pytest.raises(InvalidInput, match="cumulative register reads"):
        to_bills(cumulative, site="hq")
    overlapping = _doc(
        _meter([IntervalReading(0, 86400, Decimal(5)), IntervalReading(3600, 86400, Decimal(5))])
    )
    with pytest.raises(InvalidInput, match="readings overlap"):
        to_bills(overlapping, site="hq")
    unknown = _doc(MeterReading(None, None, ReadingType(None, uom=38), ()))
    with pytest.raises(UnknownUnit, match=r"uom 38 \(W\)"):
        to_bills(unknown, site="hq")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40 * 86400),
            st.integers(1, 70 * 86400),
            st.decimals(0, 10**6, places=3),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(1_600_000_000, 1_700_000_000),
)
def test_month_bills_conserve_the_total(spans: list[tuple[int, int, Decimal]], origin: int) -> None:
    readings, t = [], origin
    for gap, duration, value in spans:
        readings.append(IntervalReading(t + gap, duration, value))
        t += gap + duration
    doc = _doc(_meter(readings))
    result = to_bills(doc, site="hq")
    assert sum(b.amount for b in result.bills) == sum(r.value for r in readings) / 1000
    for a, b in zip(result.bills, result.bills[1:], strict=False):
        assert a.end < b.start


# --- API and speed ------------------------------------------------------------------


def test_public_api_is_pinned() -> None:
    assert sorted(gb.__all__) == sorted(
        [
            "DEFAULT_MAX_BYTES",
            "BillsFromGreenButton",
            "GreenButtonDocument",
            "Interval",
            "IntervalBlock",
            "IntervalReading",
            "LocalTimeParameters",
            "MeterReading",
            "MeterSummary",
            "ReadingType",
            "Summary",
            "SummaryMeasurement",
            "UsagePoint",
            "UsagePointSummary",
            "UsageSummary",
            "natural_unit",
            "parse_bytes",
            "parse_file",
            "summarise",
            "to_bills",
            "to_intervals",
        ]
    )


def test_parse_speed_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    began = time.perf_counter()
    doc = parse_file(COASTAL)
    parsed = time.perf_counter() - began
    to_bills(doc, site="hq")
    total = time.perf_counter() - began
    with capsys.disabled():
        print(
            f"\nparse {COASTAL.stat().st_size:,} B: {parsed * 1000:.0f} ms;"
            f" with to_bills {total * 1000:.0f} ms"
        )


def test_dst_rules_decode_to_us_dates() -> None:
    (up,) = parse_file(COASTAL).usage_points
    ltp = up.local_time
    assert ltp is not None
    assert (ltp.tz_offset, ltp.dst_offset) == (-28800, 3600)
    # 360E2000: second Sunday of March, 02:00; B40E2000: first Sunday of November, 02:00.
    assert gb.localtime.dst_rule_instant(ltp.dst_start_rule, 2011) == calendar.timegm(
        (2011, 3, 13, 2, 0, 0)
    )
    assert gb.localtime.dst_rule_instant(ltp.dst_end_rule, 2011) == calendar.timegm(
        (2011, 11, 6, 2, 0, 0)
    )
    winter, summer = (
        calendar.timegm((2011, 1, 15, 12, 0, 0)),
        calendar.timegm((2011, 7, 1, 7, 0, 0)),
    )
    assert (ltp.utc_offset(winter), ltp.utc_offset(summer)) == (-28800, -25200)
    with pytest.raises(InvalidInput, match="no LocalTimeParameters"):
        to_bills(parse_file(DATA / "gas_direct.xml"), site="hq", timezone="local")


def test_negative_delivered_reading_is_refused() -> None:
    doc = _doc(_meter([IntervalReading(0, 3600, Decimal(-5))], flow_direction=1))
    with pytest.raises(InvalidInput, match="negative"):
        to_bills(doc, site="hq")
