"""Wrap a channel key for one member's secp256k1 public key (ECIES).

Format of a wrapped key, version 1 (94 bytes for a 32-byte key)::

    version (1 byte, 0x01) | ephemeral public key (33 bytes, SEC1 compressed)
    | nonce (12 bytes) | AES-256-GCM ciphertext + 16-byte tag

* ECDH on secp256k1 (coincurve): the shared secret is the x-coordinate of
  ``ephemeral_secret * member_point``, the SEC 1 primitive, so any secp256k1
  library can compute it (libsecp256k1's own ``ecdh`` hashes it instead).
* Key: HKDF-SHA256 (RFC 5869) of that x-coordinate, salt = ephemeral public key
  || member public key (both 33-byte compressed), info =
  ``b"carbonledger channel key wrap v1"``; binding both keys means a wrapped key
  is only ever derived for the member it was made for.
* AES-256-GCM with associated data = version || ephemeral public key || context.
  ``context`` is chosen by the caller (channel id and epoch, say), so a wrapped
  key moved to another channel or epoch does not open.

The primitives are the standard ones, but the layout is carbonledger's own: it is
not byte-compatible with eciespy or devp2p's ECIES, which carry no version, no
info string and no caller context.
"""

from __future__ import annotations

import secrets
from typing import Final

import coincurve
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import IntegrityError, InvalidInput

__all__ = ["MAX_SECRET_BYTES", "MIN_SECRET_BYTES", "VERSION", "unwrap", "wrap"]

VERSION: Final = 1
MIN_SECRET_BYTES: Final = 16
MAX_SECRET_BYTES: Final = 64
_INFO: Final = b"carbonledger channel key wrap v1"
_POINT: Final = 33
_NONCE: Final = 12
_TAG: Final = 16
_HEADER: Final = 1 + _POINT
_FAILED: Final = "wrapped key does not open with this key and context"


def _derive(shared_x: bytes, ephemeral33: bytes, member33: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral33 + member33, info=_INFO)
    return hkdf.derive(shared_x)


def _shared_x(point: coincurve.PublicKey, secret32: bytes) -> bytes:
    # libsecp256k1's tweak_mul is constant time in the scalar; secp256k1 has
    # cofactor 1, so a valid point times a valid scalar is never the identity.
    return bytes(point.multiply(secret32).format(compressed=True)[1:])


def wrap(public_key: bytes, secret: bytes, *, context: bytes) -> bytes:
    """Encrypt ``secret`` (a 16-64 byte key) so only ``public_key``'s owner can open it.

    ``public_key`` is a 65-byte uncompressed or 33-byte compressed SEC1 point.

    Raises:
        InvalidInput: the public key is not a secp256k1 point, the secret is not
            16-64 bytes, or the context is empty.
    """
    if not isinstance(secret, bytes | bytearray) or not (
        MIN_SECRET_BYTES <= len(secret) <= MAX_SECRET_BYTES
    ):
        raise InvalidInput(f"a wrapped secret must be {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes")
    if not isinstance(context, bytes | bytearray) or not context:
        raise InvalidInput("a key wrap needs a non-empty context (channel id and epoch)")
    if not isinstance(public_key, bytes | bytearray) or len(public_key) not in (33, 65):
        raise InvalidInput("a member public key must be 33 or 65 bytes (SEC1)")
    try:
        member = coincurve.PublicKey(bytes(public_key))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"not a secp256k1 public key: {exc}") from None
    ephemeral = coincurve.PrivateKey()
    ephemeral33 = bytes(ephemeral.public_key.format(compressed=True))
    key = _derive(
        _shared_x(member, bytes(ephemeral.secret)),
        ephemeral33,
        bytes(member.format(compressed=True)),
    )
    header = bytes([VERSION]) + ephemeral33
    nonce = secrets.token_bytes(_NONCE)
    return header + nonce + AESGCM(key).encrypt(nonce, bytes(secret), header + bytes(context))


def unwrap(private_key: PrivateKey, blob: bytes, *, context: bytes) -> bytes:
    """Open a key made by :func:`wrap` for ``private_key``'s public key and ``context``.

    Raises:
        IntegrityError: any failure (unknown version, truncated or modified blob,
            another key, another context); the causes are not told apart, since
            a wrong key and a forged blob look the same to the cipher.
    """
    if not isinstance(blob, bytes | bytearray) or len(blob) < _HEADER + _NONCE + _TAG:
        raise IntegrityError(f"{_FAILED} (truncated)")
    blob = bytes(blob)
    if blob[0] != VERSION:
        raise IntegrityError(f"{_FAILED} (unknown format version {blob[0]})")
    header, nonce, sealed = (
        blob[:_HEADER],
        blob[_HEADER : _HEADER + _NONCE],
        blob[_HEADER + _NONCE :],
    )
    try:
        ephemeral = coincurve.PublicKey(header[1:])
        key = _derive(
            _shared_x(ephemeral, private_key.to_bytes()),
            header[1:],
            private_key.public_key.to_bytes(compressed=True),
        )
        return AESGCM(key).decrypt(nonce, sealed, header + bytes(context))
    except (InvalidTag, ValueError, TypeError):
        raise IntegrityError(_FAILED) from None
