"""Authenticated encryption of channel data, and public commitments to it.

A sealed blob, version 1::

    version (1 byte, 0x01) | nonce (12 random bytes) | AES-256-GCM ciphertext + 16-byte tag

The associated data given to GCM is the version byte followed by the caller's
``aad`` (a record id, channel id and epoch, say), so a blob cannot be replayed
under another label. Nonces are random: NIST SP 800-38D allows 2**32 messages
per key that way, far beyond one channel epoch, and channel keys rotate per epoch.

Commitments are ``sha256(b"carbonledger-commitment\\x00" || salt || data)`` with a
16-byte salt: the ledger publishes the hex digest, members keep salt and data, and
the salt keeps guessable data (a monthly kWh figure) from being found by trial.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from carbonledger.errors import IntegrityError, InvalidInput

__all__ = [
    "KEY_BYTES",
    "SALT_BYTES",
    "VERSION",
    "commitment",
    "new_channel_key",
    "new_salt",
    "open_sealed",
    "seal",
]

VERSION: Final = 1
KEY_BYTES: Final = 32
SALT_BYTES: Final = 16
_NONCE: Final = 12
_TAG: Final = 16
_COMMITMENT_DOMAIN: Final = b"carbonledger-commitment\x00"
_FAILED: Final = "sealed data does not open with this key and associated data"


def new_channel_key() -> bytes:
    """Return a new 32-byte AES-256 channel key from the operating system's CSPRNG."""
    return secrets.token_bytes(KEY_BYTES)


def new_salt() -> bytes:
    """Return a new 16-byte commitment salt."""
    return secrets.token_bytes(SALT_BYTES)


def _cipher(key32: bytes) -> AESGCM:
    if not isinstance(key32, bytes | bytearray) or len(key32) != KEY_BYTES:
        raise InvalidInput(f"a channel key must be exactly {KEY_BYTES} bytes")
    return AESGCM(bytes(key32))


def seal(key32: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``key32``, bound to ``aad``.

    Raises:
        InvalidInput: the key is not 32 bytes.
    """
    cipher = _cipher(key32)
    nonce = secrets.token_bytes(_NONCE)
    header = bytes([VERSION])
    return header + nonce + cipher.encrypt(nonce, bytes(plaintext), header + bytes(aad))


def open_sealed(key32: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Decrypt a blob made by :func:`seal` with the same key and ``aad``.

    Raises:
        InvalidInput: the key is not 32 bytes.
        IntegrityError: the blob is truncated, of an unknown version, modified,
            or sealed under another key or associated data.
    """
    cipher = _cipher(key32)
    if not isinstance(blob, bytes | bytearray) or len(blob) < 1 + _NONCE + _TAG:
        raise IntegrityError(f"{_FAILED} (truncated)")
    blob = bytes(blob)
    if blob[0] != VERSION:
        raise IntegrityError(f"{_FAILED} (unknown format version {blob[0]})")
    try:
        return cipher.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], blob[:1] + bytes(aad))
    except InvalidTag:
        raise IntegrityError(_FAILED) from None


def commitment(salt: bytes, data: bytes) -> str:
    """Return the hex SHA-256 commitment to ``data`` under a 16-byte ``salt``.

    The salt length is fixed so that ``salt || data`` splits one way only.

    Raises:
        InvalidInput: the salt is not 16 bytes.
    """
    if not isinstance(salt, bytes | bytearray) or len(salt) != SALT_BYTES:
        raise InvalidInput(f"a commitment salt must be exactly {SALT_BYTES} bytes")
    # Fed in parts rather than joined: an import makes one commitment a bill.
    digest = hashlib.sha256(_COMMITMENT_DOMAIN)
    digest.update(salt)
    digest.update(data)
    return digest.hexdigest()
