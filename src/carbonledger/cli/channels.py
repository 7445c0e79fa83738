"""``channel``: grant and revoke access to an organisation's private data; list members."""

from __future__ import annotations

from pathlib import Path

import typer

from carbonledger.cli.common import (
    AsOption,
    HomeOption,
    console,
    home_of,
    open_ledger,
    print_json,
)
from carbonledger.cli.tables import Rows
from carbonledger.cli.users import _address
from carbonledger.errors import NotFound
from carbonledger.services import channels

__all__ = ["register"]

channel_app = typer.Typer(
    help="Data channels: who can read an organisation's private data.", no_args_is_help=True
)


@channel_app.command("grant")
def channel_grant(
    channel: str = typer.Argument(..., help="Channel (the organisation id)."),
    who: str = typer.Argument(..., help="Address or ORG/NAME of the identity."),
    role: str = typer.Option("member", help="member or auditor."),
    until: str | None = typer.Option(None, help="Access ends at this UTC time (ISO 8601)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Grant access (wraps every epoch's key for the member's public key)."""
    ledger, key = open_ledger(home_of(home), acting)
    address = _address(ledger.state().identities, who)
    receipt = channels.grant(ledger, ledger.channels, key, channel, address, role=role, until=until)
    console.print(
        f"{who} may read channel {channel} as {role}"
        f"{f' until {until}' if until else ''} (entry {receipt.seq})"
    )


@channel_app.command("revoke")
def channel_revoke(
    channel: str = typer.Argument(..., help="Channel (the organisation id)."),
    who: str = typer.Argument(..., help="Address or ORG/NAME of the member."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Remove a member; new data is sealed under a new key the others receive."""
    ledger, key = open_ledger(home_of(home), acting)
    address = _address(ledger.state().identities, who)
    receipt = channels.revoke(ledger, ledger.channels, key, channel, address)
    console.print(f"{who} removed from channel {channel}; new epoch started (entry {receipt.seq})")


@channel_app.command("rotate")
def channel_rotate(
    channel: str = typer.Argument(..., help="Channel (the organisation id)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Give the current members a new key: data sealed afterwards is closed to anyone whose
    access ended (an expired grant) or who was revoked by another organisation's admin.
    The organisation's admin may always; a member who writes its records, once the
    epoch is stale (someone whose access ended holds its key)."""
    ledger, key = open_ledger(home_of(home), acting)
    receipt = channels.rotate(ledger, ledger.channels, key, channel)
    epoch = ledger.state().channels[channel]["epoch"]
    console.print(f"channel {channel} now seals under epoch {epoch} (entry {receipt.seq})")


@channel_app.command("members")
def channel_members(
    channel: str = typer.Argument(..., help="Channel (the organisation id)."),
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """List a channel's members, roles and access periods."""
    state = home_of(home).ledger().state()
    chan = state.channels.get(channel)
    if chan is None:
        raise NotFound(f"channel {channel!r} does not exist")
    rows = [
        {"address": a, "name": state.identities.get(a, {}).get("name"), **m}
        for a, m in chan["members"].items()
    ]
    if json:
        print_json({"channel": channel, "epoch": chan["epoch"], "members": rows})
        return
    table = Rows(
        "name", "address", "role", "since", "until",
        keep=("name", "address", "role"), title=f"{channel} (epoch {chan['epoch']})",
    )  # fmt: skip
    for r in rows:
        table.add_row(
            str(r["name"]), r["address"], r["role"], str(r["since"]), str(r["until"] or "")
        )
    table.print(console)


def register(app: typer.Typer) -> None:
    app.add_typer(channel_app, name="channel")
