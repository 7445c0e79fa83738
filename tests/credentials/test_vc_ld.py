"""Linked Data proofs (Ed25519Signature2020/2018), suite choice, ACA-Py's JCS variant, old shapes.

In process, no agent: what an issuer gets by default, what a verifier accepts and
names, and what an attacker who edits a signed credential or its proof gets.
The same credentials go through a real ACA-Py agent in ``test_vc_acapy.py``.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from carbonledger.credentials import (
    Ed25519Signer,
    RecordVerdict,
    Secp256k1Signer,
    audit_result_credential,
    issue,
    validate,
    verify,
)
from carbonledger.credentials.did import base58btc_encode
from carbonledger.credentials.jsonld import ContextUnavailable, canonize
from carbonledger.credentials.proof import ACAPY_JCS_VARIANT, add_proof, canonicalize, hash_data
from carbonledger.credentials.types import CARBONLEDGER_CONTEXT
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput
from carbonledger.services.credential_checks import fast_readings
from tests.vc_helpers import NOW, bill, hourly, v1

UTILITY = Ed25519Signer.from_seed(bytes(range(32)))


def v1_bill() -> dict[str, Any]:
    return v1(bill(UTILITY.did))


def checks(result: Any) -> list[str]:
    return [e.split(":", 1)[0] for e in result.errors]


def test_default_suite_is_the_one_aries_w3c_endpoints_accept() -> None:
    signed = issue(bill(UTILITY.did), UTILITY)
    assert signed["proof"]["type"] == "Ed25519Signature2020"
    # The suite's context is added so an agent can expand the proof offline.
    assert signed["@context"][-1] == "https://w3id.org/security/suites/ed25519-2020/v1"
    result = verify(signed, now=NOW)
    assert (result.ok, result.suites) == (True, ("Ed25519Signature2020",)), result.errors


def test_readings_audit_results_and_secp256k1_keys_keep_their_jcs_suites() -> None:
    readings = hourly(UTILITY.did, 24)
    assert issue(readings, UTILITY)["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    audit = audit_result_credential(
        issuer=UTILITY.did, organisation="acme", period_start=date(2024, 1, 1),
        period_end=date(2024, 1, 31), records=[RecordVerdict("r1", "verified", "bill matches")],
    )  # fmt: skip
    assert issue(audit, UTILITY)["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    utility = Secp256k1Signer(PrivateKey.from_bytes(bytes(range(1, 33))))
    assert issue(bill(utility.did), utility)["proof"]["cryptosuite"] == "ecdsa-jcs-2019"
    with pytest.raises(InvalidInput, match="cannot sign with the key"):
        issue(bill(utility.did), utility, suite="Ed25519Signature2020")
    with pytest.raises(InvalidInput, match="unsupported proof suite"):
        issue(bill(UTILITY.did), UTILITY, suite="RsaSignature2018")


@pytest.mark.parametrize(
    ("suite", "make"),
    [("Ed25519Signature2020", lambda: bill(UTILITY.did)), ("Ed25519Signature2018", v1_bill),
     ("Ed25519Signature2020", v1_bill), ("eddsa-jcs-2022", lambda: bill(UTILITY.did))],
)  # fmt: skip
def test_every_suite_round_trips_and_any_edit_breaks_it(suite: str, make: Any) -> None:
    signed = issue(make(), UTILITY, suite=suite)
    result = verify(signed, now=NOW)
    assert (result.ok, result.suites) == (True, (suite,)), result.errors
    assert validate(signed) == "UtilityBillCredential"

    changed = copy.deepcopy(signed)
    changed["credentialSubject"]["amount"] = "100"  # the bill, a tenth of what was billed
    assert checks(verify(changed, now=NOW)) == ["signature"]
    moved = copy.deepcopy(signed)
    moved["proof"]["created"] = "2030-01-01T00:00:00Z"  # the proof options are signed too
    assert checks(verify(moved, now=NOW)) == ["signature"]
    forger = Ed25519Signer.from_seed(b"\x07" * 32)  # signs a bill in the utility's name
    forged = add_proof(make(), forger, suite=suite)
    assert checks(verify(forged, now=NOW)) == ["issuer mismatch"]


def test_a_property_the_context_does_not_define_is_refused_not_ignored() -> None:
    # Under VC 1.1 an undefined property would be dropped from the N-Quads, so the
    # signature would still hold over a credential that says more than was signed.
    signed = issue(v1_bill(), UTILITY, suite="Ed25519Signature2018")
    signed["credentialSubject"]["discount"] = "100%"
    result = verify(signed, now=NOW)
    assert not result.ok
    assert "discount not defined by the document's @context" in result.errors[0]
    unsigned = v1_bill()
    unsigned["note"] = "unsigned words"
    with pytest.raises(InvalidInput, match="note not defined"):
        issue(unsigned, UTILITY, suite="Ed25519Signature2020")


def test_contexts_are_never_fetched() -> None:
    credential = bill(UTILITY.did)
    credential["@context"] = [*credential["@context"], "https://attacker.example/ctx"]
    with pytest.raises(ContextUnavailable, match="never fetched from the network"):
        canonize(credential)
    signed = issue(bill(UTILITY.did), UTILITY)
    signed["@context"].insert(1, "https://attacker.example/ctx")
    result = verify(signed, now=NOW)
    assert not result.ok
    assert "never fetched" in result.errors[0]


def test_a_forged_jws_header_is_malformed() -> None:
    signed = issue(v1_bill(), UTILITY, suite="Ed25519Signature2018")
    signature = signed["proof"]["jws"].split(".")[2]
    signed["proof"]["jws"] = f"eyJhbGciOiJub25lIn0..{signature}"  # {"alg":"none"}
    assert checks(verify(signed, now=NOW)) == ["malformed proof"]


def _acapy_style_jcs(document: dict[str, Any], signer: Ed25519Signer) -> dict[str, Any]:
    """eddsa-jcs-2022 as ACA-Py 1.x signs it: the proof configuration without @context."""
    options = {
        "type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022",
        "created": "2024-02-01T00:00:00Z", "verificationMethod": signer.verification_method,
        "proofPurpose": "assertionMethod",
    }  # fmt: skip
    signature = signer.sign(hash_data(canonicalize(options), canonicalize(document)))
    return {**document, "proof": {**options, "proofValue": "z" + base58btc_encode(signature)}}


def test_acapy_jcs_variant_verifies_only_under_its_own_name() -> None:
    standard = verify(issue(bill(UTILITY.did), UTILITY, suite="eddsa-jcs-2022"), now=NOW)
    assert standard.suites == ("eddsa-jcs-2022",)
    variant = verify(_acapy_style_jcs(bill(UTILITY.did), UTILITY), now=NOW)
    assert (variant.ok, variant.suites) == (True, (ACAPY_JCS_VARIANT,)), variant.errors
    assert "without @context" in ACAPY_JCS_VARIANT
    tampered = _acapy_style_jcs(bill(UTILITY.did), UTILITY)
    tampered["credentialSubject"]["amount"] = "1"
    assert checks(verify(tampered, now=NOW)) == ["signature"]


def test_readings_are_json_ld_objects_and_old_pairs_still_read() -> None:
    new = hourly(UTILITY.did, 3)
    rows = new["credentialSubject"]["readings"]
    assert rows[1] == {"start": "2024-01-01T01:00:00Z", "value": "1000"}
    assert isinstance(new["@context"][1], dict)  # terms inline: no context URL to resolve
    assert "<https://carbonledger.org/ns/v1#intervalStart>" in canonize(new)

    # A credential issued before the change: [start, value] pairs, the context by URL.
    old = copy.deepcopy(new)
    old["@context"] = ["https://www.w3.org/ns/credentials/v2", CARBONLEDGER_CONTEXT]
    old["credentialSubject"]["readings"] = [[r["start"], r["value"]] for r in rows]
    signed = add_proof(old, UTILITY)
    assert verify(signed, now=NOW).ok
    assert validate(signed) == "MeterReadingsCredential"
    times, values = fast_readings(signed)
    assert (len(times), sum(values)) == (3, 3000)  # 3 hours x 1000 Wh
    signed["credentialSubject"]["readings"][0] = {"start": rows[0]["start"]}
    with pytest.raises(InvalidInput, match="readings"):
        validate(signed)
