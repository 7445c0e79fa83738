"""``carbonledger report marginal`` (and the inventory report): commands of the ``report``
group that read factors and interval data rather than token state."""

from __future__ import annotations

from pathlib import Path

import typer

from carbonledger.cli.common import AsOption, HomeOption, console, home_of, open_ledger, print_json
from carbonledger.cli.tokens import _date, report_app
from carbonledger.errors import InvalidInput

__all__: list[str] = []


@report_app.command("marginal")
def report_marginal(
    greenbutton: Path = typer.Option(..., help="Green Button XML with interval readings."),
    moer: Path | None = typer.Option(
        None, help="A timestamp,moer_g_per_kwh (or WattTime) CSV, used first where it covers."
    ),
    subregion: str | None = typer.Option(
        None, help="eGRID subregion of the site: AVERT 2023 hourly, then non-baseload."
    ),
    zip_code: str | None = typer.Option(
        None, "--zip", help="US ZIP of the site (for its subregion)."
    ),
    shift_to: str | None = typer.Option(
        None, help="Move the profile to start on this date (to line it up with the MOER)."
    ),
    flat: float | None = typer.Option(
        None, help="Flat factor g/kWh (default: the mean of the marginal rates used)."
    ),
) -> None:
    """Marginal vs flat CO2 of a Green Button profile, any span, sources named (an estimate)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from carbonledger.core.tokens.marginal import profile_arrays
    from carbonledger.factors.catalog import FactorCatalog
    from carbonledger.greenbutton import parse_file, to_intervals
    from carbonledger.services.marginal import marginal_report, site_subregion
    from carbonledger.services.scope2 import load_moer, package_moer

    catalog = FactorCatalog.from_env()
    region, _ = site_subregion(catalog, subregion=subregion, zip_code=zip_code)
    user = None if moer is None else load_moer(moer)
    intervals = [i for i in to_intervals(parse_file(greenbutton)) if i.unit in ("Wh", "kWh")]
    if not intervals:
        raise InvalidInput(f"{greenbutton}: no electricity interval readings")
    if shift_to is not None:
        target = datetime.combine(_date(shift_to, "shift-to"), datetime.min.time(), UTC)
        delta = target - min(i.start for i in intervals)
        intervals = [replace(i, start=i.start + delta, end=i.end + delta) for i in intervals]
    starts, ends, kwh = profile_arrays(intervals)
    print_json(
        marginal_report(
            catalog,
            starts,
            ends,
            kwh,
            user_series=user,
            watttime=package_moer(),
            subregion=region,
            flat_g_per_kwh=flat,
        )
    )


@report_app.command("inventory")
def report_inventory(
    org: str = typer.Option(..., help="Organisation id."),
    year: int = typer.Option(..., help="Reporting year."),
    fmt: str = typer.Option("table", "--format", help="table, csv, json or html."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Scope 1, Scope 2 (both methods), Scope 3 by category and totals, with their sources."""
    from rich.table import Table

    from carbonledger.services.inventory import inventory_csv, inventory_html, inventory_report

    if fmt not in ("table", "csv", "json", "html"):
        raise InvalidInput(f"--format must be table, csv, json or html, got {fmt!r}")
    ledger, key = open_ledger(home_of(home), acting)
    inv = inventory_report(ledger, ledger.channels, key, org, year)
    if fmt == "json":
        print_json(inv.to_dict())
    elif fmt == "csv":
        typer.echo(inventory_csv(inv), nl=False)
    elif fmt == "html":
        typer.echo(inventory_html(inv), nl=False)
    else:
        table = Table("figure", "t CO2e", "records", "factor editions", title=f"{org} {year}")
        for f in inv.figures.values():
            table.add_row(
                f.label,
                f"{f.kg_co2e / 1000:,.3f}",
                str(len(f.records)),
                ", ".join(sorted(f.editions)),
            )
        table.add_row(
            "Total (Scope 2 location-based)", f"{inv.total_location_kg / 1000:,.3f}", "", ""
        )
        table.add_row("Total (Scope 2 market-based)", f"{inv.total_market_kg / 1000:,.3f}", "", "")
        console.print(table)
