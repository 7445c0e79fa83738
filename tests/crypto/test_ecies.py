from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.crypto.ecies import unwrap, wrap
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import IntegrityError, InvalidInput

CONTEXT = b"channel:acme-bills|epoch:7"


@pytest.fixture(scope="module")
def member() -> PrivateKey:
    return PrivateKey.generate()


@settings(max_examples=50)
@given(st.binary(min_size=16, max_size=64), st.binary(min_size=1, max_size=64), st.booleans())
def test_round_trip(secret: bytes, context: bytes, compressed: bool) -> None:
    key = PrivateKey.generate()
    blob = wrap(key.public_key.to_bytes(compressed=compressed), secret, context=context)
    assert unwrap(key, blob, context=context) == secret


def test_format(member: PrivateKey) -> None:
    blob = wrap(member.public_key.to_bytes(), bytes(32), context=CONTEXT)
    assert len(blob) == 1 + 33 + 12 + 32 + 16
    assert blob[0] == 1
    assert blob[1] in (2, 3)  # compressed ephemeral point
    # A fresh ephemeral key and nonce each time.
    assert blob != wrap(member.public_key.to_bytes(), bytes(32), context=CONTEXT)


def test_compressed_and_uncompressed_public_keys_agree(member: PrivateKey) -> None:
    for pub in (member.public_key.to_bytes(), member.public_key.to_bytes(compressed=True)):
        assert unwrap(member, wrap(pub, b"s" * 32, context=CONTEXT), context=CONTEXT) == b"s" * 32


def test_wrong_key_fails(member: PrivateKey) -> None:
    blob = wrap(member.public_key.to_bytes(), b"k" * 32, context=CONTEXT)
    with pytest.raises(IntegrityError, match="does not open with this key and context"):
        unwrap(PrivateKey.generate(), blob, context=CONTEXT)


def test_wrong_context_fails(member: PrivateKey) -> None:
    blob = wrap(member.public_key.to_bytes(), b"k" * 32, context=CONTEXT)
    with pytest.raises(IntegrityError, match="does not open with this key and context"):
        unwrap(member, blob, context=b"channel:acme-bills|epoch:8")


@pytest.mark.parametrize("length", [0, 1, 34, 46, 61, 93])
def test_truncated_blob_fails(member: PrivateKey, length: int) -> None:
    blob = wrap(member.public_key.to_bytes(), b"k" * 32, context=CONTEXT)
    with pytest.raises(IntegrityError, match="does not open"):
        unwrap(member, blob[:length], context=CONTEXT)


@settings(max_examples=100)
@given(st.data())
def test_any_modification_fails(member: PrivateKey, data: st.DataObject) -> None:
    blob = bytearray(wrap(member.public_key.to_bytes(), b"k" * 32, context=CONTEXT))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(IntegrityError, match="does not open"):
        unwrap(member, bytes(blob), context=CONTEXT)


def test_extended_blob_fails(member: PrivateKey) -> None:
    blob = wrap(member.public_key.to_bytes(), b"k" * 32, context=CONTEXT)
    with pytest.raises(IntegrityError):
        unwrap(member, blob + b"\x00", context=CONTEXT)


def test_ephemeral_key_swapped_fails(member: PrivateKey) -> None:
    one = wrap(member.public_key.to_bytes(), b"k" * 32, context=CONTEXT)
    two = wrap(member.public_key.to_bytes(), b"k" * 32, context=CONTEXT)
    with pytest.raises(IntegrityError):
        unwrap(member, one[:34] + two[34:], context=CONTEXT)


def test_bad_inputs_to_wrap(member: PrivateKey) -> None:
    pub = member.public_key.to_bytes()
    with pytest.raises(InvalidInput, match="16-64 bytes"):
        wrap(pub, b"short", context=CONTEXT)
    with pytest.raises(InvalidInput, match="16-64 bytes"):
        wrap(pub, b"x" * 65, context=CONTEXT)
    with pytest.raises(InvalidInput, match="non-empty context"):
        wrap(pub, b"k" * 32, context=b"")
    with pytest.raises(InvalidInput, match="33 or 65 bytes"):
        wrap(pub[:64], b"k" * 32, context=CONTEXT)
    with pytest.raises(InvalidInput, match="not a secp256k1 public key"):
        wrap(b"\x04" + b"\x01" * 64, b"k" * 32, context=CONTEXT)
