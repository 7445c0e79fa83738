"""DID keys kept in the ledger home, and posting signed credentials: shared by the
``did``, ``vc``, ``meter`` and ``audit auto`` commands.

A DID key is kept under ``dids/NAME.json``: an Ethereum keystore v3 (scrypt,
AES-128-CTR) of the 32-byte secret, which is the Ed25519 seed or the secp256k1
key, with the DID beside it; the passphrase is the admin's
(``CARBONLEDGER_PASSPHRASE``), as for every key in the home.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

import typer

from carbonledger.cli.common import console, err, open_ledger, passphrase, print_json
from carbonledger.credentials.did import Ed25519Signer, Secp256k1Signer, Signer
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.keystore import decrypt_key, load_keystore
from carbonledger.errors import ConfigurationError, InvalidInput
from carbonledger.services.home import Home

__all__ = [
    "KeyOption",
    "did_arg",
    "did_file",
    "did_signer",
    "post_credentials",
    "read_credentials",
    "read_json",
]

KeyOption = typer.Option(None, "--key", help="A DID key made with `did create` (its name).")


def did_file(home: Home, name: str) -> Path:
    """The keystore file of DID key ``name`` in ``home`` (a plain name, no path)."""
    if not name or "/" in name or name.startswith("."):
        raise InvalidInput(f"DID key name {name!r}: use a plain name such as meter-1")
    return home.path / "dids" / f"{name}.json"


def did_signer(home: Home, name: str) -> Signer:
    """The signer of DID key ``name``, unlocked with the admin's passphrase."""
    path = did_file(home, name)
    try:
        keystore = load_keystore(path)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"no DID key {name!r} at {path}; run `did create {name}`") from exc
    secret = decrypt_key(keystore, passphrase()).to_bytes()
    if keystore.get("key_type") == "secp256k1":
        return Secp256k1Signer(PrivateKey.from_bytes(secret))
    return Ed25519Signer.from_seed(secret)


def read_json(file: Path) -> Any:
    """``file`` parsed as JSON; a missing file or bad JSON is an InvalidInput naming it."""
    try:
        return jsonlib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{file}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InvalidInput(f"{file}: not JSON ({exc})") from exc


def read_credentials(file: Path) -> list[dict[str, Any]]:
    """A credential, a list, or an Aries agent's answer (``verifiableCredential``, ...)."""
    from carbonledger.credentials.aries import unwrap

    items = unwrap(read_json(file), str(file))
    if not items:
        raise InvalidInput(f"{file}: expected a credential or a list of credentials")
    return items


def did_arg(home: Home, did: str | None, key: str | None) -> str:
    """The DID given as ``--did``, or that of the DID key named by ``--key`` (one of the two)."""
    if (did is None) == (key is None):
        raise InvalidInput("give the DID with --did, or the name of a DID key with --key")
    return did if did is not None else did_signer(home, str(key)).did


def post_credentials(
    h: Home, acting: str | None, credentials: list[dict[str, Any]], *, json: bool
) -> None:
    """Seal ``credentials`` in the organisation's channel, anchor their hashes, print the
    report, and exit 1 when one is refused or contradicts a recorded bill."""
    from carbonledger.services.readings import post_and_check

    ledger, key = open_ledger(h, acting)
    report = post_and_check(ledger, ledger.channels, key, credentials)
    if json:
        print_json(report.to_dict())
    else:
        console.print(
            f"{report.posted} credentials posted, {report.duplicates} already posted,"
            f" {len(report.rejected)} refused"
        )
        for index, reason in report.rejected:
            err.print(f"  credential {index}: {reason}", markup=False, highlight=False)
        for e in report.events:
            if e.kind in ("mismatch", "invalid", "verified"):
                console.print(f"  {e.kind}: record {e.record}: {e.reason}", markup=False)
    if report.rejected or any(e.kind in ("mismatch", "invalid") for e in report.events):
        raise typer.Exit(1)
