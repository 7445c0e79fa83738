"""``demo``: the product's introduction, on the embedded default."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.table import Table

from carbonledger.cli.common import HomeOption, console, home_of
from carbonledger.services.demo import DEMO_YEAR, run_demo
from carbonledger.services.home import PASSPHRASE_ENV

__all__ = ["register"]


def demo(home: Path | None = HomeOption) -> None:
    """Run the demo story: an organisation with US, UK and EU sites and a year of bills."""
    started = time.perf_counter()
    h = home_of(home)
    phrase = os.environ.get(PASSPHRASE_ENV) or "demo"
    console.rule("[bold]carbonledger demo")
    result = run_demo(h, phrase, progress=lambda msg: console.print(f"[dim]>[/] {msg}"))
    first = result.imports[0]
    console.print(
        f"bills: {first.rows} rows, {first.recorded} recorded;"
        f" re-import: {result.rerun.recorded if result.rerun else 0} recorded,"
        f" {result.rerun.duplicates if result.rerun else 0} already recorded"
    )
    console.print("corrections file (1 good row recorded, each bad row named):")
    for line in result.bad_file_errors:
        console.print(f"  {line}")
    table = Table(title=f"Northwind Foods, emissions {DEMO_YEAR} (location-based)")
    for col in ("site", "records", "electricity MWh", "t CO2e", "factors (edition region)"):
        table.add_column(col, justify="right" if col[0] in "ret" else "left")
    total = 0
    for row in result.by_site:
        total += row["kg_co2e"]
        table.add_row(
            row["site"],
            str(row["records"]),
            f"{row['kwh'] / 1000:,.1f}",
            f"{row['kg_co2e'] / 1000:,.3f}",
            row["factors"],
        )
    table.add_row("[bold]total", "", "", f"[bold]{total / 1000:,.3f}", "")
    console.print(table)
    a = result.audit
    if a is not None:
        console.print(
            f"audit {a.id} by dana (GreenAudit): {a.records} records checked against their"
            f" sealed details, recomputed and proven; {a.verified} verified,"
            f" {len(a.failures)} did not hold; {a.total_kg_co2e / 1000:,.3f} t CO2e; report"
            f" signed on the ledger (entry {a.receipt.seq if a.receipt else '?'})"
        )
    tokens = result.tokens
    if tokens:
        for step in tokens.get("steps", []):
            console.print(f"[dim]-[/] {step}")
        s2, net = tokens["scope2"], tokens["net"]
        table = Table(title=f"Scope 2 {DEMO_YEAR}, location- and market-based (t CO2e)")
        for col in ("site", "location", "market"):
            table.add_column(col, justify="left" if col == "site" else "right")
        for site, row in s2["by_site"].items():
            table.add_row(site, row["location_t_co2e"], row["market_t_co2e"])
        table.add_row(
            "[bold]total", f"[bold]{s2['location_t_co2e']}", f"[bold]{s2['market_t_co2e']}"
        )
        console.print(table)
        console.print(f"{s2['residual']}")
        console.print(
            f"net emissions: audited {net['audited_t_co2e']} t - retired offsets"
            f" {net['offsets_t_co2e']} t = {net['net_t_co2e']} t CO2e (REC displacement"
            f" {net['rec_displacement_t_co2e']} t shown separately)"
        )
    if result.refused:
        console.print(f"after revocation: [yellow]{result.refused}[/]")
    v = result.verify
    if v is not None and v.ok:
        console.print(
            f"[green]verify OK[/]: {v.entries} entries, {v.leaves} leaves,"
            f" {v.checkpoints} signed checkpoints, root {v.root[:16]}..."
        )
    elif v is not None:
        console.print(f"[red]verify FAILED[/]: {v.error}")
    console.print(
        f"inclusion proof of record {result.proof_record} checked offline:"
        f" {'OK' if result.proof_ok else 'FAILED'} ({result.home}/demo/proof.json)"
    )
    console.print(f"ledger: {result.home}  ({time.perf_counter() - started:.1f} s)")
    console.print(
        "next: carbonledger records list --site nw-chicago;"
        " carbonledger verify; carbonledger check-proof "
        f"{result.home}/demo/proof.json"
    )
    if v is None or not v.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
