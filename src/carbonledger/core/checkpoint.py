"""Signed tree heads (checkpoints): what the ledger operator signs after every commit."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carbonledger.core.canonical import canonical
from carbonledger.core.note import Note, NoteKey, checkpoint_text
from carbonledger.crypto.keys import PrivateKey, eip191_digest
from carbonledger.errors import Conflict

__all__ = [
    "checkpoint_body",
    "checkpoint_digest",
    "log_key",
    "log_origin",
    "sign_checkpoint",
    "signed_checkpoint_note",
]

_LOG_KEY_INFO = b"carbonledger/tlog-checkpoint/ed25519/v1\n"


def checkpoint_body(
    *, ledger_id: str | None, size: int, prev_size: int, root: bytes, time: str, signer: str
) -> dict[str, Any]:
    """The signed fields: ledger, size, the previous checkpoint's size, root, time, signer."""
    return {
        "ledger": ledger_id,
        "size": size,
        "prev_size": prev_size,
        "root": root.hex(),
        "time": time,
        "signer": signer,
    }


def checkpoint_digest(body: dict[str, Any]) -> bytes:
    """What the operator signs for a checkpoint (EIP-191 over the canonical body)."""
    return eip191_digest(canonical(body))


def sign_checkpoint(
    key: PrivateKey | None,
    *,
    admin: str | None,
    ledger_id: str | None,
    size: int,
    prev_size: int,
    root: bytes,
    time: str,
) -> tuple[int, int, bytes, str, str, bytes]:
    """The checkpoint row (size, prev_size, root, time, signer, signature), signed by ``key``.

    Only the ledger admin (the operator of an embedded ledger) signs checkpoints.
    """
    if key is None or key.address != admin:
        raise Conflict("writing needs the ledger admin's key to sign the checkpoint")
    body = checkpoint_body(
        ledger_id=ledger_id,
        size=size,
        prev_size=prev_size,
        root=root,
        time=time,
        signer=key.address,
    )
    return (size, prev_size, root, time, key.address, key.sign_digest(checkpoint_digest(body)))


def log_origin(ledger_id: str | None) -> str:
    """The origin line (and note key name) of a ledger's checkpoints."""
    return f"carbonledger/{ledger_id}"


def log_key(admin: PrivateKey, ledger_id: str | None) -> NoteKey:
    """The Ed25519 key that signs the ledger's checkpoint notes.

    It is derived from the admin key (HKDF-SHA256 with the ledger id), so it is
    kept exactly as the admin key is (encrypted in the home) and every home that
    already holds an admin key has one without a new keystore to unlock.
    """
    seed = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=_LOG_KEY_INFO + str(ledger_id).encode(),
    ).derive(admin.to_bytes())
    return NoteKey.from_seed(log_origin(ledger_id), seed)


def signed_checkpoint_note(key: NoteKey, size: int, root: bytes) -> str:
    """The C2SP tlog-checkpoint for ``size`` and ``root``, signed by the log key."""
    return Note(checkpoint_text(key.name, size, root), ()).sign(key).encode()
