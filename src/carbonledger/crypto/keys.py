"""secp256k1 keys with Ethereum-compatible addresses and signatures.

Signers are identified by their Ethereum address (EIP-55 checksummed), and
signatures are the 65-byte ``r || s || v`` form with ``v`` in {27, 28}, so the
same keys can later sign on an EVM chain (``eip191_digest`` is personal_sign).
"""

from __future__ import annotations

import functools
import hmac
import re
from typing import Final, NoReturn

import coincurve
from sha3 import keccak_256

from carbonledger.errors import InvalidInput, SignatureInvalid

__all__ = [
    "SECP256K1_N",
    "PrivateKey",
    "PublicKey",
    "checksum_address",
    "eip191_digest",
    "is_address",
    "keccak256",
    "recover_address",
    "verify_digest",
]

#: Order of the secp256k1 group.
SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N: Final = SECP256K1_N // 2
_ADDRESS_RE: Final = re.compile(r"^0x[0-9a-fA-F]{40}\Z")
_EIP191_PREFIX: Final = b"\x19Ethereum Signed Message:\n"


def keccak256(data: bytes) -> bytes:
    """Return the Keccak-256 digest of ``data`` (Ethereum's hash, not SHA3-256)."""
    # pysha3's C object: a typed transaction hashes each of its items, and pycryptodome's
    # keccak costs about five times as much a call (its object is built through ctypes).
    return keccak_256(data).digest()  # type: ignore[no-any-return]


def eip191_digest(message: bytes) -> bytes:
    """Return the EIP-191 version 0x45 (``personal_sign``) digest of ``message``."""
    return keccak256(_EIP191_PREFIX + str(len(message)).encode("ascii") + message)


@functools.lru_cache(maxsize=4096)
def _checksum_hex(hex40_lower: str) -> str:
    # Cached: a ledger's signers are few, and each signature recovered is checksummed.
    # EIP-55: uppercase a hex letter when the matching nibble of
    # keccak256(lowercase hex text) is >= 8.
    digest = keccak256(hex40_lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if int(d, 16) >= 8 else c for c, d in zip(hex40_lower, digest, strict=False)
    )


def _address_from_uncompressed(point65: bytes) -> str:
    # The address is the last 20 bytes of keccak256(X || Y), the 0x04 prefix dropped.
    return _checksum_hex(keccak256(point65[1:])[-20:].hex())


def checksum_address(addr: str) -> str:
    """Return ``addr`` in EIP-55 checksummed form.

    Accepts ``0x`` followed by 40 hex digits. An all-lowercase or all-uppercase
    address is taken as unchecksummed; a mixed-case one must already carry a
    correct checksum, because a wrong one means the address was mistyped.

    Raises:
        InvalidInput: ``addr`` is not an address, or its mixed-case checksum is wrong.
    """
    if not isinstance(addr, str) or not _ADDRESS_RE.match(addr):
        raise InvalidInput(f"not an Ethereum address (want 0x + 40 hex digits): {addr!r}")
    body = addr[2:]
    result = _checksum_hex(body.lower())
    if body not in (body.lower(), body.upper()) and result != addr:
        raise InvalidInput(f"address {addr} has a wrong EIP-55 checksum (expected {result})")
    return result


def is_address(s: object) -> bool:
    """Return True if ``s`` is an address ``checksum_address`` accepts."""
    if not isinstance(s, str):
        return False
    try:
        checksum_address(s)
    except InvalidInput:
        return False
    return True


def _require_digest(digest32: bytes) -> None:
    if not isinstance(digest32, bytes | bytearray) or len(digest32) != 32:
        raise InvalidInput("a digest must be exactly 32 bytes")


class PublicKey:
    """A secp256k1 public key."""

    __slots__ = ("_key",)

    def __init__(self, key: coincurve.PublicKey) -> None:
        self._key = key

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """Parse a 33-byte compressed or 65-byte uncompressed SEC1 point."""
        try:
            return cls(coincurve.PublicKey(bytes(data)))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"not a secp256k1 public key: {exc}") from exc

    def to_bytes(self, *, compressed: bool = False) -> bytes:
        """Return the SEC1 encoding (65 bytes uncompressed by default)."""
        return bytes(self._key.format(compressed=compressed))

    @property
    def address(self) -> str:
        """The EIP-55 checksummed Ethereum address of this key."""
        return _address_from_uncompressed(self.to_bytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"PublicKey({self.address})"


class PrivateKey:
    """A secp256k1 private key. Its ``repr`` shows the address, never the secret."""

    __slots__ = ("_address", "_key")

    def __init__(self, key: coincurve.PrivateKey) -> None:
        self._key = key
        # Cached: the address is the key's public name and is asked for often.
        self._address = _address_from_uncompressed(key.public_key.format(compressed=False))

    @classmethod
    def generate(cls) -> PrivateKey:
        """Create a new key from the operating system's CSPRNG."""
        return cls(coincurve.PrivateKey())

    @classmethod
    def from_bytes(cls, b: bytes) -> PrivateKey:
        """Load a key from its 32-byte big-endian secret.

        Raises:
            InvalidInput: not 32 bytes, or not in [1, n-1].
        """
        if not isinstance(b, bytes | bytearray) or len(b) != 32:
            raise InvalidInput("a private key must be exactly 32 bytes")
        if not 0 < int.from_bytes(b, "big") < SECP256K1_N:
            raise InvalidInput("private key is out of range for secp256k1")
        return cls(coincurve.PrivateKey(bytes(b)))

    @classmethod
    def from_hex(cls, s: str) -> PrivateKey:
        """Load a key from 64 hex digits, with or without a ``0x`` prefix."""
        text = s[2:] if s[:2].lower() == "0x" else s
        if len(text) != 64:
            raise InvalidInput("a private key must be 64 hex digits")
        try:
            raw = bytes.fromhex(text)
        except ValueError as exc:
            # The message of fromhex names the offending position, not the secret.
            raise InvalidInput(f"private key is not hex: {exc}") from None
        return cls.from_bytes(raw)

    def to_bytes(self) -> bytes:
        """Return the 32-byte secret. Handle with care."""
        return bytes(self._key.secret)

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(self._key.public_key)

    @property
    def address(self) -> str:
        """The EIP-55 checksummed Ethereum address of this key."""
        return self._address

    def sign_digest(self, digest32: bytes) -> bytes:
        """Sign a 32-byte digest; return ``r || s || v`` (65 bytes, v in {27, 28}).

        libsecp256k1 always produces low-s signatures, as EIP-2 requires.
        """
        _require_digest(digest32)
        sig = self._key.sign_recoverable(bytes(digest32), hasher=None)
        return sig[:64] + bytes([sig[64] + 27])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivateKey):
            return NotImplemented
        return hmac.compare_digest(self.to_bytes(), other.to_bytes())

    def __hash__(self) -> int:
        return hash(self._address)

    def __repr__(self) -> str:
        return f"PrivateKey({self._address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the secret somewhere nobody decided to put it.
        raise TypeError("PrivateKey cannot be pickled; use the keystore")


def recover_address(digest32: bytes, signature65: bytes) -> str:
    """Return the checksummed address whose key made ``signature65`` over ``digest32``.

    Raises:
        InvalidInput: the digest is not 32 bytes.
        SignatureInvalid: the signature is malformed (length, v, r or s out of
            range, high s per EIP-2) or no key recovers from it.
    """
    _require_digest(digest32)
    if not isinstance(signature65, bytes | bytearray) or len(signature65) != 65:
        got = len(signature65) if isinstance(signature65, bytes | bytearray) else "?"
        raise SignatureInvalid(f"a signature must be 65 bytes (r || s || v), got {got}")
    r = int.from_bytes(signature65[:32], "big")
    s = int.from_bytes(signature65[32:64], "big")
    v = signature65[64]
    if v not in (27, 28):
        raise SignatureInvalid(f"signature v must be 27 or 28, got {v}")
    if not 0 < r < SECP256K1_N:
        raise SignatureInvalid("signature r is out of range")
    if not 0 < s <= _HALF_N:
        # EIP-2: (r, n - s) is also valid ECDSA; accepting both makes signatures malleable.
        raise SignatureInvalid("signature s is zero or high (EIP-2 requires low s)")
    try:
        pub = coincurve.PublicKey.from_signature_and_message(
            bytes(signature65[:64]) + bytes([v - 27]), bytes(digest32), hasher=None
        )
    except (ValueError, TypeError) as exc:
        raise SignatureInvalid(f"no public key recovers from this signature: {exc}") from exc
    return _address_from_uncompressed(pub.format(compressed=False))


def verify_digest(digest32: bytes, signature65: bytes, expected_address: str) -> None:
    """Check that ``signature65`` over ``digest32`` was made by ``expected_address``.

    Raises:
        InvalidInput: ``expected_address`` or the digest is malformed.
        SignatureInvalid: the signature is malformed or made by another key.
    """
    expected = checksum_address(expected_address)
    recovered = recover_address(digest32, signature65)
    if recovered != expected:
        raise SignatureInvalid(
            f"signature was made by {recovered}, not by the expected signer {expected}"
        )
