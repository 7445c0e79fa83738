"""Read utility bills from CSV, reporting every bad row by line, field and reason.

Columns (header names are case-insensitive; aliases in brackets):

========== ======== ==========================================================
column     required meaning
========== ======== ==========================================================
site       if no    site id; may be given once for the whole file instead
           --site
account    yes      meter or utility account number [meter, account_number]
start      yes      first day of the period, YYYY-MM-DD [from, from_date]
end        yes      last day of the period, inclusive [thru, thru_date, to]
amount     yes      quantity used [energy_use_amount, usage, quantity]
unit       yes      unit of ``amount``: kWh, MWh, therm, m3, L, ... [uom]
activity   no       electricity (default), natural_gas, diesel, ...
cost       no       amount billed
currency   no       ISO 4217 code of ``cost``
document   no       SHA-256 (hex) of the bill document [document_sha256]
========== ======== ==========================================================
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from carbonledger.core.domain import Bill, parse_amount, parse_date
from carbonledger.errors import InvalidInput, RowError
from carbonledger.factors.resolver import normalise_activity

__all__ = ["COLUMNS", "ParsedBills", "RowParser", "iter_bills", "parse_bills"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "site": ("site", "site_id"),
    "account": ("account", "meter", "account_number", "meter_id"),
    "start": ("start", "from", "from_date", "fromdate", "period_start"),
    "end": ("end", "thru", "thru_date", "thrudate", "to", "period_end"),
    "amount": ("amount", "energy_use_amount", "energyuseamount", "usage", "quantity"),
    "unit": ("unit", "uom", "energy_use_uom", "energyuseuom"),
    "activity": ("activity", "fuel", "type"),
    "cost": ("cost", "amount_billed"),
    "currency": ("currency",),
    "document": ("document", "document_sha256"),
}
REQUIRED = ("account", "start", "end", "amount", "unit")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class ParsedBills:
    bills: list[Bill] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def _header_map(header: list[str], site_given: bool) -> dict[str, int]:
    normal = [h.strip().lower().replace(" ", "_") for h in header]
    found: dict[str, int] = {}
    for name, aliases in COLUMNS.items():
        for pos, h in enumerate(normal):
            if h in aliases:
                found[name] = pos
                break
    missing = [c for c in REQUIRED if c not in found]
    if "site" not in found and not site_given:
        missing.insert(0, "site")
    if missing:
        raise InvalidInput(
            f"line 1: header lacks column(s) {', '.join(missing)}; found {', '.join(header)}"
        )
    return found


def parse_bills(lines: Iterable[str], *, site: str | None = None) -> ParsedBills:
    """Parse CSV text; good rows become bills, each bad row one :class:`RowError`."""
    out = ParsedBills()
    for row in iter_bills(lines, site=site):
        out.rows += 1
        if isinstance(row, RowError):
            out.errors.append(row)
        else:
            out.bills.append(row)
    return out


def iter_bills(lines: Iterable[str], *, site: str | None = None) -> Iterator[Bill | RowError]:
    """Stream CSV rows as bills or, for bad rows, :class:`RowError` (header errors raise)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise InvalidInput("line 1: the file is empty (a header row is required)")
    parser = RowParser(header, site=site)
    for row in reader:
        parsed = parser.parse(reader.line_num, row)
        if parsed is not None:
            yield parsed


class RowParser:
    """Turns CSV rows into bills, given the header (used by streaming and parallel imports)."""

    def __init__(self, header: list[str], *, site: str | None = None) -> None:
        self.cols = _header_map(header, site is not None)
        self.width = len(header)
        self.site = site

    def account_key(self, row: list[str]) -> str:
        """``site/account`` of a row, as written (for routing rows of one account together)."""
        cols = self.cols
        row_site = row[cols["site"]].strip() if "site" in cols and len(row) > cols["site"] else ""
        account = row[cols["account"]].strip() if len(row) > cols["account"] else ""
        return f"{row_site or self.site}/{account}"

    def parse(self, line: int, row: list[str]) -> Bill | RowError | None:
        """The bill on ``row`` (line ``line``), its error, or None for a blank row."""
        if not row or all(not c.strip() for c in row):
            return None
        if len(row) != self.width:
            return RowError(line, "row", f"has {len(row)} fields, header has {self.width}")
        cols, get, site = self.cols, self.cols.get, self.site
        field_name = "row"
        try:
            field_name = "site"
            row_site = row[cols["site"]].strip() if "site" in cols else ""
            site_id = row_site or site
            if not site_id:
                raise InvalidInput("required")
            if site and row_site and row_site != site:
                raise InvalidInput(f"{row_site!r} differs from --site {site!r}")
            field_name = "start"
            start = parse_date(row[cols["start"]], "start")
            field_name = "end"
            end = parse_date(row[cols["end"]], "end")
            field_name = "amount"
            amount = parse_amount(row[cols["amount"]], "amount")
            field_name = "unit"
            unit = row[cols["unit"]].strip()
            if not unit:
                raise InvalidInput("required")
            field_name = "cost"
            pos = get("cost")
            cost: Decimal | None = None
            if pos is not None and row[pos].strip():
                cost = parse_amount(row[pos], "cost")
            field_name = "document"
            pos = get("document")
            doc = row[pos].strip().lower() if pos is not None else ""
            if doc and not _SHA256.match(doc):
                raise InvalidInput(f"{doc!r} is not a SHA-256 hex digest")
            field_name = "activity"
            pos = get("activity")
            activity = normalise_activity(row[pos] if pos is not None else "") or "electricity"
            pos = get("currency")
            currency = (row[pos].strip().upper() if pos is not None else "") or None
            field_name = "account"
            account = row[cols["account"]].strip()
            if not account:
                raise InvalidInput("required (meter or utility account number)")
            field_name = "period"
            return Bill(
                site_id,
                account,
                start,
                end,
                amount,
                unit,
                activity,
                cost,
                currency,
                doc or None,
                line,
            )
        except InvalidInput as exc:
            return RowError(line, field_name, str(exc).removeprefix(f"{field_name}: "))
