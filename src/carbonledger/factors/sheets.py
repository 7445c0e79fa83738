"""Read official spreadsheets (xlsx and legacy BIFF .xls) as rows of plain values.

``python-calamine`` reads both formats (openpyxl cannot read .xls; xlrd 2 fails
on the 2021 and 2022 UK flat files).  Numbers come back as floats; :func:`cell_decimal`
turns them into the number Excel shows (15 significant digits), so a cell stored
as 0.022000000000000002 reads 0.022 and 0.20707428859 stays 0.20707428859.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from carbonledger.errors import InvalidInput

__all__ = ["OLE2_MAGIC", "XLSX_MAGIC", "cell_decimal", "cell_text", "read_sheet", "sheet_names"]

XLSX_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0"


def _workbook(path: Path) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for unreadable files
        raise InvalidInput(f"{path.name}: not a readable spreadsheet: {exc}") from exc


def sheet_names(path: Path) -> list[str]:
    """Names of the sheets of a workbook; InvalidInput if it cannot be read."""
    return list(_workbook(path).sheet_names)


def read_sheet(path: Path, sheet: str | int = 0) -> list[list[Any]]:
    """All rows of one sheet (by name or index) as lists of str/float/int/bool/date."""
    wb = _workbook(path)
    try:
        found = wb.get_sheet_by_name(sheet) if isinstance(sheet, str) else wb.get_sheet_by_index(0)
        rows: list[list[Any]] = found.to_python()
    except Exception as exc:  # a missing sheet or a corrupt one
        raise InvalidInput(f"{path.name}: cannot read sheet {sheet!r}: {exc}") from exc
    return rows


def cell_text(row: list[Any], i: int) -> str:
    """The cell as stripped text ('' for empty or out of range)."""
    value = row[i] if 0 <= i < len(row) else None
    if value is None:
        return ""
    return " ".join(str(value).split())


def cell_decimal(value: object) -> Decimal | None:
    """The number a cell shows, as a Decimal (15 significant digits); None if not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(f"{value:.15g}")
    text = str(value).strip().replace(",", "")
    try:
        number = Decimal(text)
    except ArithmeticError:
        return None
    return number if number.is_finite() else None
