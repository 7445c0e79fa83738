"""``serve`` and ``service-account``: the REST API and web UI, and ERP integrations."""

from __future__ import annotations

from pathlib import Path

import typer

from carbonledger.cli.common import HomeOption, console, home_of, passphrase, unlock

__all__ = ["register"]

service_app = typer.Typer(
    help="Service accounts for ERP integrations (opentaps SEAS).", no_args_is_help=True
)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port."),
    home: Path | None = HomeOption,
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /docs) and the web UI on this ledger."""
    import uvicorn

    from carbonledger.api import create_app
    from carbonledger.api.context import AppContext

    h = home_of(home)
    ctx = AppContext.open(h, passphrase())
    console.print(f"carbonledger on http://{host}:{port}/ (ledger {h.path})")
    uvicorn.run(create_app(ctx), host=host, port=port, log_level="warning")


@service_app.command("create")
def service_create(
    name: str = typer.Argument(..., help="Account name (opentaps: its userId)."),
    org: str = typer.Option(..., help="Organisation it records for."),
    roles: str = typer.Option("member", help="Comma-separated roles."),
    home: Path | None = HomeOption,
) -> None:
    """Create an identity whose key this server holds, and print its API token once."""
    from carbonledger.api.context import ServiceAccount, new_api_token
    from carbonledger.crypto.keystore import encrypt_key, save_keystore
    from carbonledger.services.channels import grant
    from carbonledger.services.home import KEYSTORE_SCRYPT_N
    from carbonledger.services.identity import enroll, make_enrolment_request, register_user

    h = home_of(home)
    admin = unlock(h)
    phrase = passphrase()
    ledger = h.ledger(admin)
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    secret = register_user(ledger, admin, org=org, name=name, roles=role_list)
    key, request = make_enrolment_request(org, name, secret)
    certificate = h.ca.issue(ledger, request, phrase)
    path = h.user_keystore(org, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keystore(path, encrypt_key(key, phrase, n=KEYSTORE_SCRYPT_N))
    enroll(ledger, key, request, certificate)
    if "member" in role_list:
        grant(ledger, ledger.channels, admin, org, key.address, role="member")
    token = new_api_token(h, ServiceAccount(org, name, key.address))
    console.print(f"service account {org}/{name} ({key.address})")
    console.print(
        f"API token (shown once; send as 'Authorization: Bearer' or opentaps'"
        f" vault_token header): [bold]{token}[/]"
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(service_app, name="service-account")
