"""``carbonledger greenbutton``: read Green Button (NAESB ESPI) XML files."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from carbonledger.errors import CarbonLedgerError
from carbonledger.greenbutton.model import ACCUMULATION_NAMES

if TYPE_CHECKING:
    from carbonledger.greenbutton.results import UsagePointSummary

__all__ = ["app"]

app = typer.Typer(
    help="Green Button (NAESB ESPI) files: show usage points, readings and totals.",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)


def _fail(exc: Exception) -> typer.Exit:
    _err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}Z"


def _at(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _num(value: Decimal | None, unit: str | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value.normalize():,f}"
    return f"{text} {unit}" if unit else text


@app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="Green Button XML file (Atom feed or ESPI).")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON; numbers as strings.")
    ] = False,
) -> None:
    """Show the usage points, reading types, period, number of readings and totals."""
    from carbonledger.greenbutton import parse_file, summarise

    try:
        summary = summarise(parse_file(file))
    except CarbonLedgerError as exc:
        raise _fail(exc) from exc
    if json_output:
        typer.echo(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    for up in summary.usage_points:
        _show_usage_point(up)
    for note in summary.notes:
        _out.print(f"note: {note}", markup=False, highlight=False)


def _show_usage_point(up: UsagePointSummary) -> None:
    table = Table(title=f"{up.title or up.href or 'usage point'} ({up.kind_name})")
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    table.add_row("Usage point", up.href or "-")
    table.add_row("Readings", str(up.readings))
    table.add_row("Period", f"{_when(up.start)} to {_when(up.end)}")
    table.add_row("Consumption", _num(up.consumption, up.consumption_unit))
    if up.received is not None:
        table.add_row("Received (not consumption)", _num(up.received, up.consumption_unit))
    table.add_row("Cost", _num(up.cost, up.currency))
    for m in up.meter_readings:
        rt = m.reading_type
        table.add_section()
        table.add_row("Meter reading", m.title or m.href or "-")
        uom = "missing" if rt is None or rt.uom is None else f"{m.uom} (uom {rt.uom})"
        scale = rt.power_of_ten_multiplier if rt else 0
        table.add_row("Unit", f"{uom}, values x10^{scale}" if scale else uom)
        table.add_row("Flow", m.flow)
        if rt is not None and rt.accumulation_behaviour is not None:
            name = ACCUMULATION_NAMES.get(rt.accumulation_behaviour, "?")
            table.add_row("Accumulation", f"{name} ({rt.accumulation_behaviour})")
        if rt is not None and rt.interval_length is not None:
            table.add_row("Interval", f"{rt.interval_length} s")
        table.add_row("Readings", str(m.readings))
        table.add_row("Period", f"{_when(m.start)} to {_when(m.end)}")
        table.add_row("Total", _num(m.total, m.total_unit))
        table.add_row("Cost", _num(m.cost, m.currency))
    for s in up.usage_summaries:
        used = s.overall_consumption_last_period
        table.add_section()
        table.add_row(
            "Billing period",
            f"{_when(_at(s.billing_start))} for {s.billing_duration} s",
        )
        if used is not None:
            table.add_row("Consumption (summary)", _num(used.value, used.unit or f"uom {used.uom}"))
        if s.bill_last_period is not None:
            table.add_row("Bill", _num(s.bill_last_period, s.currency_code))
    _out.print(table)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Green Button XML file (Atom feed or ESPI).")],
    site: Annotated[str, typer.Option(help="Site the usage is recorded for.")],
    account: Annotated[
        str | None,
        typer.Option(help="Bill account (default: each usage point's href)."),
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="Cut months in 'utc' (default) or the file's 'local' time.")
    ] = "utc",
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", envvar="CARBONLEDGER_HOME", help="Ledger home (default: ~/.local/share/...)."
        ),
    ] = None,
    acting: Annotated[
        str | None,
        typer.Option("--as", metavar="ORG/NAME", help="Act as an enrolled user (default: admin)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable JSON.")] = False,
) -> None:
    """Import a Green Button file as monthly bills: calculate, sign and record them.

    Re-importing the same file records nothing twice. Exits 1 when a bill is rejected.
    """
    from carbonledger.cli.common import home_of, open_ledger
    from carbonledger.factors import FactorCatalog
    from carbonledger.greenbutton import parse_file, to_bills
    from carbonledger.services.importer import import_bills

    if timezone not in ("utc", "local"):
        raise _fail(CarbonLedgerError(f"--timezone {timezone!r}: use 'utc' or 'local'"))
    try:
        converted = to_bills(parse_file(file), site=site, account=account, timezone=timezone)  # type: ignore[arg-type]
        h = home_of(home)
        ledger, key = open_ledger(h, acting)
        try:
            report = import_bills(
                ledger,
                key,
                FactorCatalog(home=h.path),
                list(converted.bills),
                store=ledger.channels,
                source=file.name,
            )
        finally:
            ledger.close()
    except CarbonLedgerError as exc:
        raise _fail(exc) from exc
    total = sum((b.amount for b in converted.bills), Decimal(0))
    units = sorted({b.unit for b in converted.bills})
    if json_output:
        out = {
            **report.to_dict(),
            "bills": len(converted.bills),
            "amount": str(total),
            "unit": units[0] if len(units) == 1 else units,
            "record_ids": report.record_ids,
            "notes": list(converted.notes),
        }
        typer.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        _out.print(
            f"{len(converted.bills)} bills ({_num(total, '/'.join(units))}):"
            f" {report.recorded} recorded, {report.duplicates} already recorded,"
            f" {len(report.rejected)} rejected; {report.kg_co2e / 1000:.3f} t CO2e recorded",
            markup=False,
            highlight=False,
        )
        for note in converted.notes:
            _out.print(f"note: {note}", markup=False, highlight=False)
        for e in report.rejected:
            _err.print(f"  bill {e.line}: {e.field}: {e.reason}", markup=False, highlight=False)
    if report.rejected:
        raise typer.Exit(1)
