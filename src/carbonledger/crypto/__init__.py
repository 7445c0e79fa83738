"""Signing identities: secp256k1 keys, Ethereum addresses and keystore v3 files."""

from carbonledger.crypto.keys import (
    PrivateKey,
    PublicKey,
    checksum_address,
    eip191_digest,
    is_address,
    keccak256,
    recover_address,
    verify_digest,
)
from carbonledger.crypto.keystore import decrypt_key, encrypt_key, load_keystore, save_keystore

__all__ = [
    "PrivateKey",
    "PublicKey",
    "checksum_address",
    "decrypt_key",
    "eip191_digest",
    "encrypt_key",
    "is_address",
    "keccak256",
    "load_keystore",
    "recover_address",
    "save_keystore",
    "verify_digest",
]
