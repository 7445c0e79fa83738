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

Any file is read in bounded memory: a line longer than :data:`MAX_LINE_CHARS`
is skipped unread and reported as a bad row, as is a row the CSV reader cannot
read (a field over the same limit, a NUL byte) and, in a file opened with
:data:`DECODE_ERRORS`, a line that is not UTF-8; the other rows are imported.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from carbonledger.core.domain import MAX_AMOUNT, Bill, check_quantity, parse_amount, parse_date
from carbonledger.core.units import normalise_unit
from carbonledger.errors import InvalidInput, RowError
from carbonledger.factors.resolver import normalise_activity

__all__ = [
    "COLUMNS",
    "DECODE_ERRORS",
    "MAX_LINE_CHARS",
    "ParsedBills",
    "RowParser",
    "count_lines",
    "iter_bills",
    "parse_bills",
    "read_header",
    "read_rows",
]

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

#: Open files with this error handler: a line that is not UTF-8 is then one bad row.
DECODE_ERRORS = "surrogateescape"
_UNDECODED = re.compile("[\udc80-\udcff]")

#: Longest line read (the CSV module's own field limit): a bill row is well under
#: 1 KB, and refusing longer lines unread keeps memory bounded whatever the file.
MAX_LINE_CHARS = csv.field_size_limit()


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
    """Stream CSV rows as bills or, for bad rows, :class:`RowError` (header errors raise).

    ``lines``: an open text file (read line by line, each line bounded) or strings.
    """
    rows = read_rows(lines)
    parser = RowParser(read_header(rows), site=site)
    for line, row in rows:
        parsed = row if isinstance(row, RowError) else parser.parse(line, row)
        if parsed is not None:
            yield parsed


@lru_cache(maxsize=1024)  # a file names a handful of units, asked once per row
def _known_unit(unit: str) -> bool:
    """Whether ``unit`` converts (an unknown unit is reported later, with the factor's units)."""
    try:
        normalise_unit(unit)
    except InvalidInput:
        return False
    return True


def read_header(rows: Iterator[tuple[int, list[str] | RowError]]) -> list[str]:
    """The header row (raises :class:`InvalidInput` for an empty file or unreadable header)."""
    first = next(rows, None)
    if first is None:
        raise InvalidInput("line 1: the file is empty (a header row is required)")
    if isinstance(first[1], RowError):
        raise InvalidInput(f"line {first[1].line}: the header {first[1].reason}")
    return first[1]


def read_rows(
    lines: Iterable[str], *, limit: int = MAX_LINE_CHARS
) -> Iterator[tuple[int, list[str] | RowError]]:
    """CSV rows with their line numbers; a row that cannot be read becomes a :class:`RowError`.

    Never holds more than ``limit`` characters of a line or a field: a longer
    line is skipped unread (an open file is read with bounded ``readline``), and
    a quoted field that grows past the limit over several lines is skipped to its
    closing quote; either way the row is reported once, naming its first line.
    """
    source = _Lines(lines, limit)
    reader = csv.reader(source)
    end = 0  # last line of the previous row
    while True:
        row: list[str] | RowError
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            source.eof = False
            if "field limit" in str(exc):
                # Lines are bounded, so only a quoted field spanning lines gets here:
                # skip to its closing quote, so its tail is not read as rows.
                source.skip_quoted()
                reason = f"a field is longer than {limit:,} characters; not read"
            else:
                reason = f"cannot be read as CSV ({exc})"
            row = RowError(end + 1, "row", reason)
        if source.eof and not isinstance(row, RowError):
            # The reader asked past the last line to finish this row: a quote opened in
            # it never closes, and everything after it would be read as one field.
            row = RowError(end + 1, "row", "a quote opened in this row is never closed")
        if source.bad:
            row = RowError(*source.bad[0])
            source.bad.clear()
        yield end + 1, row  # a row is named by its first line, even when it spans several
        end = source.number


class _Lines:
    """``lines`` one at a time, each line over ``limit`` characters replaced by an empty one."""

    def __init__(self, lines: Iterable[str], limit: int) -> None:
        readline = getattr(lines, "readline", None)
        self._next = readline if readline is not None else _reader_of(iter(lines))
        self._limit = limit
        self.number = 0  # lines read so far
        self.last = ""
        self.bad: list[tuple[int, str, str]] = []  # lines not read, since the last row
        self.eof = False  # asked for a line after the last one

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        text = self._next(self._limit + 2)  # room for the line's own \r\n
        if not text:
            self.eof = True
            raise StopIteration
        self.number += 1
        if len(text) > self._limit and len(text.rstrip("\r\n")) > self._limit:
            reason = f"line is longer than {self._limit:,} characters; not read"
            self.bad.append((self.number, "row", reason))
            while text and text[-1] not in "\r\n":  # skip the rest, a chunk at a time
                text = self._next(1 << 20)
            text = "\n"
        elif not text.isascii() and (bad := _UNDECODED.search(text)) is not None:
            # a file opened with errors="surrogateescape": bytes that are not UTF-8
            byte = ord(bad.group()) - 0xDC00
            self.bad.append((self.number, "row", f"is not UTF-8 text (byte 0x{byte:02x})"))
            text = "\n"
        self.last = text
        return text

    def skip_quoted(self) -> None:
        """Read on past the line that closes the quoted field that ``last`` is inside."""
        text = self.last
        while not _closes_quote(text):
            try:
                text = next(self)
            except StopIteration:
                return
        self.bad.clear()  # part of the one field reported


def _closes_quote(text: str) -> bool:
    """Whether ``text``, read inside a quoted field, holds the field's closing quote."""
    i = text.find('"')
    while i >= 0:
        if text[i + 1 : i + 2] != '"':
            return True
        i = text.find('"', i + 2)
    return False


def _reader_of(lines: Iterator[str]) -> Callable[[int], str]:
    """A file's ``readline(size)`` over strings already in memory (one line each)."""
    rest = ""

    def readline(size: int) -> str:
        nonlocal rest
        if not rest:
            text = next(lines, None)
            if text is None:
                return ""
            rest = text if text.endswith(("\n", "\r")) else text + "\n"
        out, rest = rest[:size], rest[size:]
        return out

    return readline


def count_lines(path: Path) -> int:
    """Lines in the file at ``path``, counted in bounded memory (for progress and sizing)."""
    count = 0
    last = b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


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
        if len(row) != self.width or not row:
            if _blank(row):
                return None
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
            amount = _amount(row[cols["amount"]], "amount")
            field_name = "unit"
            unit = row[cols["unit"]].strip()
            if not unit:
                raise InvalidInput("required")
            if _known_unit(unit):
                field_name = "amount"
                check_quantity(amount, unit)  # after conversion: 1e17 GWh is not small
            field_name = "cost"
            pos = get("cost")
            cost: Decimal | None = None
            if pos is not None and row[pos].strip():
                cost = _amount(row[pos], "cost")
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
            if _blank(row):  # looked at only when a row fails: a blank row fails at once
                return None
            return RowError(line, field_name, str(exc).removeprefix(f"{field_name}: "))


def _blank(row: list[str]) -> bool:
    return not "".join(row).strip()


_PLAIN_CAP = len(str(MAX_AMOUNT)) - 1  # digits of the largest plain amount below the cap


def _amount(text: str, field: str) -> Decimal:
    """:func:`parse_amount`, with plain numbers (most amounts and costs) taken directly."""
    whole, _, fraction = text.partition(".")
    if (
        text.isascii()
        and whole.isdigit()
        and len(whole) <= _PLAIN_CAP
        and (fraction.isdigit() or not fraction)
    ):
        # ASCII digits with at most one point and digits before it, below 1e18: what
        # parse_amount accepts, without its regular expression (a cost per row).
        return Decimal(text)
    return parse_amount(text, field)
