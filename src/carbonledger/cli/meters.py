"""``meter`` and ``utility``: meters and utilities that sign their data with a DID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from carbonledger.cli.common import AsOption, HomeOption, console, home_of, open_ledger, print_json
from carbonledger.cli.didkeys import (
    KeyOption,
    did_arg,
    did_signer,
    post_credentials,
    read_credentials,
)
from carbonledger.core.domain import parse_date
from carbonledger.errors import InvalidInput, NotFound
from carbonledger.services.home import Home

__all__ = ["meter_app", "utility_app"]

meter_app = typer.Typer(help="Meters and devices: register, post signed readings.")
utility_app = typer.Typer(help="Utilities: register their DIDs and the accounts they bill.")
meter_app.info.no_args_is_help = utility_app.info.no_args_is_help = True


# --- meter --------------------------------------------------------------------------


@meter_app.command("register")
def meter_register(
    device: str = typer.Argument(..., help="Device id on the ledger, e.g. hq-meter-1."),
    site: str = typer.Option(..., help="Site the meter is installed at."),
    meter: str = typer.Option(..., help="The bill account the meter measures."),
    did: str | None = typer.Option(None, help="The meter's did:key."),
    key: str | None = KeyOption,
    valid_from: str = typer.Option(..., "--from", help="Installed on, YYYY-MM-DD (UTC)."),
    until: str | None = typer.Option(None, help="Removed on, YYYY-MM-DD (UTC)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Register a meter's DID to a site and meter (an admin of the site's organisation)."""
    from carbonledger.services.devices import register_device

    h = home_of(home)
    did_value = did_arg(h, did, key)
    ledger, admin = open_ledger(h, acting)
    receipt = register_device(
        ledger,
        admin,
        device_id=device,
        did=did_value,
        site=site,
        meter=meter,
        valid_from=parse_date(valid_from, "--from"),
        valid_until=None if until is None else parse_date(until, "--until"),
    )
    console.print(f"device {device} registered to {site}/{meter} (entry {receipt.seq})")


@meter_app.command("readings")
def meter_readings(
    file: Path = typer.Argument(..., help="Signed readings (JSON) or a Green Button XML file."),
    key: str | None = typer.Option(
        None, "--key", help="With a Green Button file: the meter's DID key, which signs."
    ),
    device: str | None = typer.Option(
        None, help="With a Green Button file: the registered device id."
    ),
    meter: str | None = typer.Option(
        None,
        help="With a Green Button file: the meter (account) number the device measures"
        " (the ledger holds only its reference).",
    ),
    per: str = typer.Option(
        "month", help="With a Green Button file: one credential per month|day."
    ),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Post a signed batch of readings; each is checked against the recorded bills at once.

    Exits 1 when a credential is refused or a reading contradicts a bill.
    """
    h = home_of(home)
    if file.suffix.lower() == ".xml":
        credentials = _sign_green_button(h, file, key, device, meter, per)
    else:
        credentials = read_credentials(file)
    post_credentials(h, acting, credentials, json=json)


def _sign_green_button(
    h: Home, file: Path, key: str | None, device: str | None, meter: str | None, per: str
) -> list[dict[str, Any]]:
    from carbonledger.core.domain import account_ref
    from carbonledger.greenbutton import parse_file, to_intervals
    from carbonledger.services.devices import readings_from_intervals

    if key is None or device is None or meter is None:
        raise InvalidInput(
            "a Green Button file needs --key (the meter's DID key), --device and --meter"
        )
    registered = h.ledger().state().devices.get(device)
    if registered is None or registered.get("kind") != "device":
        raise NotFound(f"device {device!r} is not registered")
    if account_ref(str(registered["site"]), meter) != registered["meter_ref"]:
        raise InvalidInput(
            f"--meter {meter!r}: device {device!r} is registered to another meter at"
            f" {registered['site']}"
        )
    return readings_from_intervals(
        to_intervals(parse_file(file)),
        did_signer(h, key),
        meter_id=meter,
        site_id=registered["site"],
        per=per,
    )


@meter_app.command("list")
def meter_list(
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """List registered devices and utilities with their status."""
    devices = home_of(home).ledger().state().devices
    rows = [d for d in devices.values() if d.get("kind") in ("device", "utility")]
    if json:
        print_json(rows)
        return
    for d in rows:
        where = (
            f"{d['site']} meter {d['meter_ref'][:12]}"
            if d["kind"] == "device"
            else d.get("eia_id") or d.get("name")
        )
        typer.echo(f"{d['kind']:8} {d['id']:20} {d['status']:8} {where}  {d['did']}")


@meter_app.command("retire")
def meter_retire(
    device: str = typer.Argument(..., help="Device or utility id."),
    revoke: bool = typer.Option(False, "--revoke", help="The key is compromised: revoke it."),
    reason: str | None = typer.Option(None, help="Why."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Retire a device (its later readings do not count) or revoke its key."""
    from carbonledger.services.devices import set_device_status

    ledger, key = open_ledger(home_of(home), acting)
    status = "revoked" if revoke else "retired"
    receipt = set_device_status(ledger, key, device, status=status, reason=reason)
    console.print(f"{device} {status} (entry {receipt.seq})")


# --- utility ------------------------------------------------------------------------


@utility_app.command("register")
def utility_register(
    utility: str = typer.Argument(..., help="Utility id on the ledger, e.g. comed."),
    did: str | None = typer.Option(None, help="The utility's did:key."),
    key: str | None = KeyOption,
    name: str | None = typer.Option(None, help="Utility name."),
    eia: str | None = typer.Option(None, help="EIA utility id (bills every site that names it)."),
    account: list[str] = typer.Option([], help="SITE/ACCOUNT it bills (repeatable)."),
    home: Path | None = HomeOption,
) -> None:
    """Register a utility's DID (the network admin)."""
    from carbonledger.services.devices import register_utility

    h = home_of(home)
    did_value = did_arg(h, did, key)
    ledger, admin = open_ledger(h)
    receipt = register_utility(
        ledger, admin, utility_id=utility, did=did_value, name=name, eia_id=eia, accounts=account
    )
    console.print(f"utility {utility} registered (entry {receipt.seq})")
