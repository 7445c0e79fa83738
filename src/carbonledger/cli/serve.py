"""``serve`` and ``service-account``: the REST API and web UI, and ERP integrations."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import typer

from carbonledger.cli.chain_follow import background_follower
from carbonledger.cli.common import (
    DEMO_PASSPHRASE,
    HomeOption,
    console,
    home_of,
    is_demo,
    open_ledger,
    passphrase,
)
from carbonledger.core.identities import is_active
from carbonledger.core.rules.channels import channel_access, is_channel_admin
from carbonledger.core.rules.identity import has_own_admin
from carbonledger.core.state import LedgerState
from carbonledger.errors import CarbonLedgerError, ConfigurationError, PermissionDenied
from carbonledger.services.home import PASSPHRASE_ENV, Home

__all__ = ["register", "run_server"]

service_app = typer.Typer(
    help="Service accounts for ERP integrations (opentaps SEAS).", no_args_is_help=True
)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port."),
    access_log: bool = typer.Option(
        False, "--access-log", help="Print a line per request (off: it costs CPU under load)."
    ),
    home: Path | None = HomeOption,
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /docs) and the web UI on this ledger (on a
    chain, following it: new blocks are taken in the background)."""
    from carbonledger.api import create_app
    from carbonledger.api.context import AppContext

    h = home_of(home)
    h.config()
    demo = is_demo(h) and not os.environ.get(PASSPHRASE_ENV)
    phrase = DEMO_PASSPHRASE if demo else passphrase(why="serve (the operator signs checkpoints)")
    try:
        ctx = AppContext.open(h, phrase)
    except CarbonLedgerError as exc:
        if not demo:
            raise
        raise ConfigurationError(
            f"this demo ledger's keys do not use the passphrase {DEMO_PASSPHRASE!r}"
            f" (it was made with {PASSPHRASE_ENV} set): set {PASSPHRASE_ENV}"
        ) from exc
    console.print(f"carbonledger on http://{host}:{port}/ (ledger {h.path})")
    _sign_in_hint(h, ctx.ledger.state().identities, demo=demo, at=f"http://{host}:{port}")
    if demo and host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            f"[yellow]warning[/]: this demo ledger's passphrase {DEMO_PASSPHRASE!r} is"
            f" published; anyone who reaches {host}:{port} can sign in as its users"
        )
    # On a chain, the node keeps following it: what other nodes record appears here.
    stop_following = background_follower(h, ctx.ledger)
    try:
        run_server(create_app(ctx), host=host, port=port, access_log=access_log)
    finally:
        stop_following()


def run_server(app: Any, *, host: str, port: int, access_log: bool = False) -> None:
    """Serve ``app`` with uvicorn as ``carbonledger serve`` does: one process (the group
    commit, the batching of requests and the sign-in sessions live in it), on httptools
    and uvloop where installed, warnings only, by default no
    access log (a line per request costs more than some requests), and what the server
    holds for good kept out of the cycle collector's full passes (:func:`_settle_collector`)."""
    import uvicorn

    _settle_collector()
    uvicorn.run(
        app,
        host=host,
        port=port,
        http="httptools",
        log_level="info" if access_log else "warning",
        access_log=access_log,
    )


def _settle_collector() -> None:
    """Keep what a server holds for good (the state, the factor tables, the app) out of
    the cycle collector's full passes.

    A full pass walks every object the collector tracks, and the server waits: the
    eGRID ZIP lookup alone, loaded by the first bill of a US site, is some 230,000
    objects, and a pass over them held every request in flight for 70-140 ms. What is
    there at start is frozen at once; after that, whatever survives a full pass that
    found nothing to free is frozen too (``gc.freeze``: such objects are long-lived, and
    an object frozen is still freed when its last reference goes, as long as it is not
    in a cycle). Requests and batches leave no cycles behind (each is freed as it
    ends), so nothing accumulates frozen.
    """
    gc.collect()
    gc.freeze()
    if _freeze_after_idle_pass not in gc.callbacks:
        gc.callbacks.append(_freeze_after_idle_pass)


def _freeze_after_idle_pass(phase: str, info: dict[str, int]) -> None:
    # Called by the collector when a pass ends, its lists consistent: freezing moves them.
    if phase == "stop" and info["generation"] == 2 and info["collected"] == 0:
        gc.freeze()


def _sign_in_hint(
    h: Home, identities: dict[str, dict[str, object]], *, demo: bool, at: str
) -> None:
    """Who can sign in on the web UI with a keystore kept in this home."""
    users = sorted(
        f"{ident['org']}/{ident['name']}"
        for ident in identities.values()
        if is_active(ident)
        and ident.get("org")
        and h.user_keystore(str(ident["org"]), str(ident["name"])).exists()
    )
    names = ", ".join(["admin", *users])
    secret = f"the passphrase {DEMO_PASSPHRASE!r} (the demo's)" if demo else "its passphrase"
    console.print(f"sign in at {at}/signin as one of: {names}; with {secret}")


@service_app.command("create")
def service_create(
    name: str = typer.Argument(..., help="Account name (opentaps: its userId)."),
    org: str = typer.Option(..., help="Organisation it records for."),
    roles: str = typer.Option("member", help="Comma-separated roles."),
    home: Path | None = HomeOption,
    acting: str | None = typer.Option(
        None,
        "--as",
        metavar="ORG/NAME",
        help="Register it as this org admin of the organisation, enrolled from this home:"
        " needed once the organisation has its own admin (default: the network admin,"
        " who registers only an organisation's first admin).",
    ),
) -> None:
    """Create an identity whose key this server holds, and print its API token once.

    Registered by the network admin, or with --as by an org admin of the organisation
    (required once the organisation has its own admin)."""
    from carbonledger.api.context import ServiceAccount, new_api_token
    from carbonledger.crypto.keystore import encrypt_key, save_keystore
    from carbonledger.services.channels import grant
    from carbonledger.services.home import KEYSTORE_SCRYPT_N
    from carbonledger.services.identity import enroll, make_enrolment_request, register_user

    h = home_of(home)
    ledger, registrar = open_ledger(h, acting)
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    state = ledger.state()
    if acting is None:
        _network_admin_may_register(h, state, org)
    if "member" in role_list and org in state.channels:
        _may_grant(state, registrar.address, org, acting)
    phrase = passphrase()
    secret = register_user(ledger, registrar, org=org, name=name, roles=role_list)
    key, request = make_enrolment_request(org, name, secret)
    certificate = h.ca.issue(ledger, request, phrase)
    path = h.user_keystore(org, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keystore(path, encrypt_key(key, phrase, n=KEYSTORE_SCRYPT_N))
    enroll(ledger, key, request, certificate)
    if "member" in role_list:
        grant(ledger, ledger.channels, registrar, org, key.address, role="member")
    token = new_api_token(h, ServiceAccount(org, name, key.address))
    console.print(f"service account {org}/{name} ({key.address})")
    console.print(
        f"API token (shown once; send as 'Authorization: Bearer' or opentaps'"
        f" vault_token header): [bold]{token}[/]"
    )


def _may_grant(state: LedgerState, registrar: str, org: str, acting: str | None) -> None:
    """Refuse, before any work, a member the registrar could register but not give the
    channel's key (the core refuses that grant too): nothing half made."""
    who = acting or "the network admin"
    try:
        channel_access(state, org, registrar)
    except CarbonLedgerError as exc:
        raise PermissionDenied(
            f"{who} holds no key of channel {org!r}, so cannot give the service account"
            f" access to it ({exc}); an admin of the channel grants {who} first"
            f" (`carbonledger channel grant {org} ...`)"
        ) from exc
    if not is_channel_admin(state, registrar, org):
        raise PermissionDenied(
            f"channel {org!r} is run by its organisation's own admins: use --as with one"
        )


def _network_admin_may_register(home: Home, state: LedgerState, org: str) -> None:
    """Refuse, before any work and saying what to do, an identity the network admin may
    no longer register: ``org`` has its own admin (the core refuses it too)."""
    if not has_own_admin(state, org):
        return
    admins = sorted(
        f"{org}/{ident['name']}"
        for ident in state.identities.values()
        if ident.get("org") == org
        and "org_admin" in ident.get("roles", ())
        and is_active(ident)
        and home.user_keystore(org, str(ident["name"])).exists()
    )
    how = (
        f"use --as {' or --as '.join(admins)}"
        if admins
        else f"use --as ORG/NAME with an org admin of {org!r} enrolled from this home"
    )
    raise PermissionDenied(
        f"organisation {org!r} has its own admin, so only its org admins register its"
        f" identities, not the network admin: {how}"
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(service_app, name="service-account")
