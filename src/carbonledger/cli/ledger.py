"""``init``, ``status``, ``verify``, ``proof`` and ``check-proof``."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer

from carbonledger.cli.common import (
    AsOption,
    HomeOption,
    console,
    err,
    home_of,
    passphrase,
    print_json,
    read_ledger,
    reader_key,
    unlock_hint,
)
from carbonledger.core.canonical import canonical
from carbonledger.core.proofdoc import check_proof
from carbonledger.errors import InvalidInput
from carbonledger.services.records import RecordReader, find_item

__all__ = ["register"]


def init(
    name: str = typer.Option("carbonledger", help="A name for this ledger."),
    home: Path | None = HomeOption,
) -> None:
    """Create a ledger: the admin key (encrypted, on this machine) and the genesis entry."""
    h = home_of(home)
    key = h.init(passphrase(confirm=True), name=name)
    console.print(f"ledger created at [bold]{h.path}[/]")
    console.print(f"admin address {key.address}; keystore {h.keystore_file}")


def status(home: Path | None = HomeOption, json: bool = typer.Option(False, "--json")) -> None:
    """Show the ledger's id, admin, size and latest checkpoint."""
    h = home_of(home)
    ledger = h.ledger()
    state = ledger.state()
    cp = ledger.latest_checkpoint()
    info = {
        "home": str(h.path),
        "ledger_id": state.ledger_id,
        "admin": state.admin,
        "organisations": len(state.orgs),
        "sites": len(state.sites),
        "leaves": cp.size,
        "root": cp.root,
        "checkpoint_time": cp.time,
    }
    if json:
        print_json(info)
    else:
        for k, v in info.items():
            console.print(f"{k:>16}  {v}")


def verify(home: Path | None = HomeOption, json: bool = typer.Option(False, "--json")) -> None:
    """Recompute every hash, signature, rule and the Merkle tree; exit 1 on any change."""
    h = home_of(home)
    with console.status("verifying ledger"):
        report = h.ledger().verify()
    if json:
        print_json(report.__dict__)
    elif report.ok:
        console.print(
            f"[green]OK[/] {report.entries} entries, {report.leaves} leaves,"
            f" {report.checkpoints} checkpoints; root {report.root}"
        )
    else:
        err.print(f"[red]FAILED[/] {report.error}")
    if not report.ok:
        raise typer.Exit(1)


def proof(
    record: str = typer.Argument(..., help="Record id (or leaf index with --leaf)."),
    leaf: bool = typer.Option(False, "--leaf", help="RECORD is a leaf index."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the proof to this file."),
    reveal: bool = typer.Option(
        False,
        "--reveal",
        help="Disclose the record's sealed details (needs a member's key) so the checker"
        " can recompute the emissions.",
    ),
    acting: str | None = AsOption,
    home: Path | None = HomeOption,
) -> None:
    """Print an inclusion proof of a record that anyone can check without the database."""
    h = home_of(home)
    ledger = h.ledger()
    if leaf:
        if not record.isdigit():
            raise InvalidInput(f"--leaf needs a leaf index, got {record!r}")
        index = int(record)
    else:
        index = find_item(ledger, record).leaf_index
    doc = ledger.proof(index).document()
    item = orjson.loads(doc["item"])
    if item.get("kind") == "emissions_record":
        # The record commits to its calculation basis by hash; attach it so the
        # checker can see the factor's provenance and recompute the result.
        doc["basis"] = canonical(RecordReader(ledger).basis(item["trace"]["basis"])).decode()
        if reveal:
            key = reader_key(h, acting)
            if key is None:
                hint = unlock_hint(h, str(item.get("org")))
                raise InvalidInput(f"--reveal: what was billed {hint}")
            reading = read_ledger(h, key)
            reader = RecordReader.for_member(reading, reading.channels, key)
            doc["detail"] = reader.detail(item)
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        console.print(f"proof of leaf {index} written to {out}")


def check(
    file: Path = typer.Argument(..., help="A proof document written by `carbonledger proof`."),
    signer: str | None = typer.Option(None, help="The ledger admin's address, if known."),
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Check a proof document offline: Merkle path, checkpoint and transaction signatures."""
    try:
        doc = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(f"{file}: not a readable proof document ({exc})") from exc
    if not isinstance(doc, dict):
        raise InvalidInput(f"{file}: not a proof document")
    item = check_proof(doc, expect_signer=signer)
    if json:
        print_json({"ok": True, "item": item})
    else:
        recomputed = " and its emissions recompute" if doc.get("detail") else ""
        console.print(
            f"[green]OK[/] {item.get('kind')} {item.get('id')}{recomputed}: leaf"
            f" {doc['leaf_index']} of {doc['tree_size']}, checkpoint signed by"
            f" {doc['checkpoint']['signer']}"
        )


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("status")(status)
    app.command("verify")(verify)
    app.command("proof")(proof)
    app.command("check-proof")(check)
