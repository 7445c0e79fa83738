"""C2SP signed notes, tlog checkpoints and Ed25519 cosignatures (pure, no I/O).

The formats of the transparency-log ecosystem, so that any tool that speaks them
(witnesses, monitors, ``sigsum``/``litetlog`` clients) can check our checkpoints:

* `signed-note <https://c2sp.org/signed-note>`_: a text ending in a newline, a
  blank line, then signature lines ``— <key name> base64(key id || signature)``.
  Ed25519 signatures are type ``0x01``; key id =
  ``SHA-256(name || 0x0A || type || public key)[:4]``.
* `tlog-checkpoint <https://c2sp.org/tlog-checkpoint>`_: the note text is the
  origin line, the tree size in decimal and the base64 RFC 6962 root.
* `tlog-cosignature <https://c2sp.org/tlog-cosignature>`_ (v1, Ed25519, type
  ``0x04``): a witness signs ``cosignature/v1\\ntime <t>\\n`` followed by the
  checkpoint text; the signature is ``timestamp (u64 big endian) || signature``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from carbonledger.errors import IntegrityError, InvalidInput

__all__ = [
    "COSIGNATURE_TYPE",
    "ED25519_TYPE",
    "CheckpointText",
    "Cosignature",
    "Note",
    "NoteKey",
    "Verifier",
    "checkpoint_text",
    "cosign",
    "parse_checkpoint",
    "parse_note",
    "signature_line",
    "verify_cosignature",
    "verify_note",
]

ED25519_TYPE: Final = 0x01
COSIGNATURE_TYPE: Final = 0x04
_DASH: Final = "\u2014 "
_MAX_SIGNATURES: Final = 64
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}\Z")


def _b64decode(text: str, what: str) -> bytes:
    if not _B64.match(text):
        raise InvalidInput(f"{what} is not base64")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{what} is not base64") from exc


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise InvalidInput(f"key name {name!r} is empty or holds a space or '+'")


def _key_id(name: str, sig_type: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public).digest()[:4]


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public note key: name, signature type and 32-byte Ed25519 public key."""

    name: str
    sig_type: int
    public: bytes

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id of signed-note (SHA-256 of name, newline, type, key)."""
        return _key_id(self.name, self.sig_type, self.public)

    @property
    def vkey(self) -> str:
        """The verifier key string ``name+hex(id)+base64(type || public key)``."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a vkey (Ed25519 note keys, type 0x01, and cosigner keys, type 0x04).

        Raises:
            InvalidInput: not three ``+``-separated parts, an unknown type, a wrong
                key length, or a key id that does not match the key.
        """
        parts = vkey.strip().split("+", 2)  # base64 may hold '+', a key name never does
        if len(parts) != 3:
            raise InvalidInput(f"verifier key {vkey!r} is not name+id+key")
        name, hex_id, material = parts
        _check_name(name)
        raw = _b64decode(material, "verifier key material")
        if len(raw) != 33 or raw[0] not in (ED25519_TYPE, COSIGNATURE_TYPE):
            raise InvalidInput(f"verifier key {name!r}: not an Ed25519 (0x01) or cosigner key")
        out = cls(name, raw[0], raw[1:])
        if out.key_id.hex() != hex_id.lower():
            raise InvalidInput(f"verifier key {name!r}: key id {hex_id} does not match the key")
        return out


class NoteKey:
    """An Ed25519 private key under a name, as a log (type 0x01) or a cosigner (0x04)."""

    __slots__ = ("_private", "name", "verifier")

    def __init__(self, name: str, private: Ed25519PrivateKey, sig_type: int = ED25519_TYPE):
        _check_name(name)
        self.name = name
        self._private = private
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, sig_type, public)

    @classmethod
    def from_seed(cls, name: str, seed: bytes, sig_type: int = ED25519_TYPE) -> NoteKey:
        """The key whose RFC 8032 32-byte seed is ``seed``."""
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed), sig_type)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def __repr__(self) -> str:
        return f"NoteKey({self.verifier.vkey!r})"


def signature_line(name: str, key_id: bytes, signature: bytes) -> str:
    """One note signature line, newline included."""
    return f"{_DASH}{name} {base64.b64encode(key_id + signature).decode()}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed signed note: its text (final newline included) and raw signature lines."""

    text: str
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (key name, key id, signature)

    def sign(self, key: NoteKey) -> Note:
        """This note with one more signature (type 0x01) by ``key``."""
        sig = key.sign(self.text.encode())
        return Note(self.text, (*self.signatures, (key.name, key.verifier.key_id, sig)))

    def encode(self) -> str:
        """The note as text: text, blank line, signature lines."""
        lines = "".join(signature_line(n, k, s) for n, k, s in self.signatures)
        return f"{self.text}\n{lines}"

    def signed_by(self, verifier: Verifier) -> list[bytes]:
        """The signatures whose name and key id are ``verifier``'s."""
        return [s for n, k, s in self.signatures if n == verifier.name and k == verifier.key_id]


def parse_note(data: str | bytes) -> Note:
    """Parse a signed note. Raises :class:`InvalidInput` naming what is malformed."""
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError as exc:
            raise InvalidInput("signed note is not UTF-8") from exc
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise InvalidInput("signed note holds a control character")
    cut = data.rfind("\n\n")
    if cut < 0 or not data.endswith("\n"):
        raise InvalidInput("signed note has no blank line before its signatures")
    text, sig_block = data[: cut + 1], data[cut + 2 :]
    sigs: list[tuple[str, bytes, bytes]] = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise InvalidInput(f"signed note: {line[:40]!r} is not a signature line")
        name, _, b64 = line[len(_DASH) :].partition(" ")
        _check_name(name)
        raw = _b64decode(b64, f"signature of {name}")
        if len(raw) < 5:
            raise InvalidInput(f"signature of {name} is too short")
        sigs.append((name, raw[:4], raw[4:]))
    if not sigs:
        raise InvalidInput("signed note has no signature")
    if len(sigs) > _MAX_SIGNATURES:
        raise InvalidInput(f"signed note has more than {_MAX_SIGNATURES} signatures")
    return Note(text, tuple(sigs))


def _ed25519_ok(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_note(note: Note, verifiers: list[Verifier]) -> list[Verifier]:
    """The known keys (type 0x01) whose signatures on ``note`` hold.

    Unknown signatures are ignored, as signed-note requires.

    Raises:
        IntegrityError: a signature by a known key fails, or no known key signed.
    """
    good: list[Verifier] = []
    for v in verifiers:
        if v.sig_type != ED25519_TYPE:
            continue
        for sig in note.signed_by(v):
            if not _ed25519_ok(v.public, sig, note.text.encode()):
                raise IntegrityError(f"the signature by {v.name} on the note does not verify")
            good.append(v)
    if not good:
        raise IntegrityError("the note carries no signature by a known key")
    return good


@dataclass(frozen=True, slots=True)
class CheckpointText:
    """A tlog-checkpoint body: origin, tree size, RFC 6962 root (and extension lines)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The checkpoint note text for a tree of ``size`` leaves and ``root``."""
    _check_name(origin)
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint(text: str) -> CheckpointText:
    """Parse a checkpoint note text. Raises :class:`InvalidInput` naming the bad line."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise InvalidInput("checkpoint: needs origin, size and root lines, none empty")
    origin, size_s, root_s = lines[:3]
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_s):
        raise InvalidInput(f"checkpoint: tree size {size_s[:30]!r} is not a decimal")
    root = _b64decode(root_s, "checkpoint root")
    if len(root) != 32:
        raise InvalidInput("checkpoint: the root hash is not 32 bytes")
    return CheckpointText(origin, int(size_s), root, tuple(lines[3:-1]))


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: who signed, when (POSIX seconds)."""

    name: str
    timestamp: int


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(key: NoteKey, text: str, timestamp: int) -> str:
    """A tlog-cosignature/v1 line by ``key`` (type 0x04) over checkpoint ``text``."""
    if key.verifier.sig_type != COSIGNATURE_TYPE:
        raise InvalidInput(f"{key.name} is not a cosigner key (type 0x04)")
    if not 0 <= timestamp < 2**63:
        raise InvalidInput(f"cosignature timestamp {timestamp} is out of range")
    sig = key.sign(_cosigned_message(text, timestamp))
    return signature_line(key.name, key.verifier.key_id, timestamp.to_bytes(8, "big") + sig)


def verify_cosignature(note: Note, witness: Verifier) -> Cosignature | None:
    """The cosignature by ``witness`` on ``note`` if present; ``None`` if it did not sign.

    Raises:
        IntegrityError: a signature line names the witness but does not verify.
    """
    if witness.sig_type != COSIGNATURE_TYPE:
        raise InvalidInput(f"{witness.name} is not a cosigner key (type 0x04)")
    found: Cosignature | None = None
    for sig in note.signed_by(witness):
        if len(sig) != 72:
            raise IntegrityError(f"the cosignature by {witness.name} is not 72 bytes")
        timestamp = int.from_bytes(sig[:8], "big")
        if timestamp >= 2**63 or not _ed25519_ok(
            witness.public, sig[8:], _cosigned_message(note.text, timestamp)
        ):
            raise IntegrityError(f"the cosignature by {witness.name} does not verify")
        if found is None or timestamp > found.timestamp:
            found = Cosignature(witness.name, timestamp)
    return found
