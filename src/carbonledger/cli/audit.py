"""``audit``: an auditor checks an organisation's records and signs a report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from carbonledger.cli.common import AsOption, HomeOption, console, home_of, open_ledger, print_json
from carbonledger.cli.ids import known_org
from carbonledger.cli.tables import Rows
from carbonledger.core.domain import parse_date
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.audit import run_audit

__all__ = ["register"]

audit_app = typer.Typer(help="Audits of organisations' records.", no_args_is_help=True)


@audit_app.command("run")
def audit_run(
    org: str = typer.Argument(..., help="Organisation to audit."),
    start: str = typer.Option(..., help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., help="Last day, YYYY-MM-DD."),
    acting: str | None = AsOption,
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Check every record of ORG in the period (details, recomputation, proof); sign a report."""
    h = home_of(home)
    ledger, key = open_ledger(h, acting)
    known_org(ledger.state(), org)
    report = run_audit(
        ledger,
        ledger.channels,
        key,
        org,
        start=parse_date(start, "start"),
        end=parse_date(end, "end"),
    )
    item = report.item()
    if json:
        print_json({**item, "entry": report.receipt.seq if report.receipt else None})
        return
    console.print(
        f"audit {report.id} of {org}, {start}..{end}: {report.records} records,"
        f" {report.verified} verified, {len(report.failures)} did not hold"
    )
    table = Table("site", "t CO2e", title="verified emissions by site")
    for site, kg in sorted(report.by_site.items()):
        table.add_row(site, f"{kg / 1000:,.3f}")
    table.add_row("[bold]total", f"[bold]{report.total_kg_co2e / 1000:,.3f}")
    console.print(table)
    for failure in report.failures:
        console.print(
            f"[red]{failure['record']}[/] ({failure['site']}): " + "; ".join(failure["reasons"])
        )


@audit_app.command("list")
def audit_list(
    org: str | None = typer.Option(None, help="Only reports on this organisation."),
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """List signed audit reports on the ledger."""
    ledger = home_of(home).ledger()
    known_org(ledger.state(), org)
    items = [
        s.item
        for s in ledger.items(ItemQuery(kind="audit_report"))
        if org is None or s.item.get("org") == org
    ]
    if json:
        print_json(items)
        return
    table = Rows(
        "id", "org", "period", "records", "verified", "failed", "t CO2e",
        keep=("id", "org", "t CO2e"), right=("records", "verified", "failed", "t CO2e"),
    )  # fmt: skip
    for r in items:
        table.add_row(
            r["id"],
            r["org"],
            f"{r['period']['start']}..{r['period']['end']}",
            str(r["records"]),
            str(r["verified"]),
            str(len(r["failures"])),
            f"{float(r['totals']['kg_co2e']) / 1000:,.3f}",
        )
    table.print(console)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
