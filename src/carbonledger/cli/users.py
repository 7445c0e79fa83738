"""``user`` and ``ca``: register, enroll, revoke and list identities; show CA certificates."""

from __future__ import annotations

from pathlib import Path

import typer

from carbonledger.cli.common import (
    AsOption,
    HomeOption,
    ask_secret,
    console,
    home_of,
    open_ledger,
    passphrase,
    print_json,
    unlock,
)
from carbonledger.cli.ids import known_org
from carbonledger.cli.tables import Rows
from carbonledger.core.rules.common import GRANTABLE_ROLES
from carbonledger.crypto.keystore import encrypt_key, save_keystore
from carbonledger.errors import InvalidInput, NotFound
from carbonledger.services.home import KEYSTORE_SCRYPT_N
from carbonledger.services.identity import (
    enroll,
    make_enrolment_request,
    register_user,
    revoke_user,
)

__all__ = ["register"]

user_app = typer.Typer(help="Identities: register, enroll, revoke, list.", no_args_is_help=True)
ca_app = typer.Typer(
    help="Certificate authorities of the network and organisations.", no_args_is_help=True
)


@user_app.command("register")
def user_register(
    name: str = typer.Argument(..., help="User name (unique in the organisation)."),
    org: str = typer.Option(..., help="Organisation id."),
    roles: str = typer.Option(
        "member", help=f"Comma-separated: {', '.join(sorted(GRANTABLE_ROLES))}."
    ),
    valid_hours: int = typer.Option(72, help="Hours the one-time enrolment secret stays valid."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Register a user (as an organisation admin); prints the one-time enrolment secret."""
    ledger, key = open_ledger(home_of(home), acting)
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    secret = register_user(
        ledger, key, org=org, name=name, roles=role_list, valid_hours=valid_hours
    )
    if json:
        print_json({"org": org, "name": name, "roles": role_list, "secret": secret})
    else:
        console.print(f"registered {name} in {org} with roles {', '.join(role_list)}")
        console.print(f"one-time enrolment secret (give it to {name}): [bold]{secret}[/]")


@user_app.command("enroll")
def user_enroll(
    name: str = typer.Argument(..., help="The registered user name."),
    org: str = typer.Option(..., help="Organisation id."),
    secret: str | None = typer.Option(
        None, help="One-time secret (asked for at a terminal when not given)."
    ),
    keystore: Path | None = typer.Option(None, help="Where to keep the new key (default: home)."),
    home: Path | None = HomeOption,
) -> None:
    """Enroll: make your key here, get it certified by your organisation's CA, record it."""
    h = home_of(home)
    if secret is None:
        secret = ask_secret("one-time enrolment secret", "pass --secret", "user enroll")
    user_key, request = make_enrolment_request(org, name, secret)
    operator = unlock(h)
    ledger = h.ledger(operator)
    certificate = h.ca.issue(ledger, request, passphrase())
    path = keystore or h.user_keystore(org, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    user_pass = _env_user_pass() or ask_secret(
        f"new passphrase for {name}'s key",
        "set CARBONLEDGER_USER_PASSPHRASE",
        "user enroll",
        confirm=True,
    )
    save_keystore(path, encrypt_key(user_key, user_pass, n=KEYSTORE_SCRYPT_N))
    receipt = enroll(ledger, user_key, request, certificate)
    console.print(f"{name} enrolled as {user_key.address} (entry {receipt.seq}); key in {path}")


def _env_user_pass() -> str:
    import os

    from carbonledger.services.home import PASSPHRASE_ENV, USER_PASSPHRASE_ENV

    return os.environ.get(USER_PASSPHRASE_ENV) or os.environ.get(PASSPHRASE_ENV) or ""


@user_app.command("revoke")
def user_revoke(
    who: str = typer.Argument(..., help="Address, or ORG/NAME."),
    reason: str = typer.Option("revoked by admin", help="Why (recorded on the ledger)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Revoke a user's key: its new transactions are refused, its past ones stay valid."""
    h = home_of(home)
    ledger, key = open_ledger(h, acting)
    address = _address(ledger.state().identities, who)
    before = ledger.state().channels
    receipt = revoke_user(ledger, key, h.ca, address, reason=reason, ca_passphrase=passphrase())
    console.print(f"{who} revoked (entry {receipt.seq}); the organisation's CRL is updated")
    for cid, chan in sorted(ledger.state().channels.items()):
        if chan["epoch"] == before[cid]["epoch"]:
            continue
        keyed = str(chan["epoch"]) in chan["keys"]
        later = "" if keyed else f"; its admin must run `carbonledger channel rotate {cid}`"
        console.print(f"channel {cid} starts epoch {chan['epoch']}{later}")


def _address(identities: dict[str, dict[str, object]], who: str) -> str:
    if who in identities:
        return who
    org, _, name = who.partition("/")
    for address, ident in identities.items():
        if ident.get("org") == org and ident.get("name") == name:
            return address
    raise NotFound(f"no enrolled identity {who!r} (give an address or ORG/NAME)")


@user_app.command("list")
def user_list(
    org: str | None = typer.Option(None, help="Only this organisation."),
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """List identities with their roles and status."""
    state = home_of(home).ledger().state()
    known_org(state, org)
    idents = [i for i in state.identities.values() if org is None or i.get("org") == org]
    if json:
        print_json(idents)
        return
    table = Rows("name", "org", "roles", "address", "status", keep=("name", "org", "address"))
    for i in idents:
        table.add_row(
            str(i["name"]),
            str(i.get("org") or ""),
            ", ".join(i["roles"]),
            str(i["address"]),
            str(i["status"]),
        )
    table.print(console)


@ca_app.command("request")
def ca_request(
    org: str = typer.Argument(..., help="Your organisation's id, as it will be registered."),
    name: str = typer.Option(..., help="Legal or display name."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the request here."),
    home: Path | None = HomeOption,
) -> None:
    """On your organisation's node: make its CA key (kept here) and print the request the
    network admin certifies (`carbonledger org add ORG --ca-csr FILE`)."""
    h = home_of(home)
    h.config()
    csr = h.ca.request_org(org, name, passphrase())
    if out is None:
        typer.echo(csr, nl=False)
    else:
        out.write_text(csr)
        console.print(f"CA request of {org} written to {out}; its key stays in {h.ca.directory}")


@ca_app.command("show")
def ca_show(
    name: str = typer.Argument("root", help="'root' or an organisation id."),
    home: Path | None = HomeOption,
) -> None:
    """Print a CA certificate (PEM)."""
    h = home_of(home)
    if name != "root" and not name.startswith("org-"):
        name = f"org-{name}"
    if "/" in name:
        raise InvalidInput(f"not a CA name: {name!r}")
    typer.echo(h.ca.certificate(name), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(ca_app, name="ca")
