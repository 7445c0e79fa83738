"""Tables and counts that read well in an 80-column terminal.

Identifiers (ids, sites, accounts, amounts) are never cut: their columns are as
wide as their longest value; other columns wrap between words onto more lines (and
inside a long word only when the table cannot fit otherwise), never ending in an
ellipsis. Columns are one space apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["Rows", "count", "print_table"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun agreeing with it: "1 row", "2 rows", "1 retirement"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def print_table(
    console: Console,
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    keep: Iterable[str] = (),
    right: Iterable[str] = (),
    title: str | None = None,
) -> None:
    """Print ``rows`` under ``headers``; columns named in ``keep`` are never cut or wrapped.

    When even that does not fit the terminal, each row is printed as a block of
    ``header  value`` lines instead, so that no value is ever cut off.
    """
    cells = [list(r) for r in rows]
    kept, justified = set(keep), set(right)
    # Narrowest layouts, in order of preference: other columns wrapped between words;
    # then folded inside long words too (never narrower than their header's words).
    layouts: list[list[int]] = [[], []]
    for i, header in enumerate(headers):
        head = max(len(w) for w in header.split())
        if header in kept:
            whole = max([len(header), *(len(r[i]) for r in cells)])
            layouts[0].append(whole)
            layouts[1].append(whole)
        else:
            layouts[0].append(max([head, *(len(w) for r in cells for w in r[i].split())]))
            layouts[1].append(head)
    widths = next((w for w in layouts if sum(w) + len(w) - 1 <= console.width), None)
    if widths is None:
        # Too wide for this terminal even so: one block per row, a line per column,
        # rather than a table that cuts values off.
        _blocks(console, headers, cells, title)
        return
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for header, widest in zip(headers, widths, strict=True):
        table.add_column(
            header,
            justify="right" if header in justified else "left",
            overflow="fold",
            no_wrap=header in kept,
            min_width=widest,
        )
    for r in cells:
        table.add_row(*r)
    console.print(table)


def _blocks(
    console: Console, headers: Sequence[str], rows: list[list[str]], title: str | None
) -> None:
    if title:
        console.print(title, markup=False, highlight=False)
    label = max(len(h) for h in headers)
    for n, r in enumerate(rows):
        if n:
            console.print()
        for header, cell in zip(headers, r, strict=True):
            console.print(f"{header:<{label}}  {cell}", markup=False, highlight=False)


class Rows:
    """A table filled row by row, printed by :func:`print_table` (same keep/right rules)."""

    def __init__(
        self,
        *headers: str,
        keep: Iterable[str] = (),
        right: Iterable[str] = (),
        title: str | None = None,
    ) -> None:
        self.headers = headers
        self.keep, self.right, self.title = tuple(keep), tuple(right), title
        self.rows: list[Sequence[str]] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def print(self, console: Console) -> None:
        print_table(
            console, self.headers, self.rows, keep=self.keep, right=self.right, title=self.title
        )
