from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

import carbonledger.credentials as cred
from carbonledger.credentials import (
    BitstringStatusList,
    Ed25519Signer,
    RecordVerdict,
    Secp256k1Signer,
    StatusListChecker,
    audit_result_credential,
    canonicalize,
    issue,
    issue_status_list,
    load_context,
    meter_readings_credential,
    status_entry,
    utility_bill_credential,
    validate,
    verify,
    verify_many,
)
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput, NotFound

NOW = datetime(2024, 6, 1, tzinfo=UTC)
ISSUED = datetime(2024, 2, 1, tzinfo=UTC)
LIST_URL = "https://utility.example/status/1"


@pytest.fixture(scope="module")
def meter() -> Ed25519Signer:
    return Ed25519Signer.from_seed(bytes(range(32)))


@pytest.fixture(scope="module")
def other() -> Ed25519Signer:
    return Ed25519Signer.from_seed(bytes(range(1, 33)))


def readings_vc(signer: Ed25519Signer, **extra: Any) -> dict[str, Any]:
    rows = [
        (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * i), f"{i}.125") for i in range(8)
    ]
    unsigned = meter_readings_credential(
        issuer=signer.did,
        meter_id="meter-7",
        site_id="site-1",
        interval_seconds=900,
        readings=rows,
        credential_id="urn:uuid:0b1d6c1e-0000-4000-8000-000000000001",
        valid_from=ISSUED,
    )
    unsigned.update(extra)
    return issue(unsigned, signer, created=ISSUED)


def checks(result: cred.VerificationResult) -> list[str]:
    return [e.split(":")[0] for e in result.errors]


# --- round trips ---------------------------------------------------------------------


def test_meter_readings_round_trip(meter: Ed25519Signer) -> None:
    vc = readings_vc(meter)
    result = verify(vc, now=NOW)
    assert result.ok, result.errors
    assert result.issuer == meter.did
    assert result.types == ["VerifiableCredential", "MeterReadingsCredential"]
    assert vc["credentialSubject"]["total"] == "29.000"  # exact sum, scale kept
    assert validate(vc) == "MeterReadingsCredential"


def test_secp256k1_issuer_round_trip() -> None:
    signer = Secp256k1Signer(PrivateKey.generate())
    vc = issue({**readings_vc_unsigned(signer.did)}, signer, created=ISSUED)
    assert vc["proof"]["cryptosuite"] == "ecdsa-jcs-2019"
    assert verify(vc, now=NOW).ok


def readings_vc_unsigned(issuer: str) -> dict[str, Any]:
    return meter_readings_credential(
        issuer=issuer,
        meter_id="m",
        site_id="s",
        interval_seconds=3600,
        readings=[(datetime(2024, 1, 1, tzinfo=UTC), Decimal("1.5"))],
        valid_from=ISSUED,
    )


def test_utility_bill_and_audit_result_round_trip(meter: Ed25519Signer) -> None:
    bill = utility_bill_credential(
        issuer=meter.did,
        account="ACC-1",
        site_id="site-1",
        period_start=date(2024, 1, 1),
        period_end=date(2024, 1, 31),
        amount=Decimal("1234.5"),
        unit="kWh",
        cost="-3.20",
        currency="EUR",
        valid_from=ISSUED,
    )
    audit = audit_result_credential(
        issuer=meter.did,
        organisation="org-1",
        period_start=date(2024, 1, 1),
        period_end=date(2024, 12, 31),
        records=[
            RecordVerdict("r1", "verified", "signature and totals hold"),
            RecordVerdict("r2", "contradicted", "bill total differs from meter total"),
        ],
        valid_from=ISSUED,
    )
    for unsigned in (bill, audit):
        result = verify(issue(unsigned, meter, created=ISSUED), now=NOW)
        assert result.ok, result.errors
        validate(unsigned)


def test_v1_credential_with_issuance_date(meter: Ed25519Signer) -> None:
    unsigned = {
        "@context": [cred.VC_V1_CONTEXT],
        "type": ["VerifiableCredential"],
        "issuer": meter.did,
        "issuanceDate": "2024-01-01T00:00:00Z",
        "expirationDate": "2025-01-01T00:00:00Z",
        "credentialSubject": {"id": "urn:x"},
    }
    vc = issue(unsigned, meter, created=ISSUED)
    assert verify(vc, now=NOW).ok
    assert checks(verify(vc, now=datetime(2026, 1, 1, tzinfo=UTC))) == ["expired"]
    assert checks(verify(vc, now=datetime(2023, 1, 1, tzinfo=UTC))) == ["not yet valid"]


json_leaf = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_value)
@settings(max_examples=400)
def test_canonicalize_equals_rfc8785(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda k: k not in ("id", "type")),
        json_value,
        max_size=6,
    )
)
@settings(max_examples=60, deadline=None)
def test_any_subject_round_trips_and_any_change_is_caught(subject: dict[str, Any]) -> None:
    signer = Ed25519Signer.from_seed(bytes(32))
    unsigned = {
        "@context": [cred.VC_V2_CONTEXT],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "urn:s", **subject},
    }
    vc = issue(unsigned, signer, created=ISSUED)
    assert verify(vc, now=NOW).ok
    tampered = copy.deepcopy(vc)
    tampered["credentialSubject"]["id"] = "urn:t"
    assert checks(verify(tampered, now=NOW)) == ["signature"]


# --- tampering: each failure names its own check --------------------------------------


def test_changed_reading_value(meter: Ed25519Signer) -> None:
    vc = readings_vc(meter)
    vc["credentialSubject"]["readings"][3]["value"] = "999"
    assert checks(verify(vc, now=NOW)) == ["signature"]


def test_changed_issuer(meter: Ed25519Signer, other: Ed25519Signer) -> None:
    vc = readings_vc(meter)
    vc["issuer"] = other.did
    result = verify(vc, now=NOW)
    assert checks(result) == ["signature"]  # issuer is signed, so the proof breaks first


def test_proof_from_another_key(meter: Ed25519Signer, other: Ed25519Signer) -> None:
    # A valid proof by another key on the meter's credential: the signature holds,
    # but the key does not belong to the issuer.
    unsigned = {k: v for k, v in readings_vc(meter).items() if k != "proof"}
    vc = {**unsigned, "proof": cred.proof.create_proof(unsigned, other, created=ISSUED)}
    result = verify(vc, now=NOW)
    assert checks(result) == ["issuer mismatch"]
    assert "does not match verificationMethod controller" in result.errors[0]


def test_expired_and_not_yet_valid(meter: Ed25519Signer) -> None:
    vc = readings_vc(meter, validUntil="2024-03-01T00:00:00Z")
    assert checks(verify(vc, now=NOW)) == ["expired"]
    assert checks(verify(vc, now=datetime(2024, 1, 1, tzinfo=UTC))) == ["not yet valid"]
    assert verify(vc, now=datetime(2024, 2, 15, tzinfo=UTC)).ok


def test_unknown_cryptosuite(meter: Ed25519Signer) -> None:
    vc = readings_vc(meter)
    vc["proof"]["cryptosuite"] = "eddsa-rdfc-2022"
    assert checks(verify(vc, now=NOW)) == ["unsupported cryptosuite"]


def test_missing_proof_and_malformed(meter: Ed25519Signer) -> None:
    vc = readings_vc(meter)
    del vc["proof"]
    assert checks(verify(vc, now=NOW)) == ["signature"]
    assert checks(verify({"proof": {}}, now=NOW))[:1] == ["malformed"]


def test_untrusted_issuer(meter: Ed25519Signer, other: Ed25519Signer) -> None:
    vc = readings_vc(meter)
    seen: list[str] = []

    def trusted(issuer: str, credential: Mapping[str, Any]) -> bool:
        seen.append(issuer)
        return issuer == other.did

    assert checks(verify(vc, now=NOW, trusted=trusted)) == ["untrusted issuer"]
    assert seen == [meter.did]


def test_verify_raises_only_for_non_objects() -> None:
    with pytest.raises(InvalidInput):
        verify("not a credential", now=NOW)  # type: ignore[arg-type]


def test_issue_refuses_another_issuer(meter: Ed25519Signer, other: Ed25519Signer) -> None:
    with pytest.raises(InvalidInput, match="is not the signer"):
        issue(readings_vc_unsigned(meter.did), other)


def test_floats_are_refused_by_builders(meter: Ed25519Signer) -> None:
    with pytest.raises(InvalidInput, match="not float"):
        meter_readings_credential(
            issuer=meter.did,
            meter_id="m",
            site_id="s",
            interval_seconds=900,
            readings=[(datetime(2024, 1, 1, tzinfo=UTC), 1.5)],  # type: ignore[list-item]
        )


def test_validators_name_the_field(meter: Ed25519Signer) -> None:
    vc = readings_vc(meter)
    vc["credentialSubject"]["total"] = "30"
    with pytest.raises(InvalidInput, match="total"):
        validate(vc)
    vc = readings_vc(meter)
    vc["credentialSubject"]["readings"][2]["start"] = "2024-01-01T00:07:00Z"
    with pytest.raises(InvalidInput, match=r"readings\[2\]\.start"):
        validate(vc)


def test_verify_many_reports_each(meter: Ed25519Signer) -> None:
    good = readings_vc(meter)
    bad = copy.deepcopy(good)
    bad["credentialSubject"]["siteId"] = "site-2"
    results = verify_many([good, bad, good], now=NOW)
    assert [r.ok for r in results] == [True, False, True]


# --- status list ---------------------------------------------------------------------


def test_bitstring_encode_decode() -> None:
    bits = BitstringStatusList()
    bits.set(0)
    bits.set(131_071)
    bits.set(42)
    bits.clear(42)
    again = BitstringStatusList.decode(bits.encode())
    assert again.is_set(0)
    assert again.is_set(131_071)
    assert not again.is_set(42)
    assert bits.encode().startswith("u")
    with pytest.raises(InvalidInput):
        BitstringStatusList(1024)
    with pytest.raises(InvalidInput):
        bits.set(131_072)


def _with_status(signer: Ed25519Signer, index: int) -> dict[str, Any]:
    unsigned = readings_vc_unsigned(signer.did)
    unsigned["credentialStatus"] = status_entry(LIST_URL, index)
    return issue(unsigned, signer, created=ISSUED)


def test_revoked_via_status_list(meter: Ed25519Signer) -> None:
    bits = BitstringStatusList()
    bits.set(7)
    lists = {LIST_URL: issue_status_list(bits, meter, list_id=LIST_URL, created=ISSUED)}
    checker = StatusListChecker(lambda url: lists[url])
    assert checks(verify(_with_status(meter, 7), now=NOW, status_checker=checker)) == ["revoked"]
    assert verify(_with_status(meter, 8), now=NOW, status_checker=checker).ok
    # without a checker, a status entry is never silently skipped
    assert checks(verify(_with_status(meter, 8), now=NOW)) == ["status"]


def test_status_list_with_broken_proof(meter: Ed25519Signer) -> None:
    bits = BitstringStatusList()
    list_vc = issue_status_list(bits, meter, list_id=LIST_URL, created=ISSUED)
    revoked = BitstringStatusList()
    revoked.set(3)
    list_vc["credentialSubject"]["encodedList"] = revoked.encode()  # content swapped
    checker = StatusListChecker(lambda url: list_vc)
    result = verify(_with_status(meter, 1), now=NOW, status_checker=checker)
    assert checks(result) == ["status"]
    assert "does not verify" in result.errors[0]


def test_status_list_by_another_issuer(meter: Ed25519Signer, other: Ed25519Signer) -> None:
    list_vc = issue_status_list(BitstringStatusList(), other, list_id=LIST_URL, created=ISSUED)
    checker = StatusListChecker(lambda url: list_vc)
    assert checks(verify(_with_status(meter, 1), now=NOW, status_checker=checker)) == ["status"]


def test_status_list_missing(meter: Ed25519Signer) -> None:
    def fetch(url: str) -> dict[str, Any]:
        raise NotFound(url)

    result = verify(_with_status(meter, 1), now=NOW, status_checker=StatusListChecker(fetch))
    assert checks(result) == ["status"]


# --- contexts ------------------------------------------------------------------------


def test_bundled_contexts_load() -> None:
    v2 = load_context(cred.VC_V2_CONTEXT)
    assert "BitstringStatusListEntry" in v2["@context"]
    ours = load_context("https://carbonledger.org/ns/v1")
    assert ours["@context"]["cl"] == "https://carbonledger.org/ns/v1#"
    with pytest.raises(NotFound):
        load_context("https://example.com/other")


def test_public_api_is_pinned() -> None:
    assert sorted(cred.__all__) == sorted(
        [
            "CONTEXT_FILES",
            "VC_V1_CONTEXT",
            "VC_V2_CONTEXT",
            "BitstringStatusList",
            "DidDocument",
            "Ed25519Signer",
            "ProofError",
            "RecordVerdict",
            "Secp256k1Signer",
            "Signer",
            "StatusListChecker",
            "VerificationResult",
            "audit_result_credential",
            "canonicalize",
            "did_from_public_key",
            "generate_ed25519",
            "issue",
            "issue_status_list",
            "load_context",
            "meter_readings_credential",
            "resolve",
            "status_entry",
            "utility_bill_credential",
            "validate",
            "verify",
            "verify_many",
        ]
    )
