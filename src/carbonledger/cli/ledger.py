"""``init``, ``status``, ``verify``, ``proof`` and ``check-proof``."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

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
from carbonledger.core.note import Verifier, parse_checkpoint, parse_note
from carbonledger.core.proofdoc import check_proof
from carbonledger.errors import InvalidInput, NotFound
from carbonledger.services.records import RecordReader, find_item
from carbonledger.services.tlog import latest_cosigned, log_of, prune_blobs, verify_home
from carbonledger.services.witness import open_source

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


def verify(
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
    max_errors: int = typer.Option(
        100, "--max-errors", min=1, help="Stop after this many failures (all are listed)."
    ),
) -> None:
    """Recompute every hash, signature, rule, sealed blob and the Merkle tree; exit 1 on any
    change, naming every entry that does not hold."""
    h = home_of(home)
    with console.status("verifying ledger"):
        report = verify_home(h, max_errors=max_errors)
    if json:
        print_json(report.__dict__)
    elif report.ok:
        console.print(
            f"[green]OK[/] {report.entries} entries, {report.leaves} leaves,"
            f" {report.checkpoints} checkpoints, {report.blobs} sealed blobs; root {report.root}"
        )
    else:
        err.print(f"[red]FAILED[/] {report.error}", highlight=False)
        for e in report.errors[1:]:
            err.print(f"  {e['error']}", highlight=False, markup=False)
        if len(report.errors) > 1 or report.truncated:
            more = " (stopped at --max-errors: more may follow)" if report.truncated else ""
            err.print(f"{len(report.errors)} failures{more}", highlight=False)
    if not json:
        for note in report.notes:
            console.print(f"note: {note}", highlight=False, markup=False)
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
    with contextlib.suppress(NotFound):  # backends without signed notes (EVM) omit it
        note = latest_cosigned(ledger)
        if parse_checkpoint(parse_note(note).text).size == doc["tree_size"]:
            doc["note"], doc["log_vkey"] = note, log_of(ledger).log_vkey()
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
    witness: list[str] = typer.Option(
        [],
        "--witness",
        help="A witness's vkey (C2SP, type 0x04) that must have cosigned the checkpoint;"
        " repeat for several.",
    ),
    log: str | None = typer.Option(
        None,
        "--log",
        help="Also check the record is still in the ledger now: its API URL or home"
        " (fetches the latest checkpoint and a consistency proof).",
    ),
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Check a proof document offline: Merkle path, checkpoint, note and transaction
    signatures; with --log, against the ledger's latest checkpoint too."""
    try:
        doc = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(f"{file}: not a readable proof document ({exc})") from exc
    if not isinstance(doc, dict):
        raise InvalidInput(f"{file}: not a proof document")
    witnesses = [Verifier.from_vkey(v) for v in witness]
    later_size: int | None = None
    later: dict[str, Any] | None = None
    if log is not None:
        source = open_source(log)
        note = str(source.info()["checkpoint"])
        size = later_size = parse_checkpoint(parse_note(note).text).size
        first = int(doc.get("tree_size", 0))
        proof = source.consistency(first, size) if 0 < first <= size else []
        later = {"note": note, "consistency": [h.hex() for h in proof]}
    item = check_proof(doc, expect_signer=signer, witnesses=witnesses, later=later)
    if json:
        print_json({"ok": True, "item": item})
    else:
        recomputed = " and its emissions recompute" if doc.get("detail") else ""
        cosigned = f"; cosigned by {', '.join(w.name for w in witnesses)}" if witnesses else ""
        still = f"; still in the ledger at size {later_size}" if later_size is not None else ""
        console.print(
            f"[green]OK[/] {item.get('kind')} {item.get('id')}{recomputed}: leaf"
            f" {doc['leaf_index']} of {doc['tree_size']}, checkpoint signed by"
            f" {doc['checkpoint']['signer']}{cosigned}{still}",
            highlight=False,
        )


blobs_app = typer.Typer(help="Sealed channel blobs stored beside the ledger.", no_args_is_help=True)


@blobs_app.command("prune")
def prune(
    yes: bool = typer.Option(
        False, "--yes", help="Delete them (without it, only list what would be deleted)."
    ),
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """List (or with --yes delete) sealed blobs that no ledger entry names.

    Imports that were killed before their commit leave such blobs. Run it while no
    import is running: an import stores its blobs just before it commits.
    """
    ids = prune_blobs(home_of(home), delete=yes)
    if json:
        print_json({"deleted" if yes else "unreferenced": ids})
        return
    for blob_id in ids:
        typer.echo(blob_id)
    verb = "deleted" if yes else "unreferenced (run with --yes to delete)"
    console.print(f"{len(ids)} sealed blobs {verb}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(blobs_app, name="blobs")
    app.command("init")(init)
    app.command("status")(status)
    app.command("verify")(verify)
    app.command("proof")(proof)
    app.command("check-proof")(check)
