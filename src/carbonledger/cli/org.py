"""``org`` and ``site``: register and list organisations and sites."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from carbonledger.cli.common import (
    AsOption,
    HomeOption,
    console,
    home_of,
    open_ledger,
    passphrase,
    print_json,
    unlock,
)
from carbonledger.cli.ids import known_org
from carbonledger.cli.tables import Rows
from carbonledger.core.domain import Organisation, Site
from carbonledger.errors import InvalidInput
from carbonledger.services.registry import register_orgs, register_sites

__all__ = ["register"]

org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
site_app = typer.Typer(
    help="Sites (a place with meters; its location picks the factors).", no_args_is_help=True
)


@org_app.command("add")
def org_add(
    org_id: str = typer.Argument(..., help="Short id, e.g. acme."),
    name: str = typer.Option(..., help="Legal or display name."),
    country: str | None = typer.Option(None, help="Country of registration."),
    ca_csr: Path | None = typer.Option(
        None,
        "--ca-csr",
        help="The organisation's own CA request (`carbonledger ca request` on its node):"
        " certified by the network CA here, its key stays with the organisation.",
    ),
    home: Path | None = HomeOption,
) -> None:
    """Register an organisation (network admin)."""
    h = home_of(home)
    key = unlock(h)
    if ca_csr is None:
        ca_cert = h.ca.create_org(org_id, name, passphrase())
    else:
        ca_cert = h.ca.certify_org(org_id, _read(ca_csr), passphrase())
    ledger = h.ledger(key)
    receipt = register_orgs(
        ledger,
        ledger.channels,
        key,
        [Organisation(org_id, name, country)],
        ca_certs={org_id: ca_cert},
    )
    console.print(f"organisation {org_id} registered (entry {receipt.seq})")


@org_app.command("list")
def org_list(home: Path | None = HomeOption, json: bool = typer.Option(False, "--json")) -> None:
    """List organisations."""
    orgs = home_of(home).ledger().state().orgs
    if json:
        print_json(list(orgs.values()))
        return
    table = Table("id", "name", "country")
    for o in orgs.values():
        table.add_row(o["id"], o["name"], o.get("country") or "")
    console.print(table)


@site_app.command("add")
def site_add(
    site_id: str = typer.Argument(..., help="Short id, e.g. acme-hq."),
    org: str = typer.Option(..., help="Organisation id."),
    name: str = typer.Option(..., help="Display name."),
    country: str = typer.Option(..., help="Country (ISO code or name)."),
    zip_code: str | None = typer.Option(None, "--zip", help="US ZIP code."),
    state: str | None = typer.Option(None, help="US state code."),
    subregion: str | None = typer.Option(None, help="eGRID subregion, if known."),
    utility: str | None = typer.Option(None, help="EIA utility id of the electricity supplier."),
    address: str | None = typer.Option(None, help="Street address."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Register a site of an organisation (its admin, or the network admin)."""
    site = Site(site_id, org, name, country, zip_code, state, subregion, utility, address)
    ledger, key = open_ledger(home_of(home), acting)
    receipt = register_sites(ledger, key, [site])
    console.print(f"site {site_id} registered (entry {receipt.seq})")


@site_app.command("list")
def site_list(
    org: str | None = typer.Option(None, help="Only this organisation's sites."),
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """List sites."""
    state = home_of(home).ledger().state()
    known_org(state, org)
    sites = [s for s in state.sites.values() if org is None or s["org"] == org]
    if json:
        print_json(sites)
        return
    table = Rows(
        "id", "org", "name", "country", "zip", "utility", "subregion", keep=("id", "org", "zip")
    )
    for s in sites:
        table.add_row(
            *(
                str(s.get(k) or "")
                for k in ("id", "org", "name", "country", "zip", "utility_id", "subregion")
            )
        )
    table.print(console)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


def register(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")
    app.add_typer(site_app, name="site")
