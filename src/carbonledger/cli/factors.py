"""``carbonledger factors``: list, show and load emission-factor editions."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from carbonledger.cli.tables import count, print_table
from carbonledger.errors import CarbonLedgerError

__all__ = ["app", "catalog_for", "collect_data_warnings", "fail", "print_json"]

app = typer.Typer(help="Emission factor editions: list, show, load.", no_args_is_help=True)
_out = Console()
_err = Console(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="CARBONLEDGER_HOME",
        show_envvar=True,
        help="carbonledger home; loaded editions live in HOME/factors.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _home(home: Path | None) -> Path:
    if home is not None:
        return home.expanduser()
    env = os.environ.get("CARBONLEDGER_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")  # same default as the ledger home
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "carbonledger"


def catalog_for(home: Path | None) -> Any:
    """A FactorCatalog on ``home`` (or $CARBONLEDGER_HOME, or the default home)."""
    from carbonledger.factors import FactorCatalog

    return FactorCatalog(_home(home))


def fail(exc: Exception) -> typer.Exit:
    """Print one clear line on stderr and return the exit (code 2) to raise."""
    _err.print(f"error: {exc}", markup=False, highlight=False)
    return typer.Exit(2)


def print_json(value: Any) -> None:
    """Print JSON; Decimals and paths as strings, never floats."""
    typer.echo(orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode())


@contextmanager
def collect_data_warnings(found: list[str]) -> Iterator[None]:
    """Record DataWarnings (contradictions in official data) instead of raising them."""
    from carbonledger.factors import DataWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        yield
    found.extend(str(w.message) for w in caught if issubclass(w.category, DataWarning))


def _show_warnings(found: list[str]) -> None:
    for text in dict.fromkeys(found):
        _err.print(f"warning: {text}", markup=False, highlight=False)


@app.command("list")
def list_editions(home: HomeOpt = None, json_output: JsonOpt = False) -> None:
    """List every edition: dataset, data year, number of factors, source, warnings."""
    found: list[str] = []
    try:
        with collect_data_warnings(found):
            editions = catalog_for(home).editions()
    except CarbonLedgerError as exc:
        raise fail(exc) from exc
    if json_output:
        print_json([e.summary() for e in editions])
        return
    # Source file names are long: listed below the table, one line each, not folded in a cell.
    print_table(
        _out,
        ("edition", "dataset", "data year", "revision", "factors", "origin", "warnings"),
        [
            (e.edition, e.dataset, str(e.data_year), e.revision, str(len(e.factors)), e.origin,
             str(len(e.warnings)))
            for e in editions
        ],
        keep=("edition", "dataset", "data year", "revision", "factors", "origin", "warnings"),
        right=("factors", "warnings"),
        title="Emission factor editions",
    )  # fmt: skip
    _out.print("sources:", highlight=False)
    for e in editions:
        _out.print(f"  {e.edition}: {e.source}", markup=False, highlight=False)
    # One line per edition with warnings; `factors show EDITION` lists each of them.
    for e in editions:
        if e.warnings:
            _err.print(
                f"warning: {e.edition}: {count(len(e.warnings), 'factor')} where the source"
                f" contradicts itself (see `carbonledger factors show {e.edition}`)",
                markup=False,
                highlight=False,
            )


@app.command("show")
def show(
    edition: Annotated[str, typer.Argument(help="Edition name, e.g. egrid2022.")],
    region: Annotated[
        str | None,
        typer.Option("--region", help="Only this region key (subregion, state, ISO-2 country)."),
    ] = None,
    home: HomeOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Show the factors of one edition, optionally for one region."""
    found: list[str] = []
    try:
        with collect_data_warnings(found):
            ed = catalog_for(home).edition(edition)
    except CarbonLedgerError as exc:
        raise fail(exc) from exc
    factors = [
        f for f in ed.factors if region is None or f.region_key.upper() == region.strip().upper()
    ]
    if region is not None and not factors:
        raise fail(ValueError(f"edition {edition} has no region {region!r}"))
    if json_output:
        print_json({**ed.summary(), "factors": [f.to_dict() for f in factors]})
        return
    _show_warnings(found or list(ed.warnings))
    table = Table(title=f"{ed.edition} ({ed.dataset}, {ed.source})")
    for col in ("level", "region", "name", "activity", "gas", "value", "unit", "basis", "year"):
        table.add_column(col, overflow="fold")
    for f in factors:
        table.add_row(
            f.region_level,
            f.region_key,
            f.region_name,
            f.activity,
            f.gas,
            str(f.value),
            f.unit,
            f.basis,
            str(f.data_year),
        )
    _out.print(table)


@app.command("load")
def load(
    file: Annotated[
        Path,
        typer.Argument(
            help="Official file: eGRID CSV, Power Profiler ZIP "
            "CSV, EEA CSV, Ember JSON, state JSON, DEFRA xlsx."
        ),
    ],
    edition: Annotated[
        str | None,
        typer.Option("--edition", help="Name for the edition (default: taken from the file)."),
    ] = None,
    home: HomeOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Load a newer edition of an official file into HOME/factors."""
    found: list[str] = []
    try:
        with collect_data_warnings(found):
            loaded = catalog_for(home).load(file, edition=edition)
    except CarbonLedgerError as exc:
        raise fail(exc) from exc
    ed = loaded.edition
    summary: dict[str, Any] = {"kind": loaded.kind, "name": loaded.name}
    if ed is not None:
        summary.update(ed.summary())
    else:
        summary["zip_codes"] = len(loaded.zip_lookup or {})
    if json_output:
        print_json(summary)
        return
    _show_warnings(found)
    count = f"{len(ed.factors)} factors" if ed is not None else f"{summary['zip_codes']} ZIP codes"
    _out.print(f"loaded {loaded.kind} as {loaded.name}: {count}", markup=False)
