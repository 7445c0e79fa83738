"""C2SP signed notes, checkpoints and cosignatures, checked against the specs' own example.

The vkey and note below are the example of c2sp.org/signed-note (section "Verifier
keys"): our parser must accept that signature and refuse any change to the text.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from carbonledger.core.note import (
    COSIGNATURE_TYPE,
    Note,
    NoteKey,
    Verifier,
    checkpoint_text,
    cosign,
    parse_checkpoint,
    parse_note,
    verify_cosignature,
    verify_note,
)
from carbonledger.errors import IntegrityError, InvalidInput

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppz"
    "i2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def test_the_spec_example_verifies() -> None:
    v = Verifier.from_vkey(SPEC_VKEY)
    assert v.vkey == SPEC_VKEY
    assert verify_note(parse_note(SPEC_NOTE), [v]) == [v]


def test_a_changed_text_or_unknown_key_is_refused() -> None:
    v = Verifier.from_vkey(SPEC_VKEY)
    with pytest.raises(IntegrityError, match="does not verify"):
        verify_note(parse_note(SPEC_NOTE.replace("example", "exemple", 1)), [v])
    other = NoteKey.from_seed("example.com/bar", bytes(32)).verifier
    with pytest.raises(IntegrityError, match="no signature by a known key"):
        verify_note(parse_note(SPEC_NOTE), [other])


@pytest.mark.parametrize(
    "text",
    [
        "no blank line\n\u2014 a AAAAAAA=\n",
        "text\n\nnot a signature line\n",
        "text\n\n\u2014 a not-base64!\n",
        "text\x01\n\n\u2014 a AAAAAAA=\n",
        "text\n\n",
    ],
)
def test_malformed_notes_are_named(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_note(text)


def test_key_id_is_the_spec_hash() -> None:
    key = NoteKey.from_seed("carbonledger/cl-x", bytes(range(32)))
    public = key.verifier.public
    # SHA-256(name || 0x0A || 0x01 || public key)[:4], per signed-note "Signatures"
    assert key.verifier.key_id == hashlib.sha256(b"carbonledger/cl-x\n\x01" + public).digest()[:4]


def test_checkpoint_text_round_trip_and_bad_lines() -> None:
    root = hashlib.sha256(b"").digest()
    text = checkpoint_text("carbonledger/cl-x", 0, root)
    assert text == f"carbonledger/cl-x\n0\n{base64.b64encode(root).decode()}\n"
    assert parse_checkpoint(text).size == 0
    for bad in ("o\n01\nAAAA\n", "o\n1\nAAAA\n", "o\n-1\n" + text.split("\n")[2] + "\n", "o\n1\n"):
        with pytest.raises(InvalidInput):
            parse_checkpoint(bad)


def test_cosignature_signs_the_spec_message() -> None:
    witness = NoteKey.from_seed("witness.example/w1", bytes(32), COSIGNATURE_TYPE)
    log = NoteKey.from_seed("example.com/log", bytes([1]) * 32)
    note = Note(checkpoint_text("example.com/log", 5, bytes(32)), ()).sign(log)
    line = cosign(witness, note.text, 1679315147)
    cosigned = parse_note(note.encode() + line)
    found = verify_cosignature(cosigned, witness.verifier)
    assert found is not None
    assert found.timestamp == 1679315147
    # the signature is timestamp (8 bytes, big endian) || Ed25519 over the spec's message
    raw = base64.b64decode(line.split(" ")[2])
    assert (
        raw[:4]
        == hashlib.sha256(b"witness.example/w1\n\x04" + witness.verifier.public).digest()[:4]
    )
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    message = b"cosignature/v1\ntime 1679315147\n" + note.text.encode()
    Ed25519PublicKey.from_public_bytes(witness.verifier.public).verify(raw[12:], message)
    # a cosignature moved to another checkpoint does not verify
    other = Note(checkpoint_text("example.com/log", 6, bytes(32)), ()).sign(log)
    with pytest.raises(IntegrityError):
        verify_cosignature(parse_note(other.encode() + line), witness.verifier)
