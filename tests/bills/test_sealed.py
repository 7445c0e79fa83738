from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonledger.crypto.sealed import (
    commitment,
    new_channel_key,
    new_salt,
    open_sealed,
    seal,
)
from carbonledger.errors import IntegrityError, InvalidInput

KEY = bytes(range(32))
AAD = b"channel:acme-bills|epoch:3|record:42"


@given(st.binary(max_size=4096), st.binary(max_size=64))
def test_round_trip(plaintext: bytes, aad: bytes) -> None:
    key = new_channel_key()
    assert open_sealed(key, seal(key, plaintext, aad=aad), aad=aad) == plaintext


def test_format_is_version_nonce_ciphertext_tag() -> None:
    blob = seal(KEY, b"x" * 300, aad=AAD)
    assert blob[0] == 1
    assert len(blob) == 1 + 12 + 300 + 16


def test_nonces_are_fresh() -> None:
    assert seal(KEY, b"same", aad=AAD) != seal(KEY, b"same", aad=AAD)


def test_plaintext_never_appears_in_blob() -> None:
    plaintext = b"meter 1234567: 98765 kWh, Acme Corp, 2024-05; " * 50
    blob = seal(KEY, plaintext, aad=AAD)
    for start in range(0, len(plaintext) - 16, 7):
        assert plaintext[start : start + 16] not in blob


@pytest.mark.parametrize(
    ("where", "index"),
    [("version", 0), ("nonce", 1), ("nonce", 12), ("ciphertext", 13), ("tag", -1), ("tag", -16)],
)
def test_modified_blob_fails(where: str, index: int) -> None:
    blob = bytearray(seal(KEY, b"bill 2024-05 1234 kWh", aad=AAD))
    blob[index] ^= 0x01
    with pytest.raises(IntegrityError, match="does not open"):
        open_sealed(KEY, bytes(blob), aad=AAD)


@given(st.data())
def test_any_single_bit_flip_fails(data: st.DataObject) -> None:
    blob = bytearray(seal(KEY, b"bill 2024-05 1234 kWh", aad=AAD))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(IntegrityError):
        open_sealed(KEY, bytes(blob), aad=AAD)


def test_wrong_aad_and_wrong_key_fail() -> None:
    blob = seal(KEY, b"secret", aad=AAD)
    with pytest.raises(IntegrityError):
        open_sealed(KEY, blob, aad=AAD + b"x")
    with pytest.raises(IntegrityError):
        open_sealed(new_channel_key(), blob, aad=AAD)


@pytest.mark.parametrize("length", [0, 1, 28])
def test_truncated_blob_fails(length: int) -> None:
    blob = seal(KEY, b"", aad=AAD)
    assert len(blob) == 29
    with pytest.raises(IntegrityError, match="does not open"):
        open_sealed(KEY, blob[:length], aad=AAD)


@pytest.mark.parametrize("key", [b"", b"k" * 16, b"k" * 33])
def test_key_must_be_32_bytes(key: bytes) -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        seal(key, b"x", aad=b"")
    with pytest.raises(InvalidInput, match="32 bytes"):
        open_sealed(key, b"\x01" + b"\x00" * 40, aad=b"")


def test_new_keys_and_salts() -> None:
    assert len(new_channel_key()) == 32
    assert len(new_salt()) == 16
    assert new_channel_key() != new_channel_key()
    assert new_salt() != new_salt()


def test_commitment_definition() -> None:
    salt = bytes(16)
    expected = hashlib.sha256(b"carbonledger-commitment\x00" + salt + b"data").hexdigest()
    assert commitment(salt, b"data") == expected
    assert commitment(salt, b"data") != commitment(salt, b"date")
    assert commitment(b"\x01" * 16, b"data") != expected


@pytest.mark.parametrize("salt", [b"", bytes(15), bytes(17)])
def test_commitment_salt_must_be_16_bytes(salt: bytes) -> None:
    # A fixed salt length keeps salt || data unambiguous.
    with pytest.raises(InvalidInput, match="16 bytes"):
        commitment(salt, b"data")
