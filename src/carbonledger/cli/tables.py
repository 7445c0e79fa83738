"""Tables and counts that read well in an 80-column terminal.

Identifiers (ids, sites, accounts, amounts) are never cut: their columns are as
wide as their longest value; other columns wrap between words onto more lines,
never inside a word and never ending in an ellipsis. Columns are one space apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["count", "print_table"]


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
    """Print ``rows`` under ``headers``; columns named in ``keep`` are never cut or wrapped."""
    rows = [list(r) for r in rows]
    kept, justified = set(keep), set(right)
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for i, header in enumerate(headers):
        if header in kept:
            widest = max([len(header), *(len(r[i]) for r in rows)])
        else:
            widest = max([0, *(len(w) for r in rows for w in r[i].split())])
        table.add_column(
            header,
            justify="right" if header in justified else "left",
            overflow="fold",
            no_wrap=header in kept,
            min_width=widest,
        )
    for r in rows:
        table.add_row(*r)
    console.print(table)
