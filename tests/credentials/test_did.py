from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.credentials import (
    Ed25519Signer,
    Secp256k1Signer,
    did_from_public_key,
    generate_ed25519,
    resolve,
)
from carbonledger.credentials.did import (
    base58btc_decode,
    base58btc_encode,
    key_from_multibase,
)
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput

SPEC_EXAMPLE = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


def test_spec_example_resolves_to_a_multikey_document() -> None:
    mb = SPEC_EXAMPLE.removeprefix("did:key:")
    vm_id = f"{SPEC_EXAMPLE}#{mb}"
    doc = resolve(SPEC_EXAMPLE)
    assert doc == {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": SPEC_EXAMPLE,
        "verificationMethod": [
            {
                "id": vm_id,
                "type": "Multikey",
                "controller": SPEC_EXAMPLE,
                "publicKeyMultibase": mb,
            }
        ],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
        "capabilityDelegation": [vm_id],
        "capabilityInvocation": [vm_id],
    }
    key = key_from_multibase(mb)
    assert key.key_type == "Ed25519"
    assert did_from_public_key(key.raw) == SPEC_EXAMPLE


def test_resolve_returns_a_fresh_document() -> None:
    resolve(SPEC_EXAMPLE)["id"] = "changed"
    assert resolve(SPEC_EXAMPLE)["id"] == SPEC_EXAMPLE


def test_generate_ed25519_round_trip() -> None:
    private, did = generate_ed25519()
    assert did.startswith("did:key:z6Mk")
    assert Ed25519Signer(private).did == did
    assert resolve(did)["id"] == did


def test_secp256k1_signer_signs_verifiably() -> None:
    signer = Secp256k1Signer(PrivateKey.generate())
    assert signer.did.startswith("did:key:zQ3s")
    key = key_from_multibase(signer.did.removeprefix("did:key:"))
    sig = signer.sign(b"reading")
    assert len(sig) == 64
    assert key.verify(sig, b"reading")
    assert not key.verify(sig, b"readinG")


@pytest.mark.parametrize(
    "bad",
    [
        "did:web:example.com",
        "did:key:",
        "did:key:6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",  # no multibase prefix
        "did:key:z0OIl",  # not base58
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do",  # truncated key
        "did:key:z" + base58btc_encode(b"\x12\x00" + bytes(32)),  # unknown multicodec
        "did:key:z" + base58btc_encode(b"\xe7\x01" + b"\x02" + bytes(32)),  # not on curve
    ],
)
def test_bad_dids_are_invalid_input_naming_the_did(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        resolve(bad)
    assert bad in str(info.value) or repr(bad) in str(info.value)


def test_signers_refuse_pickling() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Ed25519Signer.generate())


@given(st.binary(max_size=80))
@settings(max_examples=200)
def test_base58_round_trip(data: bytes) -> None:
    assert base58btc_decode(base58btc_encode(data)) == data


@given(st.binary(min_size=32, max_size=32))
@settings(max_examples=50)
def test_did_from_seed_is_deterministic(seed: bytes) -> None:
    a = Ed25519Signer.from_seed(seed)
    b = Ed25519Signer.from_seed(seed)
    assert a.did == b.did
    assert resolve(a.did)["verificationMethod"][0]["id"] == a.verification_method
