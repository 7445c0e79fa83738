"""``did:key`` identifiers, their DID documents, and the signers behind them.

A ``did:key`` is a public key written as a DID (W3C CCG "The did:key Method"):
``did:key:`` + multibase base58btc (``z``) of a multicodec prefix and the key
bytes. Ed25519 (prefix ``0xed 0x01``, 32 bytes) is the default for devices and
utilities; secp256k1 (``0xe7 0x01``, 33-byte compressed point) lets an actor's
ledger key (:mod:`carbonledger.crypto.keys`) issue credentials too.

Resolution is pure: the document is expanded from the identifier, so parsing
is cached (:func:`functools.lru_cache`) and costs nothing after the first time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from carbonledger.crypto.keys import PrivateKey, PublicKey, recover_address
from carbonledger.crypto.recipes import sign_sha256_compact
from carbonledger.errors import InvalidInput, SignatureInvalid

__all__ = [
    "DID_CONTEXT",
    "MULTIKEY_CONTEXT",
    "DidDocument",
    "Ed25519Signer",
    "KeyType",
    "Secp256k1Signer",
    "Signer",
    "VerificationKey",
    "base58btc_decode",
    "base58btc_encode",
    "did_from_public_key",
    "generate_ed25519",
    "key_from_multibase",
    "resolve",
]

#: A DID document as plain JSON (``id``, ``verificationMethod``, relationships).
DidDocument = dict[str, Any]
KeyType = Literal["Ed25519", "secp256k1"]

DID_CONTEXT: Final = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT: Final = "https://w3id.org/security/multikey/v1"
_PREFIX: Final = "did:key:"
_ED25519_CODEC: Final = b"\xed\x01"
_SECP256K1_CODEC: Final = b"\xe7\x01"
_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX: Final = {c: i for i, c in enumerate(_ALPHABET)}
_RELATIONSHIPS: Final = (
    "authentication",
    "assertionMethod",
    "capabilityDelegation",
    "capabilityInvocation",
)


def base58btc_encode(data: bytes) -> str:
    """Encode bytes in the Bitcoin base58 alphabet (leading zero bytes become '1')."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_ALPHABET[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def base58btc_decode(text: str) -> bytes:
    """Decode Bitcoin base58 text.

    Raises:
        InvalidInput: a character outside the base58btc alphabet.
    """
    n = 0
    try:
        for c in text:
            n = n * 58 + _INDEX[c]
    except KeyError as exc:
        raise InvalidInput(f"not base58btc: character {exc.args[0]!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + n.to_bytes((n.bit_length() + 7) // 8, "big")


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A parsed public key from a ``publicKeyMultibase`` value."""

    key_type: KeyType
    raw: bytes
    multibase: str
    _ed25519: Ed25519PublicKey | None = None
    _secp256k1_address: str | None = None

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Return True if ``signature`` over ``message`` was made by this key.

        Ed25519 signs the message itself; secp256k1 signs SHA-256 of the message
        as 64-byte ``r || s`` with low s (the ``ecdsa-jcs-2019`` form).
        """
        if self._ed25519 is not None:
            try:
                self._ed25519.verify(signature, message)
            except InvalidSignature:
                return False
            return True
        if len(signature) != 64:
            return False
        digest = hashlib.sha256(message).digest()
        for v in (27, 28):
            try:
                if recover_address(digest, signature + bytes([v])) == self._secp256k1_address:
                    return True
            except SignatureInvalid:
                continue
        return False


@lru_cache(maxsize=4096)
def key_from_multibase(multibase: str) -> VerificationKey:
    """Parse a Multikey ``publicKeyMultibase`` (``z`` + base58btc of codec || key).

    Cached: keys repeat across credentials and parsing an Ed25519 point is not free.

    Raises:
        InvalidInput: not base58btc multibase, an unknown multicodec, a wrong key
            length or a point that is not on the curve.
    """
    if not isinstance(multibase, str) or not multibase.startswith("z"):
        raise InvalidInput(f"publicKeyMultibase must start with 'z' (base58btc): {multibase!r}")
    raw = base58btc_decode(multibase[1:])
    codec, key = raw[:2], raw[2:]
    if codec == _ED25519_CODEC:
        if len(key) != 32:
            raise InvalidInput(f"an Ed25519 key is 32 bytes, got {len(key)}: {multibase}")
        try:
            ed = Ed25519PublicKey.from_public_bytes(key)
        except ValueError as exc:
            raise InvalidInput(f"not an Ed25519 public key: {multibase}") from exc
        return VerificationKey("Ed25519", key, multibase, _ed25519=ed)
    if codec == _SECP256K1_CODEC:
        if len(key) != 33:
            raise InvalidInput(f"a secp256k1 key is a 33-byte compressed point: {multibase}")
        pub = PublicKey.from_bytes(key)
        return VerificationKey("secp256k1", key, multibase, _secp256k1_address=pub.address)
    raise InvalidInput(f"unsupported multicodec 0x{codec.hex()} in {multibase}")


def _multibase_of(public_key: Ed25519PublicKey | PublicKey | bytes) -> str:
    if isinstance(public_key, Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "z" + base58btc_encode(_ED25519_CODEC + raw)
    if isinstance(public_key, PublicKey):
        return "z" + base58btc_encode(_SECP256K1_CODEC + public_key.to_bytes(compressed=True))
    if isinstance(public_key, bytes | bytearray):
        if len(public_key) == 32:
            mb = "z" + base58btc_encode(_ED25519_CODEC + bytes(public_key))
        elif len(public_key) == 33:
            mb = "z" + base58btc_encode(_SECP256K1_CODEC + bytes(public_key))
        else:
            raise InvalidInput(
                "raw public keys are 32 bytes (Ed25519) or 33 bytes (compressed secp256k1)"
            )
        key_from_multibase(mb)  # reject points that are not on the curve
        return mb
    raise InvalidInput(f"not a public key: {type(public_key).__name__}")


def did_from_public_key(public_key: Ed25519PublicKey | PublicKey | bytes) -> str:
    """Return the ``did:key`` of an Ed25519 or secp256k1 public key.

    Raw bytes are read as Ed25519 when 32 long and compressed secp256k1 when 33.
    """
    return _PREFIX + _multibase_of(public_key)


def generate_ed25519() -> tuple[Ed25519PrivateKey, str]:
    """Create a new Ed25519 key from the OS CSPRNG; return it with its ``did:key``."""
    private = Ed25519PrivateKey.generate()
    return private, did_from_public_key(private.public_key())


@lru_cache(maxsize=4096)
def _parse_did(did: str) -> VerificationKey:
    if not isinstance(did, str) or not did.startswith(_PREFIX):
        raise InvalidInput(f"not a did:key DID: {did!r}")
    try:
        return key_from_multibase(did[len(_PREFIX) :])
    except InvalidInput as exc:
        raise InvalidInput(f"cannot parse DID {did}: {exc}") from exc


def resolve(did: str) -> DidDocument:
    """Expand a ``did:key`` into its DID document (a fresh dict each call).

    The single verification method is a ``Multikey`` whose id is
    ``did:key:z...#z...``; it is listed under every verification relationship.

    Raises:
        InvalidInput: ``did`` is not a well-formed ``did:key`` (the message names it).
    """
    key = _parse_did(did)
    vm_id = f"{did}#{key.multibase}"
    doc: DidDocument = {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [
            {
                "id": vm_id,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": key.multibase,
            }
        ],
    }
    for rel in _RELATIONSHIPS:
        doc[rel] = [vm_id]
    return doc


class Signer(Protocol):
    """What :func:`carbonledger.credentials.issue` needs from a key holder."""

    @property
    def did(self) -> str: ...

    @property
    def verification_method(self) -> str: ...

    @property
    def cryptosuite(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


class Ed25519Signer:
    """An Ed25519 private key that signs as its ``did:key`` (``eddsa-jcs-2022``)."""

    __slots__ = ("_did", "_key", "_vm")
    cryptosuite: Final = "eddsa-jcs-2022"

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise InvalidInput("Ed25519Signer needs an Ed25519PrivateKey")
        self._key = private_key
        mb = _multibase_of(private_key.public_key())
        self._did = _PREFIX + mb
        self._vm = f"{self._did}#{mb}"

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """Create a signer with a new key from the OS CSPRNG."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519Signer:
        """Load the key from its 32-byte seed (the RFC 8032 private key)."""
        if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
            raise InvalidInput("an Ed25519 seed is exactly 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    @property
    def did(self) -> str:
        """The signer's ``did:key``."""
        return self._did

    @property
    def verification_method(self) -> str:
        """The verification method id, ``did:key:z...#z...``."""
        return self._vm

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The matching public key."""
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``data``."""
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"Ed25519Signer({self._did})"

    def __reduce__(self) -> Any:
        raise TypeError("Ed25519Signer cannot be pickled; keep the key in a keystore")


class Secp256k1Signer:
    """A secp256k1 ledger key that signs as its ``did:key`` (``ecdsa-jcs-2019``).

    Signatures are ECDSA over SHA-256 of the data, 64 bytes ``r || s`` with low s.
    """

    __slots__ = ("_did", "_key", "_vm")
    cryptosuite: Final = "ecdsa-jcs-2019"

    def __init__(self, private_key: PrivateKey) -> None:
        if not isinstance(private_key, PrivateKey):
            raise InvalidInput("Secp256k1Signer needs a carbonledger.crypto.keys.PrivateKey")
        self._key = private_key
        mb = _multibase_of(private_key.public_key)
        self._did = _PREFIX + mb
        self._vm = f"{self._did}#{mb}"

    @property
    def did(self) -> str:
        """The signer's ``did:key``."""
        return self._did

    @property
    def verification_method(self) -> str:
        """The verification method id, ``did:key:zQ3s...#zQ3s...``."""
        return self._vm

    def sign(self, data: bytes) -> bytes:
        """Return ``r || s`` (64 bytes, low s) over SHA-256 of ``data``."""
        return sign_sha256_compact(self._key, data)

    def __repr__(self) -> str:
        return f"Secp256k1Signer({self._did})"

    def __reduce__(self) -> Any:
        raise TypeError("Secp256k1Signer cannot be pickled; keep the key in a keystore")
