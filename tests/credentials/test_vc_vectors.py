"""Published test vectors for did:key and eddsa-jcs-2022.

Sources (copied value for value, nothing computed here):

* eddsa-jcs-2022: W3C Recommendation "Data Integrity EdDSA Cryptosuites v1.0"
  (15 May 2025), Appendix B.3 "Representation: eddsa-jcs-2022", examples 29-39;
  repository w3c/vc-di-eddsa, file transitions/2025/REC/index.html
  (commit 70c56dd6a4e8421e8d9f98b44c65066d5c651bd0).
* The earlier vector with an https verification method: w3c/vc-di-eddsa,
  TestVectors/eddsa-jcs-2022/signedJCS.json (commit 369f0f00ad3d08fb51abafc7935f3b6fa6e693c8)
  and sigBTC58JCS.txt (commit e899f9777d6da93d1f9aee16acad8b8b89d9c6f3).
* did:key: w3c-ccg/did-method-key, test-vectors/ed25519-x25519.json and
  test-vectors/secp256k1.json (commit 801b0a91ce5af882c389ca399fa1fd1a75229c09).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from carbonledger.credentials import Ed25519Signer, Secp256k1Signer, resolve, verify
from carbonledger.credentials.did import base58btc_decode, base58btc_encode, did_from_public_key
from carbonledger.credentials.proof import (
    ProofError,
    canonicalize,
    create_proof,
    hash_data,
    verify_proof,
)
from carbonledger.crypto.keys import PrivateKey

# --- eddsa-jcs-2022, REC Appendix B.3 -------------------------------------------------

PUBLIC_KEY_MULTIBASE = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
SECRET_KEY_MULTIBASE = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://www.w3.org/ns/credentials/examples/v2",
]
UNSIGNED: dict[str, Any] = {
    "@context": CONTEXT,
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}
CANONICAL_DOCUMENT = (
    b'{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/'
    b'examples/v2"],"credentialSubject":{"alumniOf":"The School of Examples","id":"did:example:'
    b'abcdefgh"},"description":"A minimum viable example of an Alumni Credential.","id":"urn:'
    b'uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33","issuer":"https://vc.example/issuers/5678",'
    b'"name":"Alumni Credential","type":["VerifiableCredential","AlumniCredential"],'
    b'"validFrom":"2023-01-01T00:00:00Z"}'
)
DOCUMENT_HASH = "59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19"
VM = f"did:key:{PUBLIC_KEY_MULTIBASE}#{PUBLIC_KEY_MULTIBASE}"
PROOF_OPTIONS: dict[str, Any] = {
    "type": "DataIntegrityProof",
    "cryptosuite": "eddsa-jcs-2022",
    "created": "2023-02-24T23:36:38Z",
    "verificationMethod": VM,
    "proofPurpose": "assertionMethod",
    "@context": CONTEXT,
}
CANONICAL_PROOF_CONFIG = (
    b'{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/'
    b'examples/v2"],"created":"2023-02-24T23:36:38Z","cryptosuite":"eddsa-jcs-2022",'
    b'"proofPurpose":"assertionMethod","type":"DataIntegrityProof","verificationMethod":'
    b'"did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6'
    b'pvBQ7XJPt4swbTQ2"}'
)
PROOF_HASH = "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db"
SIGNATURE_HEX = (
    "407cd12654b33d718ecbb99179a1506daaa849450bf3fc523cce3e1c96f8b803"
    "51da3f253d725c6f00b07c9e5448d50b3ef78012b9ab54255116d069c6dd2808"
)
PROOF_VALUE = (
    "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX"
)
CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)


def _spec_signer() -> Ed25519Signer:
    secret = base58btc_decode(SECRET_KEY_MULTIBASE[1:])
    assert secret[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return Ed25519Signer.from_seed(secret[2:])


def test_spec_key_pair_matches() -> None:
    signer = _spec_signer()
    assert signer.did == f"did:key:{PUBLIC_KEY_MULTIBASE}"
    assert signer.verification_method == VM


def test_canonical_document_and_hash() -> None:
    assert canonicalize(UNSIGNED) == CANONICAL_DOCUMENT
    assert hashlib.sha256(CANONICAL_DOCUMENT).hexdigest() == DOCUMENT_HASH


def test_canonical_proof_config_and_hash() -> None:
    assert canonicalize(PROOF_OPTIONS) == CANONICAL_PROOF_CONFIG
    assert hashlib.sha256(CANONICAL_PROOF_CONFIG).hexdigest() == PROOF_HASH
    combined = hash_data(CANONICAL_PROOF_CONFIG, CANONICAL_DOCUMENT)
    assert combined.hex() == PROOF_HASH + DOCUMENT_HASH


def test_signature_and_proof_value() -> None:
    signature = _spec_signer().sign(bytes.fromhex(PROOF_HASH + DOCUMENT_HASH))
    assert signature.hex() == SIGNATURE_HEX
    assert "z" + base58btc_encode(signature) == PROOF_VALUE


def test_create_proof_reproduces_the_signed_credential() -> None:
    proof = create_proof(UNSIGNED, _spec_signer(), created=CREATED)
    assert proof == {**PROOF_OPTIONS, "proofValue": PROOF_VALUE}


def test_verify_proof_of_the_signed_credential() -> None:
    signed = {**UNSIGNED, "proof": {**PROOF_OPTIONS, "proofValue": PROOF_VALUE}}
    assert verify_proof(signed) == f"did:key:{PUBLIC_KEY_MULTIBASE}"


def test_spec_credential_fails_only_on_issuer_binding() -> None:
    # The example's issuer is an https URL while the key is a did:key, so a
    # verifier that binds issuer to key (ours) reports exactly that.
    signed = {**UNSIGNED, "proof": {**PROOF_OPTIONS, "proofValue": PROOF_VALUE}}
    result = verify(signed, now=datetime(2024, 1, 1, tzinfo=UTC))
    assert [e.split(":")[0] for e in result.errors] == ["issuer mismatch"]


def test_tampered_spec_credential_fails_signature() -> None:
    signed = {**UNSIGNED, "name": "Alumni Credential!"}
    signed["proof"] = {**PROOF_OPTIONS, "proofValue": PROOF_VALUE}
    with pytest.raises(ProofError) as info:
        verify_proof(signed)
    assert info.value.check == "signature"


# --- the earlier test-vector file, with an https verification method -----------------

HTTPS_VM = f"https://vc.example/issuers/5678#{PUBLIC_KEY_MULTIBASE}"
HTTPS_PROOF_VALUE = (
    "z63t83Y53KfzJ5ZosfKTnqfMcKB2dmTrfjSaQjeNNjAD5srBowQfmWqeRb8rRjmeEuCBEsddF9LsVogtuTsijJKh4"
)
HTTPS_SIGNATURE_HEX = (
    "fc91dec6565f35fbe185a77352e7fc512f95d1904da305cfef32ab8135469301"
    "f5a72d4e7a58368fc6ffc497b44633993bac054e3bc1436e3c846db8f1544503"
)


def _issuer_document(did: str) -> dict[str, Any]:
    assert did == "https://vc.example/issuers/5678"
    return {
        "id": did,
        "verificationMethod": [
            {
                "id": HTTPS_VM,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": PUBLIC_KEY_MULTIBASE,
            }
        ],
        "assertionMethod": [HTTPS_VM],
    }


def test_https_verification_method_vector() -> None:
    proof = {**PROOF_OPTIONS, "verificationMethod": HTTPS_VM, "proofValue": HTTPS_PROOF_VALUE}
    signed = {**UNSIGNED, "proof": proof}
    assert base58btc_decode(HTTPS_PROOF_VALUE[1:]).hex() == HTTPS_SIGNATURE_HEX
    assert verify_proof(signed, resolver=_issuer_document) == "https://vc.example/issuers/5678"
    result = verify(signed, resolver=_issuer_document, now=datetime(2024, 1, 1, tzinfo=UTC))
    assert result.ok, result.errors


# --- did:key test vectors ------------------------------------------------------------

ED25519_VECTORS = [
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
        "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
        "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000002",
        "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
        "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000003",
        "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ",
        "HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000004",
        "did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL",
        "J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x",
    ),
]

SECP256K1_VECTORS = [
    (
        "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c",
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
        "23o6Sau8NxxzXcgSc3PLcNxrzrZpbLeBn1izfv3jbKhuv",
    ),
    (
        "f0f4df55a2b3ff13051ea814a8f24ad00f2e469af73c363ac7e9fb999a9072ed",
        "did:key:zQ3shtxV1FrJfhqE1dvxYRcCknWNjHc3c5X1y3ZSoPDi2aur2",
        "291KzQhqCPC18PqH83XKhxv1HdqrdnxyS7dh15t2uNRzJ",
    ),
    (
        "6b0b91287ae3348f8c2f2552d766f30e3604867e34adc37ccbb74a8e6b893e02",
        "did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N",
        "oesQ92MLiAkt2pjBcJFbW7H4DvzKJv22cotjYbmC2JEe",
    ),
    (
        "c0a6a7c560d37d7ba81ecee9543721ff48fea3e0fb827d42c1868226540fac15",
        "did:key:zQ3shadCps5JLAHcZiuX5YUtWHHL8ysBJqFLWvjZDKAWUBGzy",
        "pg3p1vprqePgUoqfAQ1TTgxhL6zLYhHyzooR1pqLxo9F",
    ),
    (
        "175a232d440be1e0788f25488a73d9416c04b6f924bea6354bf05dd2f1a75133",
        "did:key:zQ3shptjE6JwdkeKN4fcpnYQY3m9Cet3NiHdAfpvSUZBFoKBj",
        "24waDFAUAS16UpZwQQTXVEAmm17rQRjadjuAeBDW8aqL1",
    ),
]


@pytest.mark.parametrize(("seed", "did", "key_base58"), ED25519_VECTORS)
def test_ed25519_did_key_vectors(seed: str, did: str, key_base58: str) -> None:
    signer = Ed25519Signer.from_seed(bytes.fromhex(seed))
    assert signer.did == did
    raw = base58btc_decode(key_base58)
    assert did_from_public_key(raw) == did
    mb = did.removeprefix("did:key:")
    vm = resolve(did)["verificationMethod"][0]
    assert vm["id"] == f"{did}#{mb}"
    assert base58btc_decode(vm["publicKeyMultibase"][1:]) == b"\xed\x01" + raw


@pytest.mark.parametrize(("seed", "did", "key_base58"), SECP256K1_VECTORS)
def test_secp256k1_did_key_vectors(seed: str, did: str, key_base58: str) -> None:
    signer = Secp256k1Signer(PrivateKey.from_hex(seed))
    assert signer.did == did
    raw = base58btc_decode(key_base58)
    assert len(raw) == 33
    assert did_from_public_key(raw) == did
    vm = resolve(did)["verificationMethod"][0]
    assert base58btc_decode(vm["publicKeyMultibase"][1:]) == b"\xe7\x01" + raw
