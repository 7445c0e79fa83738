"""``did``, ``vc`` and ``audit auto``: DIDs, credentials, digital audits.

DID keys made here are kept in the ledger home (:mod:`carbonledger.cli.didkeys`);
``meter`` and ``utility`` are in :mod:`carbonledger.cli.meters`.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

import typer

from carbonledger.cli.common import (
    AsOption,
    HomeOption,
    err,
    home_of,
    open_ledger,
    passphrase,
    print_json,
)
from carbonledger.cli.didkeys import (
    did_file,
    did_signer,
    post_credentials,
    read_credentials,
    read_json,
)
from carbonledger.cli.ids import known_org
from carbonledger.core.domain import parse_date
from carbonledger.credentials.did import Ed25519Signer, Secp256k1Signer, Signer, resolve
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.keystore import encrypt_key, load_keystore, save_keystore
from carbonledger.errors import InvalidInput, NotFound
from carbonledger.services.home import KEYSTORE_SCRYPT_N

__all__ = ["audit_auto", "register"]

did_app = typer.Typer(help="Decentralised identifiers (did:key) for meters, utilities, auditors.")
vc_app = typer.Typer(
    help="W3C verifiable credentials: issue, verify, post, import from Aries agents.",
    no_args_is_help=True,
)
did_app.info.no_args_is_help = True


# --- did ----------------------------------------------------------------------------


@did_app.command("create")
def did_create(
    name: str = typer.Argument(..., help="Name of the key in this home, e.g. meter-1."),
    key_type: str = typer.Option("ed25519", "--type", help="ed25519 (default) or secp256k1."),
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a did:key with its key (kept encrypted in the home) and print the DID."""
    if key_type not in ("ed25519", "secp256k1"):
        raise InvalidInput("--type must be ed25519 or secp256k1")
    h = home_of(home)
    path = did_file(h, name)
    if path.exists():
        raise InvalidInput(f"DID key {name!r} already exists at {path}")
    secret = PrivateKey.generate()  # 32 random bytes: an Ed25519 seed or a secp256k1 key
    signer: Signer = (
        Secp256k1Signer(secret)
        if key_type == "secp256k1"
        else Ed25519Signer.from_seed(secret.to_bytes())
    )
    keystore = encrypt_key(secret, passphrase(), n=KEYSTORE_SCRYPT_N)
    keystore.update({"did": signer.did, "key_type": key_type})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keystore(path, keystore)
    if json:
        print_json({"name": name, "did": signer.did, "type": key_type, "path": str(path)})
    else:
        typer.echo(signer.did)  # plain: rich would read ":key:" in a DID as an emoji


@did_app.command("show")
def did_show(
    did: str = typer.Argument(..., help="A did:key, or the name of a DID key in this home."),
    home: Path | None = HomeOption,
) -> None:
    """Print the DID document (resolved locally, no network) and any ledger registration."""
    h = home_of(home)
    if not did.startswith("did:"):
        path = did_file(h, did)
        try:
            did = str(load_keystore(path)["did"])
        except (FileNotFoundError, KeyError) as exc:
            raise NotFound(f"no DID key {did!r} in {h.path / 'dids'}") from exc
    out: dict[str, Any] = {"document": resolve(did)}
    if h.exists():
        devices = h.ledger().state().devices
        out["registered"] = [
            d for d in devices.values() if d.get("did") == did and d.get("kind") != "status_list"
        ]
    print_json(out)


# --- vc -----------------------------------------------------------------------------


@vc_app.command("issue")
def vc_issue(
    file: Path = typer.Argument(..., help="Unsigned credential (JSON)."),
    key: str = typer.Option(..., "--key", help="Name of the issuer's DID key."),
    suite: str | None = typer.Option(
        None,
        "--suite",
        help="Ed25519Signature2020 (default for Ed25519 keys, but readings and audit results),"
        " Ed25519Signature2018, eddsa-jcs-2022 or ecdsa-jcs-2019 (secp256k1 keys).",
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write here, not stdout."),
    home: Path | None = HomeOption,
) -> None:
    """Sign a credential with a DID key, in the proof suite the verifiers accept.

    Without --suite: Ed25519Signature2020, which Aries agents verify at their W3C
    endpoint; meter readings and audit results eddsa-jcs-2022 (fast for thousands
    of readings or records); secp256k1 keys ecdsa-jcs-2019.
    """
    from carbonledger.credentials import issue, validate

    credential = read_json(file)
    if not isinstance(credential, dict):
        raise InvalidInput(f"{file}: a credential is a JSON object")
    signed = issue(credential, did_signer(home_of(home), key), suite=suite)
    if any(
        t in signed.get("type", ()) for t in ("MeterReadingsCredential", "UtilityBillCredential")
    ):
        validate(signed)
    text = jsonlib.dumps(signed, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        err.print(f"wrote {output}", markup=False, highlight=False)


@vc_app.command("verify")
def vc_verify(
    file: Path = typer.Argument(..., help="A credential, or a JSON list of credentials."),
    home: Path | None = HomeOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Verify proof, issuer, validity dates and (from the ledger, if any) status and registration.

    Exits 1 when any credential does not verify.
    """
    from carbonledger.credentials import verify
    from carbonledger.credentials.vc import issuer_id
    from carbonledger.services.devices import ledger_status_checker

    h = home_of(home)
    ledger = h.ledger() if h.exists() else None
    checker = ledger_status_checker(ledger) if ledger is not None else None
    devices = ledger.state().devices if ledger is not None else {}
    rows: list[dict[str, Any]] = []
    for credential in read_credentials(file):
        result = verify(credential, status_checker=checker)
        errors = list(result.errors)
        holder = next(
            (d for d in devices.values() if d.get("did") == issuer_id(credential)),
            None,
        )
        if ledger is not None and holder is None:
            errors.append(f"unregistered: issuer {result.issuer} is not registered on this ledger")
        rows.append(
            {
                "id": credential.get("id"),
                "issuer": result.issuer,
                "types": result.types,
                "registered_as": None if holder is None else holder.get("id"),
                "ok": not errors,
                "errors": errors,
                "suites": list(result.suites),
            }
        )
    if json:
        print_json(rows)
    else:
        for row in rows:
            mark = "verified" if row["ok"] else "FAILED"
            suites = ", ".join(row["suites"]) or "no proof verified"
            typer.echo(f"{mark} {row['id'] or '(no id)'} from {row['issuer']} ({suites})")
            for e in row["errors"]:
                typer.echo(f"  - {e}")
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)


@vc_app.command("import")
def vc_import(
    sources: list[str] = typer.Argument(
        ..., help="An Aries agent's admin URL (http://...), or files of credentials."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="CARBONLEDGER_ACAPY_API_KEY", help="The agent's admin API key."
    ),
    issuer: str | None = typer.Option(
        None, "--issuer", help="Only credentials from this DID (an agent's wallet holds others)."
    ),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Take bills and readings from an Aries (ACA-Py) agent or its exports into the ledger.

    From an agent, the W3C credentials in its wallet (``GET /vc/credentials``); from a
    file, a credential, a list, or an agent's answer (``verifiableCredential``,
    ``securedDocument``). Only carbonledger bill and reading credentials are taken;
    each is verified (any suite: Ed25519Signature2020/2018, eddsa-jcs-2022 and
    ACA-Py's variant of it), sealed and anchored like `vc post`, so the digital
    audit uses them. Exits 1 when one is refused.
    """
    from carbonledger.credentials.aries import fetch_agent_credentials, unwrap
    from carbonledger.credentials.vc import issuer_id

    taken: list[dict[str, Any]] = []
    for source in sources:
        if source.startswith(("http://", "https://")):
            found = fetch_agent_credentials(source, api_key)
        else:
            found = unwrap(read_json(Path(source)), source)
        taken.extend(
            c
            for c in found
            if set(_IMPORTED) & set(c.get("type") or ())
            and (issuer is None or issuer_id(c) == issuer)
        )
    if not taken:
        raise NotFound(
            f"no bill or reading credentials{'' if issuer is None else ' from ' + issuer}"
            f" in {', '.join(sources)}"
        )
    post_credentials(home_of(home), acting, taken, json=json)


_IMPORTED = ("MeterReadingsCredential", "UtilityBillCredential")


@vc_app.command("post")
def vc_post(
    file: Path = typer.Argument(..., help="Signed credentials (JSON object or list)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Seal credentials in the organisation's channel and anchor their hashes on the ledger."""
    post_credentials(home_of(home), acting, read_credentials(file), json=json)


# --- audit auto ---------------------------------------------------------------------


def audit_auto(
    org: str = typer.Option(..., help="Organisation whose records are checked."),
    start: str = typer.Option(..., help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., help="Last day, YYYY-MM-DD."),
    key: str | None = typer.Option(
        None, "--key", help="Auditor's DID key that signs the result (default: the ledger key's)."
    ),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Digital audit: check each record against signed meter readings and utility bills.

    Classifies every record as verified, unverifiable or contradicted (with the
    reason), signs an AuditResultCredential and records its hash on the ledger.
    Exits 1 when any record is contradicted.
    """
    from carbonledger.services.digital_auditor import run_digital_audit

    h = home_of(home)
    signer = None if key is None else did_signer(h, key)
    ledger, me = open_ledger(h, acting)
    known_org(ledger.state(), org)
    report = run_digital_audit(
        ledger,
        ledger.channels,
        me,
        org,
        start=parse_date(start, "--start"),
        end=parse_date(end, "--end"),
        signer=signer,
    )
    if json:
        print_json({**report.to_dict(), "credential": report.credential})
    else:
        counts = report.counts
        typer.echo(
            f"digital audit {report.id} of {org}, {start}..{end}: {counts['verified']} verified,"
            f" {counts['unverifiable']} unverifiable, {counts['contradicted']} contradicted;"
            f" result signed by {report.auditor}, hash {report.sha256} recorded"
        )
        for f in report.findings:
            if f.verdict == "contradicted":
                typer.echo(
                    f"contradicted {f.record_id} ({f.site}/{f.account}"
                    f" {f.period[0]}..{f.period[1]}): {f.reason}"
                )
    if report.counts["contradicted"]:
        raise typer.Exit(1)


def register(app: typer.Typer, *, audit_app: typer.Typer | None = None) -> None:
    """Add ``did``, ``vc``, ``meter`` and ``utility``; ``audit auto`` when given the audit app.

    Without ``audit_app`` the digital audit is mounted as ``audit-auto``.
    """
    from carbonledger.cli.meters import meter_app, utility_app

    app.add_typer(did_app, name="did")
    app.add_typer(vc_app, name="vc")
    app.add_typer(meter_app, name="meter")
    app.add_typer(utility_app, name="utility")
    if audit_app is not None:
        audit_app.command("auto")(audit_auto)
    else:
        app.command("audit-auto")(audit_auto)
