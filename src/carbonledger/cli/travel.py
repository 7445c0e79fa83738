"""``carbonledger travel import``: business travel and freight from a CSV, as signed records."""

from __future__ import annotations

from pathlib import Path

import typer

from carbonledger.cli.common import AsOption, HomeOption, home_of, open_ledger
from carbonledger.errors import CarbonLedgerError, InvalidInput

__all__ = ["register", "travel_app"]

travel_app = typer.Typer(help="Business travel and freight (Scope 3).", no_args_is_help=True)


@travel_app.command("import")
def travel_import(
    file: Path = typer.Argument(..., help="CSV of trips (see README: Business travel)."),
    site: str | None = typer.Option(None, help="Site of every row (else a site column)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Import trips: flights from airport codes, other modes by amount; every bad row named."""
    from carbonledger.cli.bills import print_import_report
    from carbonledger.factors.catalog import FactorCatalog
    from carbonledger.services.travel_import import TravelImportSession, iter_trips

    h = home_of(home)
    ledger, key = open_ledger(h, acting)
    session = TravelImportSession(
        ledger, key, FactorCatalog(home=h.path), store=ledger.channels, source=file.name
    )
    try:
        with file.open(newline="", encoding="utf-8-sig") as fh:
            session.add_trips(iter_trips(fh, site=site))
    except CarbonLedgerError:
        raise
    except OSError as exc:
        raise InvalidInput(f"{file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{file}: not UTF-8 text ({exc.reason})") from exc
    print_import_report(session.finish(), json=json)


def register(app: typer.Typer) -> None:
    app.add_typer(travel_app, name="travel")
