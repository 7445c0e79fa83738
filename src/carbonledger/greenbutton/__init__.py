"""Green Button (NAESB ESPI) import: parse the XML safely, summarise, turn it into bills.

doc = parse_file("usage.xml")           # InvalidInput on anything unsafe or malformed
summary = summarise(doc)                 # per usage point: kind, period, totals, cost
result = to_bills(doc, site="hq")        # BillsFromGreenButton(bills, notes)
"""

from carbonledger.greenbutton.bills import to_bills
from carbonledger.greenbutton.convert import natural_unit, summarise, to_intervals
from carbonledger.greenbutton.localtime import LocalTimeParameters
from carbonledger.greenbutton.model import (
    GreenButtonDocument,
    IntervalBlock,
    IntervalReading,
    MeterReading,
    ReadingType,
    SummaryMeasurement,
    UsagePoint,
    UsageSummary,
)
from carbonledger.greenbutton.parser import DEFAULT_MAX_BYTES, parse_bytes, parse_file
from carbonledger.greenbutton.results import (
    BillsFromGreenButton,
    Interval,
    MeterSummary,
    Summary,
    UsagePointSummary,
)

__all__ = [
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
