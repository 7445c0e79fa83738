"""``demo``: the product's introduction, on the embedded default or the EVM backend."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import typer
from rich.table import Table

from carbonledger.cli.common import DEMO_PASSPHRASE, HomeOption, console, home_of
from carbonledger.demo.story import DEMO_YEAR, DemoResult, run_demo
from carbonledger.errors import InvalidInput
from carbonledger.services.home import PASSPHRASE_ENV, USER_PASSPHRASE_ENV

__all__ = ["register"]


def _emissions(result: DemoResult) -> None:
    first = result.imports[0]
    rerun = result.rerun
    console.print(
        f"bills: {first.rows} rows, {first.recorded} recorded; re-import:"
        f" {rerun.recorded if rerun else 0} recorded,"
        f" {rerun.duplicates if rerun else 0} already recorded"
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
    if result.travel is not None:
        t = result.travel
        console.print(
            f"travel and freight: {t.rows} trips, {t.recorded} recorded,"
            f" {t.kg_co2e / 1000:,.3f} t CO2e (flights from airport codes, with RF)"
        )


def _inventory(result: DemoResult) -> None:
    inv = result.inventory
    if not inv:
        return
    table = Table(title=f"Northwind Foods inventory {DEMO_YEAR} (t CO2e): report inventory")
    table.add_column("figure")
    table.add_column("t CO2e", justify="right")
    for f in inv["figures"].values():
        table.add_row(f["label"], f"{Decimal(f['kg_co2e']) / 1000:,.3f}")
    for key, label in (("location_based", "location-based"), ("market_based", "market-based")):
        value = Decimal(inv["totals"][f"{key}_kg_co2e"]) / 1000
        table.add_row(f"[bold]total ({label})", f"[bold]{value:,.3f}")
    console.print(table)


def _audits(result: DemoResult) -> None:
    a = result.audit
    if a is not None:
        console.print(
            f"audit {a.id} by dana (GreenAudit): {a.records} records checked against their"
            f" sealed details, recomputed and proven; {a.verified} verified,"
            f" {len(a.failures)} did not hold; {a.total_kg_co2e / 1000:,.3f} t CO2e; report"
            f" signed on the ledger (entry {a.receipt.seq if a.receipt else '?'})"
        )
    meters = result.meters
    if meters:
        counts = meters["audit"]["counts"]
        console.print(
            f"digital audit {meters['audit']['id']}: {meters['readings']:,} signed readings in"
            f" {meters['credentials_posted']} credentials; "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
        )
        for c in meters.get("contradicted", [])[:1]:
            console.print(f"  contradicted: {c.get('record', '')[:8]} {c.get('reason')}")


def _tokens(result: DemoResult) -> None:
    tokens = result.tokens
    if not tokens:
        return
    for step in tokens.get("steps", []):
        console.print(f"[dim]-[/] {step}")
    s2, net = tokens["scope2"], tokens["net"]
    table = Table(title=f"Scope 2 {DEMO_YEAR}, location- and market-based (t CO2e)")
    for col in ("site", "location", "market"):
        table.add_column(col, justify="left" if col == "site" else "right")
    for site, row in s2["by_site"].items():
        table.add_row(site, row["location_t_co2e"], row["market_t_co2e"])
    table.add_row("[bold]total", f"[bold]{s2['location_t_co2e']}", f"[bold]{s2['market_t_co2e']}")
    console.print(table)
    console.print(f"{s2['residual']}")
    console.print(
        f"net emissions: audited {net['audited_t_co2e']} t - retired offsets"
        f" {net['offsets_t_co2e']} t = {net['net_t_co2e']} t CO2e (REC displacement"
        f" {net['rec_displacement_t_co2e']} t shown separately)"
    )


def _dao(result: DemoResult) -> None:
    dao = result.dao
    if not dao:
        return
    for step in dao.get("steps", []):
        console.print(f"[dim]-[/] {step}")
    project = dao.get("project", {})
    console.print(
        f"DAO proposal {dao['proposal']}: {dao['status']}; votes {dao['votes']['total']}"
        f" (quorum {dao['quorum']}); issued {dao['issued_t_co2e']} t of offsets"
        f" ({dao['offset_token']}) for {project.get('id')} {project.get('name', '')}"
    )


def demo(
    home: Path | None = HomeOption,
    backend: str = typer.Option(
        "embedded", "--backend", help="embedded (the default) or evm (CarbonLedger on a chain)"
    ),
    rpc: str | None = typer.Option(
        None,
        "--rpc",
        help="with --backend evm: JSON-RPC URL of the chain; default a local anvil started"
        " for the demo (its state saved in the home, the node stopped at the end)",
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        help="with --backend evm: database URL of the off-chain store"
        " (postgresql+psycopg://...); default offchain.db (SQLite) in the home",
    ),
) -> None:
    """Run the demo story: organisations, users, a year of bills, audits, tokens and a DAO vote."""
    started = time.perf_counter()
    h = home_of(home)
    phrase = os.environ.get(PASSPHRASE_ENV) or DEMO_PASSPHRASE
    if backend not in ("embedded", "evm"):
        raise InvalidInput(f"--backend is embedded or evm, not {backend!r}")
    if backend == "embedded" and (rpc or db):
        raise InvalidInput("--rpc and --db need --backend evm")
    console.rule(f"[bold]carbonledger demo[/] ({backend})")
    node = None
    if backend == "evm" and rpc is None:
        from carbonledger.adapters.evm.anvil import Anvil

        state = Path(tempfile.mkdtemp(prefix="carbonledger-demo-")) / "anvil-state.json"
        node = Anvil(state=state)
        rpc = node.url
        console.print(f"[dim]>[/] started a local anvil at {rpc}")
    try:
        result = run_demo(
            h, phrase, progress=lambda msg: console.print(f"[dim]>[/] {msg}"), rpc=rpc, db=db
        )
    finally:
        if node is not None:
            node.stop()
    if node is not None:
        kept = h.path / "anvil-state.json"
        if state.exists():
            shutil.move(state, kept)
        shutil.rmtree(state.parent, ignore_errors=True)
        console.print(
            f"the local anvil is stopped; its chain is saved in {kept}. Reads (records list,"
            " status) use the off-chain store; for verify and chain status restart it with"
            f" `anvil --port {node.port} --state {kept}` (or run the demo with --rpc)"
        )
    _emissions(result)
    _audits(result)
    _tokens(result)
    _inventory(result)
    _dao(result)
    if backend == "evm" and result.dao:
        console.print(
            "on the EVM backend the DAO's rules ran on chain: its Governor contract counted"
            " the quadratic votes, kept the timelock and minted the DAO's offsets into"
            " CarbonLedger's token network"
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
    _next_steps(result, published=phrase == DEMO_PASSPHRASE, custom_home=home is not None)
    if v is None or not v.ok:
        raise typer.Exit(1)


def _program() -> str:
    """How to run this command again from here: ``carbonledger`` if it is on PATH, else its path."""
    installed = Path(sys.executable).parent / "carbonledger"
    if not installed.exists():
        return "carbonledger"
    found = shutil.which("carbonledger")
    if found is not None and Path(found).resolve() == installed.resolve():
        return "carbonledger"
    try:
        return str(installed.relative_to(Path.cwd()))
    except ValueError:
        return str(installed)


def _next_steps(result: DemoResult, *, published: bool, custom_home: bool) -> None:
    """The passphrase and the next commands, runnable as printed."""
    cl = _program()
    if custom_home:
        cl = f"CARBONLEDGER_HOME={result.home} {cl}"
    if published:
        console.print(
            f"the demo's keys use the published passphrase [bold]{DEMO_PASSPHRASE}[/] (never"
            " keep real data in a demo ledger). Reading needs no key; sealed bill details"
            f" need {PASSPHRASE_ENV}={DEMO_PASSPHRASE} (the admin) or --as ORG/NAME with"
            f" {USER_PASSPHRASE_ENV}={DEMO_PASSPHRASE}"
        )
        unlock = f"{PASSPHRASE_ENV}={DEMO_PASSPHRASE} "
    else:
        console.print(f"the demo's keys use your {PASSPHRASE_ENV}")
        unlock = ""
    # the 8 characters `records list` shows: any unique prefix of an id works
    record = result.proof_record[:8] if result.proof_record else "<record id>"
    console.print(
        "next, try (a record's public fields, then with its billed amount recomputed; `serve`"
        " prints where to sign in and as whom):"
    )
    for line in (
        f"{cl} records list --site nw-chicago",
        f"{cl} records show {record}",
        f"{unlock}{cl} records show {record}",
        f"{cl} verify",
        f"{cl} check-proof {result.home}/demo/proof.json",
        f"{cl} serve",
    ):
        console.print(f"  {line}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
