"""The signed-note part of a proof document: the checkpoint as a C2SP note, and a later one.

A proof document made since checkpoints are signed notes carries ``note`` (the
checkpoint its path leads to, with any witness cosignatures) and ``log_vkey`` (the
log's note key). A later checkpoint of the same log, with a consistency proof to
it, shows the item is still in the ledger after it grew.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbonledger.core.checkpoint import log_origin
from carbonledger.core.merkle import verify_consistency
from carbonledger.core.note import Note, Verifier, parse_checkpoint, parse_note, verify_note
from carbonledger.errors import IntegrityError, InvalidInput

__all__ = ["check_notes"]


def check_notes(doc: Mapping[str, Any], later: Mapping[str, Any] | None) -> Note | None:
    """Check the document's note (and ``later``); return the note the proof relies on.

    ``None`` for a document from before signed notes with no later checkpoint given.

    Raises:
        IntegrityError: a note is not signed by the log's key, names another tree than
            the checkpoint, or the later tree does not extend the document's.
    """
    cp = doc["checkpoint"]
    size, root = int(cp["size"]), bytes.fromhex(str(cp["root"]))
    if "note" not in doc:
        if later is not None:
            raise InvalidInput("proof: the document has no signed note to extend")
        return None
    vkey = Verifier.from_vkey(str(doc["log_vkey"]))
    if vkey.name != log_origin(cp["ledger"]):
        raise IntegrityError(f"proof: note key {vkey.name!r} is not ledger {cp['ledger']}'s")
    note = parse_note(str(doc["note"]))
    verify_note(note, [vkey])
    text = parse_checkpoint(note.text)
    if (text.origin, text.size, text.root) != (vkey.name, size, root):
        raise IntegrityError("proof: the signed note is not the checkpoint the path leads to")
    if later is None:
        return note
    newer = parse_note(str(later["note"]))
    verify_note(newer, [vkey])
    new = parse_checkpoint(newer.text)
    proof = [bytes.fromhex(str(h)) for h in later.get("consistency", [])]
    if new.origin != vkey.name or new.size < size:
        raise IntegrityError(
            f"proof: the later checkpoint (size {new.size}) is not a later tree of this log"
        )
    same = new.size == size and new.root == root
    if not same and not verify_consistency(size, new.size, root, new.root, proof):
        raise IntegrityError(
            f"proof: the ledger at size {new.size} does not extend the tree of size {size}"
            " the proof was made against: its history was rewritten"
        )
    return newer
