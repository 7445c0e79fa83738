"""Inclusion-proof documents that a third party checks without the database.

A proof document says: this item (an emissions record) is leaf ``i`` of a
ledger of ``n`` leaves whose root was signed by the ledger's operator
(the checkpoint), and the item was signed by its sender as part of transaction
``seq``. :func:`check_proof` needs only this module, ``merkle`` and ``keys``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from carbonledger.core.calculator import merge_trace, recompute
from carbonledger.core.canonical import canonical
from carbonledger.core.commitments import detail_commitment
from carbonledger.core.merkle import leaf_hash, verify_inclusion
from carbonledger.core.note import Verifier, verify_cosignature
from carbonledger.core.proofnote import check_notes
from carbonledger.core.typed import TYPED_VERSION, typed_digest
from carbonledger.crypto.keys import eip191_digest, recover_address
from carbonledger.errors import CarbonLedgerError, IntegrityError, InvalidInput

__all__ = ["PROOF_FORMAT", "check_proof", "proof_document"]

PROOF_FORMAT = "carbonledger.proof/1"


def proof_document(
    *,
    leaf_index: int,
    tree_size: int,
    item: bytes,
    path: list[str],
    checkpoint: dict[str, Any],
    tx: dict[str, Any],
) -> dict[str, Any]:
    return {
        "format": PROOF_FORMAT,
        "leaf_index": leaf_index,
        "tree_size": tree_size,
        "item": item.decode(),
        "path": path,
        "checkpoint": checkpoint,
        "tx": tx,
    }


def _hex(value: object, what: str) -> bytes:
    try:
        return bytes.fromhex(str(value))
    except ValueError as exc:
        raise InvalidInput(f"proof: {what} is not hex") from exc


def check_proof(
    doc: dict[str, Any],
    *,
    expect_signer: str | None = None,
    witnesses: Sequence[Verifier] = (),
    later: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check a proof document; return the item. Raises :class:`IntegrityError` if it fails.

    ``expect_signer`` is the ledger operator's address as published out of band;
    without it the checkpoint is only checked to be signed by the address it names.
    ``later``: a later checkpoint of the same log (``note``) and the RFC 6962
    consistency proof to it (``consistency``, hex): the item must still be in it.
    ``witnesses``: cosigner keys that must each have cosigned the checkpoint relied
    on (the later one when given, else the document's signed note).
    """
    try:
        if doc.get("format") != PROOF_FORMAT:
            raise InvalidInput(f"proof: not a {PROOF_FORMAT} document")
        item_bytes = str(doc["item"]).encode()
        cp = doc["checkpoint"]
        root = _hex(cp["root"], "checkpoint root")
        index, size = int(doc["leaf_index"]), int(doc["tree_size"])
        if size != int(cp["size"]):
            raise IntegrityError("proof: tree size differs from the checkpoint's size")
        path = [_hex(h, "path element") for h in doc["path"]]
        leaf = leaf_hash(item_bytes)
        if not verify_inclusion(leaf, index, size, path, root):
            raise IntegrityError(f"proof: leaf {index} does not lead to the checkpoint root")
        body = {k: cp[k] for k in ("ledger", "size", "prev_size", "root", "time", "signer")}
        signer = recover_address(eip191_digest(canonical(body)), _hex(cp["signature"], "signature"))
        if signer != cp["signer"]:
            raise IntegrityError(f"proof: checkpoint signature is by {signer}, not {cp['signer']}")
        if expect_signer is not None and signer.lower() != expect_signer.lower():
            raise IntegrityError(f"proof: checkpoint signed by {signer}, expected {expect_signer}")
        relied = check_notes(doc, later)
        for w in witnesses:
            if relied is None or verify_cosignature(relied, w) is None:
                raise IntegrityError(
                    f"proof: the checkpoint is not cosigned by witness {w.name} ({w.vkey})"
                )
        tx = doc["tx"]
        if not isinstance(tx, dict) or not tx:
            # without it nothing says who signed the item: never pass it silently
            raise IntegrityError("proof: the document carries no signed transaction")
        _check_tx(tx, leaf)
        item: dict[str, Any] = orjson.loads(item_bytes)
        if doc.get("detail") is not None and doc.get("basis") is None:
            # revealed details are checked only by recomputing with the basis
            raise IntegrityError("proof: revealed details without the calculation basis")
        if doc.get("basis") is not None:
            _check_basis(item, orjson.loads(str(doc["basis"]).encode()), doc.get("detail"))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CarbonLedgerError):
            raise
        raise InvalidInput(f"proof: malformed document ({exc!r})") from exc
    return item


def _check_tx(tx: dict[str, Any], leaf: bytes) -> None:
    """The item is among the signed items of the transaction, whose signature holds."""
    body_bytes = str(tx["body"]).encode()
    tx_body = orjson.loads(body_bytes)
    if tx_body.get("v") == TYPED_VERSION:  # EIP-712, whose struct signs items_root
        digest = typed_digest(tx_body)
    else:
        digest = eip191_digest(hashlib.sha256(body_bytes).digest())
    sender = recover_address(digest, _hex(tx["signature"], "signature"))
    if sender != tx_body["sender"]:
        raise IntegrityError(f"proof: transaction signed by {sender}, names {tx_body['sender']}")
    if "count" in tx and int(tx["count"]) != int(tx_body["count"]):
        raise IntegrityError(
            f"proof: the transaction carries {tx_body['count']} items, the document says"
            f" {tx['count']}"
        )
    tx_path = [_hex(h, "tx path element") for h in tx["path"]]
    if not verify_inclusion(
        leaf,
        int(tx["index"]),
        int(tx_body["count"]),
        tx_path,
        _hex(tx_body["items_root"], "items_root"),
    ):
        raise IntegrityError("proof: item is not among the transaction's signed items")


def _check_basis(
    item: dict[str, Any], basis: dict[str, Any], detail: dict[str, Any] | None
) -> None:
    """The attached basis is the one the record names; with revealed details, it recomputes."""
    trace = item["trace"]
    if "inputs" not in trace:
        if detail is None:
            merge_trace(trace, basis)  # the basis must still be the one named
            return
        if detail_commitment(detail) != item.get("detail", {}).get("commitment"):
            raise IntegrityError("proof: the revealed details do not match the record's commitment")
        trace = {**trace, "inputs": {"amount": detail["amount"], "unit": detail["unit"]}}
    again = recompute(trace, basis)
    # A record's result is public only in records written before results were sealed;
    # otherwise it is among the revealed details, bound by the commitment.
    stated = item.get("kg_co2e")
    if stated is None and detail is not None:
        stated = (detail.get("results") or {}).get("kg_co2e")
    if str(again["kg_co2e"]) != stated:
        raise IntegrityError(
            f"proof: the record's kg_co2e {stated} does not recompute ({again['kg_co2e']})"
        )
