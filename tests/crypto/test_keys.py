"""Tests for secp256k1 keys, Ethereum addresses and keystore v3 files."""

from __future__ import annotations

import copy
import json
import os
import pickle
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.crypto import (
    PrivateKey,
    PublicKey,
    checksum_address,
    decrypt_key,
    eip191_digest,
    encrypt_key,
    is_address,
    keccak256,
    load_keystore,
    recover_address,
    save_keystore,
    verify_digest,
)
from carbonledger.crypto.keys import SECP256K1_N
from carbonledger.errors import ConfigurationError, InvalidInput, SignatureInvalid

# EIP-55's own examples.
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
# eth-account documentation: the key and its address.
ETH_ACCOUNT_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ETH_ACCOUNT_ADDR = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
# web3.py / eth-account "Sign a Message" documentation: personal_sign of "I♥SF".
ISF_KEY = b"\xb2\\}\xb3\x1f\xee\xd9\x12''\xbf\t9\xdcv\x9a\x96VK-\xe4\xc4rm\x03[6\xec\xf1\xe5\xb3d"
ISF_ADDR = "0x5ce9454909639D2D17A3F753ce7d93fa0b9aB12E"
ISF_HASH = "1476abb745d423bf09273f1afd887d951181d25adc66c4834a70491911b7f750"
ISF_SIG = (
    "e6ca9bba58c88611fad66a6ce8f996908195593807c4b38bd528d2cff09d4eb3"
    "3e5bfbbf4d3e39b1a2fd816a7680c19ebebaf3a141b239934ad43cb33fcec8ce1c"
)
# Web3 Secret Storage Definition test vectors (password "testpassword").
SPEC_KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
SPEC_SCRYPT = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
        "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
        "kdf": "scrypt",
        "kdfparams": {
            "dklen": 32,
            "n": 262144,
            "p": 8,
            "r": 1,
            "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19",
        },
        "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
SPEC_PBKDF2 = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {
            "c": 262144,
            "dklen": 32,
            "prf": "hmac-sha256",
            "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
        },
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
FAST = {"n": 2**10, "r": 8, "p": 1}

secrets32 = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda i: i.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)


# --- hashing and addresses -------------------------------------------------------------


def test_keccak256_of_empty_string() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_eip191_digest_matches_eth_account() -> None:
    assert eip191_digest("I♥SF".encode()).hex() == ISF_HASH


@pytest.mark.parametrize("addr", EIP55)
def test_eip55_examples(addr: str) -> None:
    assert checksum_address(addr.lower()) == addr
    assert checksum_address(addr.upper().replace("0X", "0x")) == addr
    assert checksum_address(addr) == addr
    assert is_address(addr)


@pytest.mark.parametrize("addr", EIP55)
def test_wrong_mixed_case_checksum_is_rejected(addr: str) -> None:
    # Swap the case of one letter: still mixed case, now a wrong checksum.
    i = next(i for i, c in enumerate(addr) if i > 1 and c.isalpha())
    typo = addr[:i] + addr[i].swapcase() + addr[i + 1 :]
    assert not is_address(typo)
    with pytest.raises(InvalidInput, match="checksum"):
        checksum_address(typo)


@pytest.mark.parametrize(
    "bad",
    ["", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A0", "0xzz" * 10],
)
def test_malformed_addresses(bad: str) -> None:
    assert not is_address(bad)
    with pytest.raises(InvalidInput):
        checksum_address(bad)


def test_is_address_of_non_string() -> None:
    assert not is_address(None)
    assert not is_address(b"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")


# --- private keys --------------------------------------------------------------------


def test_known_key_has_known_address() -> None:
    key = PrivateKey.from_hex(ETH_ACCOUNT_KEY)
    assert key.address == ETH_ACCOUNT_ADDR
    assert key.public_key.address == ETH_ACCOUNT_ADDR
    assert PrivateKey.from_hex(ETH_ACCOUNT_KEY[2:]).to_bytes().hex() == ETH_ACCOUNT_KEY[2:]


def test_repr_never_shows_the_secret() -> None:
    key = PrivateKey.from_hex(ETH_ACCOUNT_KEY)
    secret = ETH_ACCOUNT_KEY[2:]
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert secret not in text.lower()
        assert ETH_ACCOUNT_ADDR in text


def test_private_key_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(PrivateKey.generate())


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x01" * 31, b"\x01" * 33, bytes(32), SECP256K1_N.to_bytes(32, "big"), b"\xff" * 32],
)
def test_out_of_range_secrets_are_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        PrivateKey.from_bytes(raw)


def test_bad_hex_is_rejected_without_echoing_it() -> None:
    with pytest.raises(InvalidInput) as info:
        PrivateKey.from_hex("zz" + ETH_ACCOUNT_KEY[4:])
    assert ETH_ACCOUNT_KEY[4:] not in str(info.value)
    with pytest.raises(InvalidInput):
        PrivateKey.from_hex("abcd")


def test_generated_keys_differ_and_round_trip() -> None:
    a, b = PrivateKey.generate(), PrivateKey.generate()
    assert a != b
    assert PrivateKey.from_bytes(a.to_bytes()) == a
    assert PublicKey.from_bytes(a.public_key.to_bytes(compressed=True)) == a.public_key


# --- signatures ----------------------------------------------------------------------


def test_sign_matches_eth_account_vector() -> None:
    # RFC 6979 nonces are deterministic, so the signature is byte-for-byte eth-account's.
    key = PrivateKey.from_bytes(ISF_KEY)
    assert key.address == ISF_ADDR
    digest = eip191_digest("I♥SF".encode())
    assert key.sign_digest(digest).hex() == ISF_SIG
    assert recover_address(digest, bytes.fromhex(ISF_SIG)) == ISF_ADDR


@settings(max_examples=60, deadline=None)
@given(secret=secrets32, digest=digests)
def test_sign_recover_round_trip(secret: bytes, digest: bytes) -> None:
    key = PrivateKey.from_bytes(secret)
    sig = key.sign_digest(digest)
    assert len(sig) == 65
    assert sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_N // 2
    assert recover_address(digest, sig) == key.address
    verify_digest(digest, sig, key.address)
    verify_digest(digest, sig, key.address.lower())


@settings(max_examples=30, deadline=None)
@given(secret=secrets32, digest=digests, data=st.data())
def test_flipped_signature_byte_never_verifies(
    secret: bytes, digest: bytes, data: st.DataObject
) -> None:
    key = PrivateKey.from_bytes(secret)
    sig = bytearray(key.sign_digest(digest))
    pos = data.draw(st.integers(min_value=0, max_value=64))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    sig[pos] ^= 1 << bit
    try:
        recovered = recover_address(digest, bytes(sig))
    except SignatureInvalid:
        return
    assert recovered != key.address
    with pytest.raises(SignatureInvalid, match=key.address):
        verify_digest(digest, bytes(sig), key.address)


def test_other_digest_recovers_another_address() -> None:
    key = PrivateKey.generate()
    sig = key.sign_digest(keccak256(b"a"))
    with pytest.raises(SignatureInvalid, match="expected signer"):
        verify_digest(keccak256(b"b"), sig, key.address)


def test_high_s_is_rejected() -> None:
    key = PrivateKey.generate()
    digest = keccak256(b"malleable")
    sig = key.sign_digest(digest)
    s = int.from_bytes(sig[32:64], "big")
    # (r, n - s) with the other parity is the same signature in ECDSA terms.
    flipped = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with pytest.raises(SignatureInvalid, match="low s"):
        recover_address(digest, flipped)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s[:64], "65 bytes"),
        (lambda s: s + b"\x00", "65 bytes"),
        (lambda s: s[:64] + b"\x00", "v must be"),
        (lambda s: s[:64] + b"\x01", "v must be"),
        (lambda s: s[:64] + b"\x1d", "v must be"),
        (lambda s: bytes(32) + s[32:], "r is out of range"),
        (lambda s: SECP256K1_N.to_bytes(32, "big") + s[32:], "r is out of range"),
        (lambda s: s[:32] + bytes(32) + s[64:], "s is zero"),
    ],
)
def test_malformed_signatures(mutate: object, message: str) -> None:
    key = PrivateKey.generate()
    digest = keccak256(b"x")
    bad = mutate(key.sign_digest(digest))  # type: ignore[operator]
    with pytest.raises(SignatureInvalid, match=message):
        recover_address(digest, bad)


def test_digest_must_be_32_bytes() -> None:
    key = PrivateKey.generate()
    with pytest.raises(InvalidInput):
        key.sign_digest(b"short")
    with pytest.raises(InvalidInput):
        recover_address(b"short", bytes(65))


# --- keystore v3 ---------------------------------------------------------------------


@pytest.mark.parametrize("vector", [SPEC_SCRYPT, SPEC_PBKDF2], ids=["scrypt", "pbkdf2"])
def test_spec_vectors_decrypt(vector: dict[str, object]) -> None:
    key = decrypt_key(copy.deepcopy(vector), "testpassword")
    assert key.to_bytes().hex() == SPEC_KEY


def test_spec_vector_wrong_passphrase() -> None:
    with pytest.raises(InvalidInput, match=r"wrong passphrase or corrupted keystore \(MAC"):
        decrypt_key(copy.deepcopy(SPEC_PBKDF2), "testpassworD")


def test_round_trip_and_format() -> None:
    key = PrivateKey.generate()
    ks = encrypt_key(key, "correct horse ✓", **FAST)
    assert ks["version"] == 3
    assert ks["address"] == key.address[2:].lower()
    assert ks["crypto"]["kdf"] == "scrypt"
    assert ks["crypto"]["cipher"] == "aes-128-ctr"
    assert ks["crypto"]["kdfparams"] == {
        **FAST,
        "dklen": 32,
        "salt": ks["crypto"]["kdfparams"]["salt"],
    }
    assert key.to_bytes().hex() not in json.dumps(ks)
    assert decrypt_key(ks, "correct horse ✓") == key
    # Fresh salt and iv every time.
    again = encrypt_key(key, "correct horse ✓", **FAST)
    assert again["crypto"]["ciphertext"] != ks["crypto"]["ciphertext"]
    assert again["id"] != ks["id"]


def test_wrong_passphrase_fails_clearly() -> None:
    ks = encrypt_key(PrivateKey.generate(), "right", **FAST)
    with pytest.raises(InvalidInput, match=r"wrong passphrase or corrupted keystore \(MAC"):
        decrypt_key(ks, "wrong")


def test_corrupted_ciphertext_fails_mac() -> None:
    ks = encrypt_key(PrivateKey.generate(), "pw", **FAST)
    ct = bytearray.fromhex(ks["crypto"]["ciphertext"])
    ct[0] ^= 1
    ks["crypto"]["ciphertext"] = ct.hex()
    with pytest.raises(InvalidInput, match="MAC mismatch"):
        decrypt_key(ks, "pw")


def test_address_that_does_not_match_key_is_rejected() -> None:
    ks = encrypt_key(PrivateKey.generate(), "pw", **FAST)
    ks["address"] = PrivateKey.generate().address[2:].lower()
    with pytest.raises(InvalidInput, match="holds the key of"):
        decrypt_key(ks, "pw")


def test_geth_capitalised_crypto_field_is_accepted() -> None:
    key = PrivateKey.generate()
    ks = encrypt_key(key, "pw", **FAST)
    ks["Crypto"] = ks.pop("crypto")
    assert decrypt_key(ks, "pw") == key


@pytest.mark.parametrize(
    "breakage",
    [
        lambda ks: ks.update(version=2),
        lambda ks: ks.pop("crypto"),
        lambda ks: ks["crypto"].update(cipher="aes-256-gcm"),
        lambda ks: ks["crypto"].update(kdf="argon2"),
        lambda ks: ks["crypto"].update(mac="nothex"),
        lambda ks: ks["crypto"]["cipherparams"].update(iv="00"),
        lambda ks: ks["crypto"]["kdfparams"].update(n=1000),
        lambda ks: ks["crypto"]["kdfparams"].update(n=2**30),
        lambda ks: ks["crypto"]["kdfparams"].update(r=True),
        lambda ks: ks["crypto"]["kdfparams"].pop("salt"),
        lambda ks: ks["crypto"]["kdfparams"].update(dklen=16),
    ],
)
def test_malformed_keystores_are_rejected(breakage: object) -> None:
    ks = encrypt_key(PrivateKey.generate(), "pw", **FAST)
    breakage(ks)  # type: ignore[operator]
    with pytest.raises(InvalidInput):
        decrypt_key(ks, "pw")


def test_encrypt_rejects_bad_scrypt_parameters() -> None:
    with pytest.raises(InvalidInput):
        encrypt_key(PrivateKey.generate(), "pw", n=1000)


def test_save_and_load(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    ks = encrypt_key(key, "pw", **FAST)
    path = tmp_path / "key.json"
    save_keystore(path, ks)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keystore(path) == ks
    assert decrypt_key(load_keystore(path), "pw") == key
    assert sorted(os.listdir(tmp_path)) == ["key.json"]  # no temporary file left behind


def test_save_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    first = encrypt_key(PrivateKey.generate(), "pw", **FAST)
    second = encrypt_key(PrivateKey.generate(), "pw", **FAST)
    save_keystore(path, first)
    with pytest.raises(ConfigurationError, match="already exists"):
        save_keystore(path, second)
    assert load_keystore(path) == first
    save_keystore(path, second, overwrite=True)
    assert load_keystore(path) == second
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["key.json"]


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_keystore(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidInput):
        load_keystore(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InvalidInput):
        load_keystore(tmp_path / "list.json")
