"""``carbonledger calc``: emissions of one amount at a location, with the full trace."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from carbonledger.cli.factors import catalog_for, collect_data_warnings, fail, print_json
from carbonledger.errors import CarbonLedgerError, InvalidInput

__all__ = ["calc"]

_out = Console()
_err = Console(stderr=True)


def calc(
    amount: Annotated[
        str | None, typer.Option("--amount", help="Activity amount, e.g. 1000 (not for flights).")
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit", help="Unit: kWh, MWh, therm, m3, L, gal, pkm, tkm, km, mi, nights ..."
        ),
    ] = None,
    activity: Annotated[
        str,
        typer.Option(
            "--activity",
            help="electricity, natural_gas, diesel, ...; flight, rail_national, taxi, "
            "car_medium_petrol, hotel, freight_hgv, freight_sea_container ...",
        ),
    ] = "electricity",
    origin: Annotated[
        str | None, typer.Option("--from", help="Flight: IATA code of the departure airport.")
    ] = None,
    destination: Annotated[
        str | None, typer.Option("--to", help="Flight: IATA code of the arrival airport.")
    ] = None,
    cabin: Annotated[
        str,
        typer.Option("--cabin", help="Flight: average, economy, premium_economy, business, first."),
    ] = "average",
    passengers: Annotated[int, typer.Option("--passengers", help="Flight: travellers.")] = 1,
    gwp: Annotated[
        str, typer.Option("--gwp", help="GWP set for per-gas factors (EPA Hub): AR4, AR5, AR6.")
    ] = "AR5",
    zip_code: Annotated[str | None, typer.Option("--zip", help="US ZIP code.")] = None,
    utility: Annotated[str | None, typer.Option("--utility", help="EIA utility id.")] = None,
    subregion: Annotated[str | None, typer.Option("--subregion", help="eGRID subregion.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="US state code.")] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="ISO-2, ISO-3 or English name (UK accepted).")
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help="Data year wanted.")] = None,
    edition: Annotated[str | None, typer.Option("--edition", help="Pin an edition.")] = None,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", envvar="CARBONLEDGER_HOME", help="carbonledger home (loaded editions)."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON with the trace.")] = False,
) -> None:
    """Calculate emissions for an amount at a location, with its provenance and trace."""
    from carbonledger.core.calculator import calculate
    from carbonledger.core.factor_values import Location

    found: list[str] = []
    if activity.strip().lower() == "flight":
        _flight(origin, destination, cabin, passengers, year, country, gwp, home, json_output)
        return
    try:
        if amount is None or unit is None:
            raise InvalidInput("--amount and --unit are required (a flight takes --from and --to)")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            raise InvalidInput(f"--amount: not a number: {amount!r}") from None
        location = Location(
            zip=zip_code, utility_id=utility, subregion=subregion, state=state, country=country
        )
        with collect_data_warnings(found):
            resolution = catalog_for(home).resolve(
                activity, location, year=year, edition=edition, gwp=gwp
            )
        result = calculate(value, unit, resolution)
    except CarbonLedgerError as exc:
        raise fail(exc) from exc
    if json_output:
        print_json(
            {
                "kg_co2e": result.kg_co2e,
                "kg_co2": result.kg_co2,
                "renewable_kwh": result.renewable_kwh,
                "nonrenewable_kwh": result.nonrenewable_kwh,
                "scope": result.scope,
                "factor": result.trace["factor"],
                "factor_co2": result.trace["factor_co2"],
                "warnings": [w for w in found if f" {resolution.co2e.region_key} " in w],
                "trace": result.trace,
            }
        )
        return
    for text in dict.fromkeys(found):
        if f" {resolution.co2e.region_key} " not in text:
            continue  # contradictions elsewhere in the edition do not affect this result
        _err.print(f"warning: {text}", markup=False, highlight=False)
    f = resolution.co2e
    table = Table(title=f"{value} {unit} of {resolution.activity}", show_header=False)
    table.add_column("what", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_row(
        "kg CO2e" + (" (CO2 only)" if resolution.co2e_is_co2_proxy else ""), str(result.kg_co2e)
    )
    table.add_row("kg CO2", "-" if result.kg_co2 is None else str(result.kg_co2))
    if result.renewable_kwh is not None:
        table.add_row("renewable kWh", str(result.renewable_kwh))
    table.add_row("scope", result.scope)
    table.add_row(
        "factor",
        f"{f.value} {f.unit} {f.gas} ({f.dataset} {f.edition}, "
        f"{f.region_level} {f.region_key}, {f.data_year})",
    )
    table.add_row("steps", "\n".join(resolution.steps))
    _out.print(table)


def _flight(
    origin: str | None,
    destination: str | None,
    cabin: str,
    passengers: int,
    year: int | None,
    country: str | None,
    gwp: str,
    home: Path | None,
    json_output: bool,
) -> None:
    from carbonledger.services.travel import flight

    try:
        if not origin or not destination:
            raise InvalidInput("a flight needs --from and --to (IATA airport codes)")
        result = flight(
            catalog_for(home),
            origin,
            destination,
            cabin=cabin,
            passengers=passengers,
            year=year,
            country=country,
            gwp=gwp,
        )
    except CarbonLedgerError as exc:
        raise fail(exc) from exc
    data = result.to_dict()
    if json_output:
        print_json(data)
        return
    p = result.plan
    table = Table(title=f"flight {p.origin.code} -> {p.destination.code}", show_header=False)
    table.add_column("what", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_row(
        "distance", f"{p.great_circle_km} km great circle x {p.uplift} = {p.distance_km} km"
    )
    table.add_row("class", f"{p.haul}, {p.cabin}, {passengers} passenger(s)")
    for basis, r in result.results.items():
        f = r.trace["factor"]
        table.add_row(
            f"kg CO2e {basis}".strip(),
            f"{r.kg_co2e} ({f['value']} {f['unit']}, {f['dataset']} {f['edition']})",
        )
    table.add_row(
        "steps", "\n".join(next(iter(result.results.values())).trace["resolution"]["steps"])
    )
    _out.print(table)
