"""``witness``: keep the checkpoints of ledgers, detect rewritten history, cosign (C2SP)."""

from __future__ import annotations

from pathlib import Path

import typer

from carbonledger.cli.common import HomeOption, console, err, home_of, passphrase, print_json
from carbonledger.services.tlog import submit_to_witness
from carbonledger.services.witness import WitnessStore

__all__ = ["witness_app"]

witness_app = typer.Typer(
    help="Witness ledgers: remember their checkpoints, detect rollback and forks, cosign.",
    no_args_is_help=True,
)

DirOption = typer.Option(
    None, "--dir", help="The witness directory (default: witness/ in the ledger home)."
)


def _store(directory: Path | None, home: Path | None) -> WitnessStore:
    return WitnessStore(directory if directory is not None else home_of(home).path / "witness")


@witness_app.command("init")
def init(
    name: str = typer.Option(..., help="The witness's name, e.g. witness.example.org/w1."),
    directory: Path | None = DirOption,
    home: Path | None = HomeOption,
) -> None:
    """Create the witness's Ed25519 cosigning key (encrypted with the passphrase)."""
    verifier = _store(directory, home).init(name, passphrase(confirm=True))
    console.print(f"witness {name}; its vkey (give it to those who check cosignatures):")
    typer.echo(verifier.vkey)


@witness_app.command("add")
def add(
    log: str = typer.Argument(..., help="The log: a carbonledger API URL or a ledger home."),
    vkey: str | None = typer.Option(
        None, "--vkey", help="The log's note key (vkey) as published; else the one it states."
    ),
    directory: Path | None = DirOption,
    home: Path | None = HomeOption,
) -> None:
    """Remember a log: its origin, its note key and the checkpoint it shows now."""
    entry = _store(directory, home).add(log, vkey)
    console.print(
        f"witnessing {entry['origin']} at size {entry['size']} (key {entry['vkey']})",
        highlight=False,
    )


@witness_app.command("check")
def check(
    directory: Path | None = DirOption,
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Check every remembered log is consistent with what was witnessed; exit 1 if not."""
    verdicts = _store(directory, home).check()
    if json:
        print_json([v.__dict__ for v in verdicts])
    for v in verdicts:
        if json:
            break
        if v.ok:
            console.print(f"[green]OK[/] {v.origin}: {v.message}", highlight=False)
        else:
            err.print(f"[red]FAILED[/] {v.origin}: {v.message}", highlight=False)
    if any(not v.ok for v in verdicts):
        raise typer.Exit(1)


@witness_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8100, help="Port."),
    directory: Path | None = DirOption,
    home: Path | None = HomeOption,
) -> None:
    """Serve the C2SP tlog-witness API (POST /add-checkpoint) for the remembered logs."""
    import uvicorn

    from carbonledger.api.witness import create_witness_app

    store = _store(directory, home)
    key = store.key(passphrase())
    console.print(f"witness {key.name} on http://{host}:{port}/ (key {key.verifier.vkey})")
    uvicorn.run(create_witness_app(store, key), host=host, port=port, log_level="warning")


@witness_app.command("submit")
def submit(
    url: str = typer.Argument(..., help="A C2SP witness's submission URL prefix."),
    home: Path | None = HomeOption,
) -> None:
    """Ask a witness to cosign this ledger's latest checkpoint; keep its cosignatures."""
    ledger = home_of(home).ledger()
    try:
        lines = submit_to_witness(ledger, url)
    finally:
        ledger.close()
    for line in lines:
        typer.echo(line, nl=False)
    console.print(f"{len(lines)} cosignatures kept with the checkpoint", highlight=False)
