"""Signed tree heads (checkpoints): what the ledger operator signs after every commit."""

from __future__ import annotations

from typing import Any

from carbonledger.core.canonical import canonical
from carbonledger.crypto.keys import PrivateKey, eip191_digest
from carbonledger.errors import Conflict

__all__ = ["checkpoint_body", "checkpoint_digest", "sign_checkpoint"]


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
