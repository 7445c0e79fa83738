"""``bills import`` and ``records list/show``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress

from carbonledger.cli.common import (
    AsOption,
    HomeOption,
    console,
    err,
    home_of,
    open_ledger,
    print_json,
    read_ledger,
    reader_key,
    unlock_hint,
)
from carbonledger.cli.ids import known_org, known_site
from carbonledger.cli.tables import count, print_table
from carbonledger.core.calculator import recompute
from carbonledger.core.domain import Bill, parse_date
from carbonledger.core.ids import SHORT_ID
from carbonledger.errors import CarbonLedgerError, InvalidInput, RowError
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from carbonledger.services.bills_csv import DECODE_ERRORS, count_lines, iter_bills
from carbonledger.services.home import Home
from carbonledger.services.importer import ImportReport, import_bills
from carbonledger.services.parallel_import import import_csv_parallel
from carbonledger.services.records import RecordReader, find_item

__all__ = ["print_import_report", "register"]

# Large files are imported by worker processes (see services/parallel_import.py).
PARALLEL_ROWS = 20_000
PARALLEL_WORKERS = 2

bills_app = typer.Typer(help="Utility bills.", no_args_is_help=True)
records_app = typer.Typer(help="Emissions records on the ledger.", no_args_is_help=True)


@bills_app.command("import")
def bills_import(
    file: Path = typer.Argument(..., help="CSV of bills (see README for the columns)."),
    site: str | None = typer.Option(None, help="Site of every row (else a site column)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    workers: int = typer.Option(
        -1, help="Worker processes (0: none; default: 2 for files of 20,000 rows or more)."
    ),
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Import bills: calculate, sign and record them; report every bad row."""
    h = home_of(home)
    ledger, key = open_ledger(h, acting)
    catalog = FactorCatalog(home=h.path)
    errors: list[RowError] = []

    def good_rows(rows: Iterable[Bill | RowError]) -> Iterator[Bill]:
        for row in rows:
            if isinstance(row, RowError):
                errors.append(row)
            else:
                yield row

    try:
        with file.open(newline="", encoding="utf-8-sig", errors=DECODE_ERRORS) as fh:
            lines = count_lines(file) - 1
            if workers < 0:
                workers = PARALLEL_WORKERS if lines >= PARALLEL_ROWS else 0
            with Progress(console=err, transient=True, disable=json) as bar:
                task = bar.add_task("recording", total=max(lines, 0))
                if workers:
                    report = import_csv_parallel(
                        ledger,
                        key,
                        file,
                        site=site,
                        source=file.name,
                        catalog_home=h.path,
                        workers=workers,
                        progress=lambda n: bar.advance(task, n),
                    )
                else:
                    report = import_bills(
                        ledger,
                        key,
                        catalog,
                        good_rows(iter_bills(fh, site=site)),
                        store=ledger.channels,
                        source=file.name,
                        progress=lambda n: bar.advance(task, n),
                    )
    except CarbonLedgerError:
        raise  # PermissionDenied is an OSError too: keep the ledger's own message
    except OSError as exc:
        raise InvalidInput(f"{file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{file}: not UTF-8 text ({exc.reason})") from exc
    report.rows += len(errors)
    report.rejected.extend(errors)
    print_import_report(report, json=json)


def print_import_report(report: ImportReport, *, json: bool) -> None:
    """Print what an import did (JSON or a summary and each rejected row); exit 1 if any was."""
    report.rejected.sort(key=lambda e: e.line)
    if json:
        print_json(report.to_dict())
    else:
        console.print(
            f"{count(report.rows, 'row')}: {report.recorded} recorded, {report.duplicates}"
            f" already recorded, {len(report.rejected)} rejected;"
            f" {report.kg_co2e / 1000:.3f} t CO2e recorded"
        )
        for e in report.rejected:
            err.print(f"  line {e.line}: {e.field}: {e.reason}")
    if report.rejected:
        raise typer.Exit(1)


@records_app.command("list")
def records_list(
    site: str | None = typer.Option(None, help="Only this site."),
    org: str | None = typer.Option(None, help="Only this organisation."),
    since: str | None = typer.Option(None, help="Periods ending on or after YYYY-MM-DD."),
    until: str | None = typer.Option(None, help="Periods starting on or before YYYY-MM-DD."),
    limit: int = typer.Option(100, help="At most this many (0: all)."),
    offset: int = typer.Option(0, help="Skip this many."),
    public: bool = typer.Option(
        False, "--public", help="Public fields only, without opening any channel (no key)."
    ),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """List emissions records, in ledger order.

    Results are sealed in each organisation's channel: they are shown for the
    records whose channel the reader may read (``--as``, else the admin when
    CARBONLEDGER_PASSPHRASE is set); other records show their public fields only.
    """
    for option, value in (("--since", since), ("--until", until)):
        if value is not None:
            parse_date(value, option)
    query = ItemQuery(
        kind="emissions_record",
        site=site,
        org=org,
        since=since,
        until=until,
        offset=offset,
        limit=limit or None,
    )
    h = home_of(home)
    key = None if public else reader_key(h, acting)
    ledger = read_ledger(h, key)
    state = ledger.state()
    known_org(state, org)
    known_site(state, site)
    reader = (
        RecordReader(ledger)
        if key is None
        else RecordReader.for_member(ledger, ledger.channels, key)
    )
    items = [(s.leaf_index, reader.view(s.item)) for s in ledger.items(query)]
    if json:
        print_json([{"leaf_index": index, **r} for index, r in items])
        return
    total, sealed = Decimal(0), 0
    rows = []
    for index, r in items:
        kg = r.get("kg_co2e")
        if kg is None:
            sealed += 1
        else:
            total += Decimal(kg)
        rows.append(
            (
                str(index),
                r["id"][:SHORT_ID],
                r["site"],
                r["account"][:16],
                r["activity"],
                f"{r['period']['start']} {r['period']['end']}",
                "sealed" if kg is None else kg,
            )
        )
    print_table(
        console,
        ("leaf", "id", "site", "account", "activity", "period", "kg CO2e"),
        rows,
        keep=("leaf", "id", "site", "account", "kg CO2e"),
        right=("leaf", "kg CO2e"),
    )
    if sealed == len(items) and items:  # no figure to add up: do not print a total of 0
        console.print(f"{count(len(items), 'record')}, all sealed in channels you cannot read")
        return
    note = f" ({sealed} sealed in channels you cannot read)" if sealed else ""
    readable = f" of {len(items) - sealed} readable" if sealed else ""
    console.print(f"{count(len(items), 'record')}, {total / 1000:,.3f} t CO2e{readable}{note}")


@records_app.command("show")
def records_show(
    record: str = typer.Argument(..., help="Record id."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a record and its trace; with a member's or auditor's key also what was billed,
    recomputed. Without a key (no --as, no CARBONLEDGER_PASSPHRASE) the public fields."""
    h = home_of(home)
    key = reader_key(h, acting)
    ledger = read_ledger(h, key)
    stored = find_item(ledger, record)
    item = stored.item
    if item.get("kind") != "emissions_record":
        print_json({"leaf_index": stored.leaf_index, **item})
        return
    if key is None:
        _show_public(h, ledger, stored.leaf_index, item, json=json)
        return
    reader = RecordReader.for_member(ledger, ledger.channels, key)
    detail = reader.detail(item)
    trace = reader.trace(item)
    again = recompute(trace)
    item = reader.full(item)
    if json:
        print_json(
            {
                "leaf_index": stored.leaf_index,
                **item,
                "billed": detail,
                "trace": trace,
                "recomputed": again,
            }
        )
        return
    console.print(
        f"billed: {detail['amount']} {detail['unit']}, cost {detail.get('cost')}"
        f" {detail.get('currency') or ''} (sealed in channel {item['org']})"
    )
    factor = trace["factor"]
    console.print_json(data={k: v for k, v in item.items() if k != "trace"})
    console.print(
        f"factor: {factor.get('dataset')} {factor.get('edition')}"
        f" {factor.get('region_level')} {factor.get('region_key')}"
        f" {factor.get('value')} {factor.get('unit')}"
    )
    for step in trace["resolution"]["steps"]:
        console.print(f"  - {step}")
    ok = str(again["kg_co2e"]) == item["kg_co2e"]
    console.print(
        f"recomputed from trace: {again['kg_co2e']} kg CO2e"
        f" [{'green' if ok else 'red'}]{'matches' if ok else 'DIFFERS'}[/]"
    )


@records_app.command("disclose")
def records_disclose(
    org: str = typer.Argument(..., help="Organisation whose total to publish."),
    start: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD."),
    scope: list[str] = typer.Option(
        [], "--scope", help="Scope(s) to sum: 1, 2-location, 2-market, 3-N (default: every scope)."
    ),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Publish a period total (an organisation admin's explicit act; results are otherwise
    sealed): the total kg CO2e, the record count and a commitment to the record ids."""
    from carbonledger.services.disclosures import disclose_total

    h = home_of(home)
    ledger, key = open_ledger(h, acting)
    done = disclose_total(
        ledger,
        ledger.channels,
        key,
        org=org,
        start=parse_date(start, "--from"),
        end=parse_date(end, "--to"),
        scopes=tuple(scope),
    )
    if json:
        print_json({**done.item, "entry": done.receipt.seq})
        return
    item = done.item
    console.print(
        f"disclosed {item['id']}: {org} {start}..{end} scopes {', '.join(item['scopes'])}:"
        f" {Decimal(item['kg_co2e']) / 1000:,.3f} t CO2e over {item['records']} records"
        f" (entry {done.receipt.seq})"
    )


@records_app.command("disclosures")
def records_disclosures(
    org: str | None = typer.Option(None, help="Only this organisation."),
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Period totals organisations have published (public: no key needed)."""
    items = [s.item for s in home_of(home).ledger().items(ItemQuery(kind="disclosure", org=org))]
    if json:
        print_json(items)
        return
    print_table(
        console,
        ("id", "org", "period", "scopes", "records", "t CO2e"),
        [
            (
                d["id"],
                d["org"],
                f"{d['period']['start']} {d['period']['end']}",
                ", ".join(d["scopes"]),
                str(d["records"]),
                f"{Decimal(d['kg_co2e']) / 1000:,.3f}",
            )
            for d in items
        ],
        keep=("id", "t CO2e"),
        right=("records", "t CO2e"),
    )


def _show_public(
    h: Home, ledger: LedgerPort, leaf: int, item: dict[str, Any], *, json: bool
) -> None:
    """What anyone may read of a record: its public fields and the calculation basis."""
    channel = str((item.get("detail") or {}).get("channel", item.get("org")))
    note = f"what was billed {unlock_hint(h, channel)}"
    trace = RecordReader(ledger).trace(item)
    if json:
        print_json({"leaf_index": leaf, **item, "trace": trace, "sealed": note})
        return
    console.print_json(data={k: v for k, v in item.items() if k != "trace"})
    factor = trace.get("factor") or {}
    console.print(
        f"factor: {factor.get('dataset')} {factor.get('edition')}"
        f" {factor.get('region_level')} {factor.get('region_key')}"
        f" {factor.get('value')} {factor.get('unit')}"
    )
    console.print(note)


def register(app: typer.Typer) -> None:
    app.add_typer(bills_app, name="bills")
    app.add_typer(records_app, name="records")
