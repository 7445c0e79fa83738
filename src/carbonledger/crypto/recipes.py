"""Signing recipes: each signed format of the package, signed in one place.

:meth:`~carbonledger.crypto.keys.PrivateKey.sign_digest` signs any 32 bytes it is
given, which is how a key is tricked into signing something that parses as
another format. So, as pyca/cryptography keeps its primitives under ``hazmat``
and offers recipes over them, only these functions (and the ledger's own
transaction and checkpoint modules, :mod:`carbonledger.core.tx` and
:mod:`carbonledger.core.checkpoint`) call it; each hashes its own format's bytes
with that format's domain separation, so no caller chooses the digest:

=============================  ==============================================================
:func:`sign_personal_message`  EIP-191 ``personal_sign`` of a text message (sign-in challenges)
:func:`sign_sha256_compact`    ``r || s`` over SHA-256 of the bytes (ES256K, ``ecdsa-jcs-2019``
                               proofs of credentials and DIDs)
:func:`sign_evm_transaction`   ``(y_parity, r, s)`` over keccak-256 of an EIP-2718 typed
                               transaction payload (the EVM adapter's transactions)
=============================  ==============================================================
"""

from __future__ import annotations

import hashlib

from carbonledger.crypto.keys import PrivateKey, eip191_digest, keccak256, recover_address
from carbonledger.errors import InvalidInput

__all__ = [
    "recover_personal_message",
    "sign_evm_transaction",
    "sign_personal_message",
    "sign_sha256_compact",
]


def sign_personal_message(key: PrivateKey, message: str) -> bytes:
    """The 65-byte ``personal_sign`` signature of ``message`` (UTF-8), as wallets make it."""
    return key.sign_digest(eip191_digest(message.encode()))


def recover_personal_message(message: str, signature: bytes) -> str:
    """The address whose key made ``signature`` over ``message`` with ``personal_sign``."""
    return recover_address(eip191_digest(message.encode()), signature)


def sign_sha256_compact(key: PrivateKey, data: bytes) -> bytes:
    """``r || s`` (64 bytes, low s) over SHA-256 of ``data``: ES256K, ``ecdsa-jcs-2019``."""
    return key.sign_digest(hashlib.sha256(data).digest())[:64]


def sign_evm_transaction(key: PrivateKey, payload: bytes) -> tuple[int, int, int]:
    """``(y_parity, r, s)`` over keccak-256 of a typed transaction ``payload``
    (its type byte, then the RLP of its fields: EIP-2718)."""
    if not payload or payload[0] > 0x7F:
        raise InvalidInput("an EVM typed transaction payload starts with its type byte (< 0x80)")
    sig = key.sign_digest(keccak256(payload))
    return sig[64] - 27, int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
