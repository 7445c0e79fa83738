"""``rec``, ``offset``, ``token`` and ``report``: the token network and what it means.

Amounts are whole base units: RECs in MWh (one certificate each), offsets in
t CO2e; audited emissions are shown in kg CO2e.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from carbonledger.cli.common import (
    AsOption,
    HomeOption,
    console,
    home_of,
    open_ledger,
    print_json,
    read_ledger,
    reader_key,
    unlock_hint,
)
from carbonledger.cli.ids import known_org, known_site, token_id
from carbonledger.cli.tables import Rows, count
from carbonledger.core.domain import parse_date
from carbonledger.core.tokens.model import AUDITED, OFFSET, REC, SerialRange
from carbonledger.errors import InvalidInput, PermissionDenied

__all__ = ["register"]

rec_app = typer.Typer(help="Renewable energy certificates (1 MWh each).", no_args_is_help=True)
offset_app = typer.Typer(
    help="Carbon offsets (1 t CO2e each) and the project directory.", no_args_is_help=True
)
token_app = typer.Typer(
    help="Any token: transfer, retire, balances, history.", no_args_is_help=True
)
report_app = typer.Typer(
    help="Scope 2 (location and market based), net, marginal.", no_args_is_help=True
)

JsonOption = typer.Option(False, "--json", help="Print JSON.")


def _date(value: str, field: str) -> date:
    return parse_date(value, field)


def _issued(kind: str, tid: str, seq: int) -> None:
    console.print(f"{kind} token {tid} issued (entry {seq})")


# -- rec --------------------------------------------------------------------
@rec_app.command("issue")
def rec_issue(
    to: str = typer.Option(..., "--to", help="Recipient: ORG/NAME of an enrolled user, or 0x..."),
    mwh: int = typer.Option(..., help="Certificates to issue (MWh)."),
    facility: str = typer.Option(..., help="Generating facility name."),
    region: str = typer.Option(..., help="eGRID subregion (CAMX) or ISO-2 country (DE)."),
    generated_from: str = typer.Option(..., help="Generation period start, YYYY-MM-DD."),
    generated_to: str = typer.Option(..., help="Generation period end, YYYY-MM-DD."),
    registry: str = typer.Option(..., help="Tracking registry, e.g. WREGIS, M-RETS, AIB-GO."),
    serial_prefix: str = typer.Option(..., help="Registry serial prefix."),
    serial_start: int = typer.Option(..., help="First serial number."),
    facility_id: str | None = typer.Option(None, help="Facility id (e.g. EIA plant code)."),
    technology: str | None = typer.Option(None, help="wind, solar, hydro, ..."),
    token_id: str | None = typer.Option(None, "--id", help="Token id (default: generated)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Issue RECs (signed by a rec_dealer, e.g. --as dealers/recs)."""
    from carbonledger.services.tokens import issue_rec

    ledger, key = open_ledger(home_of(home), acting)
    out = issue_rec(
        ledger,
        key,
        to=to,
        mwh=mwh,
        facility=facility,
        grid_region=region,
        generation=(_date(generated_from, "generated-from"), _date(generated_to, "generated-to")),
        registry=registry,
        serial_prefix=serial_prefix,
        serial_start=serial_start,
        facility_id=facility_id,
        technology=technology,
        token_id=token_id,
    )
    _issued("REC", out.token, out.receipt.seq)


def _token_table(tokens: list[dict[str, Any]], json: bool) -> None:
    if json:
        print_json(tokens)
        return
    table = Rows(
        "id", "type", "issued", "retired", "unit", "registry", "serials", "what",
        keep=("id", "issued", "retired"), right=("issued", "retired"),
    )  # fmt: skip
    for t in tokens:
        meta = t["meta"]
        what = {
            REC: lambda m: (
                f"{m['facility']['name']} {m['grid_region']} "
                f"{m['generation']['start']}..{m['generation']['end']}"
            ),
            OFFSET: lambda m: f"{m['project']['id']} {m['project']['name'][:40]} v{m['vintage']}",
            AUDITED: lambda m: (
                f"{m['org']} scope {m['scope']} {m['period']['start']}..{m['period']['end']}"
            ),
        }[t["type"]](meta)
        serial = "" if t["serial"] is None else str(SerialRange(**t["serial"]))
        table.add_row(
            t["id"],
            t["type"],
            str(t["issued"]),
            str(t["retired"]),
            t["unit"],
            t["registry"] or "",
            serial,
            what,
        )
    table.print(console)


@rec_app.command("list")
def rec_list(home: Path | None = HomeOption, json: bool = JsonOption) -> None:
    """List REC tokens."""
    from carbonledger.services.tokens import list_tokens

    _token_table(list_tokens(home_of(home).ledger().state(), REC), json)


# -- offset -----------------------------------------------------------------
@offset_app.command("issue")
def offset_issue(
    project: str = typer.Option(..., help="Project id in the offsets directory, e.g. VCS1529."),
    to: str = typer.Option(..., "--to", help="Recipient: ORG/NAME or 0x..."),
    tonnes: int = typer.Option(..., help="Credits to issue (t CO2e)."),
    vintage: int = typer.Option(..., help="Vintage year."),
    serial_prefix: str = typer.Option(..., help="Registry serial prefix."),
    serial_start: int = typer.Option(..., help="First serial number."),
    token_id: str | None = typer.Option(None, "--id", help="Token id (default: generated)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Issue offsets of a directory project (signed by an offset_dealer)."""
    from carbonledger.services.offsets import open_directory
    from carbonledger.services.tokens import issue_offset

    h = home_of(home)
    ledger, key = open_ledger(h, acting)
    out = issue_offset(
        ledger,
        key,
        open_directory(h.path),
        project=project,
        to=to,
        tonnes=tonnes,
        vintage=vintage,
        serial_prefix=serial_prefix,
        serial_start=serial_start,
        token_id=token_id,
    )
    _issued("OFFSET", out.token, out.receipt.seq)


@offset_app.command("list")
def offset_list(home: Path | None = HomeOption, json: bool = JsonOption) -> None:
    """List offset tokens."""
    from carbonledger.services.tokens import list_tokens

    _token_table(list_tokens(home_of(home).ledger().state(), OFFSET), json)


@offset_app.command("projects")
def offset_projects(
    registry: str | None = typer.Option(None, help="ACR, CAR, GOLD or VCS."),
    project_type: str | None = typer.Option(None, "--type", help="Type contains, e.g. wind."),
    country: str | None = typer.Option(None, help="Country, e.g. 'United States'."),
    vintage: int | None = typer.Option(None, help="Has credits issued for this year."),
    search: str | None = typer.Option(None, help="Name or id contains."),
    limit: int = typer.Option(50, help="At most this many rows."),
    home: Path | None = HomeOption,
    json: bool = JsonOption,
) -> None:
    """Search the offset project directory."""
    from carbonledger.services.offsets import open_directory

    directory = open_directory(home_of(home).path)
    found = directory.search(
        registry=registry, type=project_type, country=country, vintage=vintage, text=search
    )
    if json:
        print_json([p.to_dict() for p in found[:limit]])
        return
    table = Table("id", "registry", "status", "type", "country", "issued t", "name")
    for p in found[:limit]:
        table.add_row(p.id, p.registry, p.status, p.type, p.country, str(p.issued), p.name[:50])
    console.print(table)
    console.print(f"{len(found)} of {len(directory.projects)} projects ({directory.source})")


@offset_app.command("load")
def offset_load(
    file: Path = typer.Argument(..., help="A newer edition of projects.csv (or .csv.gz)."),
    home: Path | None = HomeOption,
) -> None:
    """Keep a newer edition of the offsets directory in the ledger home."""
    from carbonledger.services.offsets import load_directory

    h = home_of(home)
    directory = load_directory(file, home=h.path)
    console.print(
        f"{len(directory.projects)} projects loaded as {directory.id};"
        " run `offset publish` to record it on the ledger"
    )


@offset_app.command("publish")
def offset_publish(home: Path | None = HomeOption) -> None:
    """Record the directory edition on the ledger (network admin), so offsets can name it."""
    from carbonledger.services.offsets import open_directory, register_directory

    h = home_of(home)
    ledger, key = open_ledger(h)
    directory = open_directory(h.path)
    receipt = register_directory(ledger, key, directory)
    state = "already recorded" if receipt is None else f"recorded (entry {receipt.seq})"
    console.print(f"offsets directory {directory.id} {state}")


# -- token ------------------------------------------------------------------
@token_app.command("transfer")
def token_transfer(
    token: str = typer.Argument(..., help="Token id (or a unique prefix)."),
    to: str = typer.Option(..., "--to", help="Recipient: ORG/NAME or 0x..."),
    amount: int = typer.Option(..., help="Base units (MWh or t CO2e)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Transfer units you hold to another enrolled identity."""
    from carbonledger.services.tokens import transfer

    ledger, key = open_ledger(home_of(home), acting)
    token = token_id(ledger.state(), token)
    receipt = transfer(ledger, key, token, to=to, amount=amount)
    console.print(f"transferred {amount} of {token} (entry {receipt.seq})")


@token_app.command("retire")
def token_retire(
    token: str = typer.Argument(..., help="Token id (or a unique prefix)."),
    amount: int = typer.Option(..., help="Base units to retire."),
    beneficiary: str = typer.Option(..., help="On whose behalf."),
    reason: str = typer.Option(..., help="Why, e.g. 'Scope 2 2023'."),
    org: str | None = typer.Option(None, help="Organisation the retirement counts for."),
    site: str | None = typer.Option(None, help="Site whose consumption it covers (RECs)."),
    period_start: str | None = typer.Option(None, help="Claimed period start, YYYY-MM-DD."),
    period_end: str | None = typer.Option(None, help="Claimed period end, YYYY-MM-DD."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Retire units you hold: the token's next serials, for a beneficiary."""
    from carbonledger.services.tokens import retire

    if (period_start is None) != (period_end is None):
        raise InvalidInput("--period-start and --period-end go together")
    period = None
    if period_start is not None and period_end is not None:
        period = (_date(period_start, "period-start"), _date(period_end, "period-end"))
    ledger, key = open_ledger(home_of(home), acting)
    state = ledger.state()
    token = token_id(state, token)
    known_org(state, org)
    known_site(state, site)
    receipt = retire(
        ledger,
        key,
        token,
        amount=amount,
        beneficiary=beneficiary,
        reason=reason,
        org=org,
        site=site,
        period=period,
    )
    console.print(f"retired {amount} of {token} for {beneficiary} (entry {receipt.seq})")


@token_app.command("balance")
def token_balance(
    holder: str | None = typer.Option(None, help="ORG/NAME, 0x... or org:<id>."),
    token: str | None = typer.Option(None, help="Only this token."),
    home: Path | None = HomeOption,
    json: bool = JsonOption,
) -> None:
    """Balances: available and retired, per holder and token."""
    from carbonledger.services.tokens import balances, resolve_holder

    state = home_of(home).ledger().state()
    who = None if holder is None else resolve_holder(state, holder)
    token = None if token is None else token_id(state, token)
    rows = balances(state, holder=who, token=token)
    if json:
        print_json([_bal(b) for b in rows])
        return
    table = Rows(
        "holder", "token", "type", "available", "retired", "unit",
        keep=("holder", "token", "available", "retired"), right=("available", "retired"),
    )  # fmt: skip
    for b in rows:
        table.add_row(b.holder, b.token, b.type, str(b.available), str(b.retired), b.unit)
    table.print(console)


def _bal(b: Any) -> dict[str, Any]:
    return {k: getattr(b, k) for k in ("holder", "token", "type", "unit", "available", "retired")}


@token_app.command("history")
def token_history_cmd(
    token: str = typer.Argument(..., help="Token id (or a unique prefix)."),
    home: Path | None = HomeOption,
    json: bool = JsonOption,
) -> None:
    """Issue, mints, transfers and retirements of a token, in ledger order."""
    from carbonledger.services.tokens import token_history

    ledger = home_of(home).ledger()
    events = token_history(ledger, token_id(ledger.state(), token))
    if json:
        print_json(events)
        return
    table = Rows(
        "entry", "event", "amount", "to / beneficiary", "serials",
        keep=("entry", "event", "amount", "to / beneficiary"), right=("entry", "amount"),
    )  # fmt: skip
    for e in events:
        serial = "" if e.get("serial") is None else str(SerialRange(**e["serial"]))
        who = e.get("beneficiary") or e.get("to") or e.get("org") or ""
        table.add_row(str(e["seq"]), e["kind"], str(e["amount"]), str(who), serial)
    table.print(console)


# -- report -----------------------------------------------------------------
@report_app.command("scope2")
def report_scope2(
    org: str = typer.Option(..., help="Organisation id."),
    year: int = typer.Option(..., help="Reporting year."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    residual: Path | None = typer.Option(None, help="Residual mix CSV (region,kg_co2e_per_kwh)."),
    boundary: str = typer.Option("grid_region", help="Market boundary: grid_region or country."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Location- and market-based Scope 2 per site and month (needs a channel member's key:
    --as ORG/NAME, or the admin's with CARBONLEDGER_PASSPHRASE)."""
    from carbonledger.services.scope2 import load_residual_mix, report_csv, scope2_report

    if fmt not in ("table", "csv", "json"):
        raise InvalidInput(f"--format must be table, csv or json, got {fmt!r}")
    if boundary not in ("grid_region", "country"):
        raise InvalidInput(f"--boundary must be grid_region or country, got {boundary!r}")
    h = home_of(home)
    key = reader_key(h, acting)
    ledger = read_ledger(h, key)
    known_org(ledger.state(), org)
    if key is None:
        raise PermissionDenied(f"report scope2: the billed kWh {unlock_hint(h, org)}")
    mix = None if residual is None else load_residual_mix(residual)
    result = scope2_report(
        ledger,
        ledger.channels,
        key,
        org,
        year,
        residual=mix,
        boundary="country" if boundary == "country" else "grid_region",
    )
    if fmt == "json":
        print_json(result.to_dict())
    elif fmt == "csv":
        typer.echo(report_csv(result), nl=False)
    else:
        table = Table("site", "kWh", "covered kWh", "location t CO2e", "market t CO2e")
        for site, s in sorted(result.by_site().items()):
            table.add_row(
                site,
                f"{s['kwh']:,.0f}",
                f"{s['covered_kwh']:,.0f}",
                f"{s['location_kg'] / 1000:,.3f}",
                f"{s['market_kg'] / 1000:,.3f}",
            )
        table.add_row(
            "TOTAL",
            f"{result.kwh:,.0f}",
            f"{result.covered_kwh:,.0f}",
            f"{result.location_kg / 1000:,.3f}",
            f"{result.market_kg / 1000:,.3f}",
        )
        console.print(table)
        for u in result.unapplied:
            console.print(f"unapplied: {u['retirement']} {u['kwh']} kWh: {u['reason']}")


@report_app.command("net")
def report_net(
    org: str = typer.Option(..., help="Organisation id."),
    year: int = typer.Option(..., help="Reporting year."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = JsonOption,
) -> None:
    """Net emissions: audited emissions minus retired offsets; REC displacement beside it."""
    from carbonledger.services.scope2 import net_report, scope2_report

    h = home_of(home)
    key = reader_key(h, acting)
    ledger = read_ledger(h, key)
    known_org(ledger.state(), org)
    scope2 = None if key is None else scope2_report(ledger, ledger.channels, key, org, year)
    net = net_report(ledger, org, year, scope2=scope2)
    if json:
        print_json(net.to_dict())
        return
    console.print(f"{org} {year}: {net.to_dict()['formula']}")
    console.print(
        f"  audited emissions  {net.audited_kg / 1000:,.3f} t CO2e"
        f" ({count(len(net.counted['audited']), 'token')})"
    )
    console.print(
        f"  offsets retired    {net.offsets_kg / 1000:,.3f} t CO2e"
        f" ({count(len(net.counted['offsets']), 'retirement')})"
    )
    console.print(f"  net emissions      {net.net_kg / 1000:,.3f} t CO2e")
    if net.rec_displacement_kg is not None:
        console.print(
            f"  REC displacement   {net.rec_displacement_kg / 1000:,.3f} t CO2e"
            " (location - market Scope 2; not subtracted)"
        )
    for e in net.excluded:
        what = f"token {e['token']}" if "token" in e else f"retirement {e.get('retirement')}"
        console.print(f"  not counted: {what}: {e['reason']}")
    if key is None:
        console.print(f"  REC displacement not shown: the billed kWh {unlock_hint(h, org)}")


def register(app: typer.Typer) -> None:
    from carbonledger.cli import reports  # noqa: F401 - adds its commands to report_app

    app.add_typer(rec_app, name="rec")
    app.add_typer(offset_app, name="offset")
    app.add_typer(token_app, name="token")
    app.add_typer(report_app, name="report")
