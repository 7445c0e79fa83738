"""The interoperability matrix against an unmodified ACA-Py 1.7 agent, over its admin API.

Both directions, every suite: credentials issued here verify in ACA-Py (its W3C
endpoint ``/vc/credentials/verify`` for Linked Data proofs, ``/vc/di/verify`` for
Data Integrity), and credentials ACA-Py issues (``/vc/credentials/issue``,
``/vc/di/add-proof``) verify here. An edit to any of them fails on both sides.
ACA-Py does not implement ``ecdsa-jcs-2019``: that row is pinned as refused.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from carbonledger.credentials import (
    Ed25519Signer,
    Secp256k1Signer,
    issue,
    validate,
    verify,
)
from carbonledger.credentials.proof import ACAPY_JCS_VARIANT
from carbonledger.crypto.keys import PrivateKey
from tests.acapy_helpers import Agent, agent, home_cli  # noqa: F401  (fixtures)
from tests.cli_helpers import Run, _ok
from tests.vc_helpers import NOW, bill, hourly, v1

OURS = Ed25519Signer.from_seed(bytes(range(32)))


def readings(issuer: str) -> dict[str, Any]:
    return hourly(issuer, 24, first_wh=1000, step_wh=1)


def tampered(credential: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(credential)
    subject = out["credentialSubject"]
    if "amount" in subject:
        subject["amount"] = "10"
    else:
        subject["readings"][5]["value"] = "1"
        subject["total"] = str(int(subject["total"]) - 1004)  # keeps the total consistent
    return out


# --- carbonledger -> ACA-Py ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "suite"),
    [(bill, "Ed25519Signature2020"), (readings, "Ed25519Signature2020"),
     (lambda d: v1(bill(d)), "Ed25519Signature2018")],
)  # fmt: skip
def test_our_linked_data_proofs_verify_at_acapys_w3c_endpoint(
    agent: Agent,  # noqa: F811
    make: Any,
    suite: str,
) -> None:
    signed = issue(make(OURS.did), OURS, suite=suite)
    answer = agent.verify_ld(signed)
    assert answer["verified"] is True, answer
    assert agent.verify_ld(tampered(signed))["verified"] is False


def test_the_default_suite_needs_no_choice_to_reach_acapy(agent: Agent) -> None:  # noqa: F811
    signed = issue(bill(OURS.did), OURS)
    assert agent.verify_ld(signed)["verified"] is True


@pytest.mark.parametrize("make", [bill, readings])
def test_our_eddsa_jcs_2022_verifies_at_acapys_data_integrity_endpoint(
    agent: Agent,  # noqa: F811
    make: Any,
) -> None:
    signed = issue(make(OURS.did), OURS, suite="eddsa-jcs-2022")
    answer = agent.verify_di(signed)
    assert answer["verified"] is True, answer
    assert agent.verify_di(tampered(signed))["verified"] is False


def test_ecdsa_jcs_2019_is_not_implemented_by_acapy(agent: Agent) -> None:  # noqa: F811
    # The documented limitation: ACA-Py 1.7 has no ecdsa-jcs-2019. Pinned so the
    # README changes when a release adds it.
    utility = Secp256k1Signer(PrivateKey.from_bytes(bytes(range(1, 33))))
    signed = issue(bill(utility.did), utility)
    assert verify(signed, now=NOW).ok
    assert agent.verify_di(signed)["verified"] is False
    assert agent.verify_ld(signed)["verified"] is False


# --- ACA-Py -> carbonledger ----------------------------------------------------------------


@pytest.fixture(scope="module")
def acapy_did(agent: Agent) -> str:  # noqa: F811
    """The CI agent's seeded did:key (``CARBONLEDGER_ACAPY_DID``), else a new one."""
    return os.environ.get("CARBONLEDGER_ACAPY_DID") or agent.did_key()


@pytest.mark.parametrize(
    ("make", "proof_type"),
    [(bill, "Ed25519Signature2020"), (readings, "Ed25519Signature2020"),
     (lambda d: v1(bill(d)), "Ed25519Signature2018")],
)  # fmt: skip
def test_acapys_linked_data_proofs_verify_here(
    agent: Agent,  # noqa: F811
    acapy_did: str,
    make: Any,
    proof_type: str,
) -> None:
    signed = agent.issue_ld(make(acapy_did), proof_type)
    assert signed["proof"]["type"] == proof_type
    result = verify(signed, now=NOW)
    assert (result.ok, result.issuer, result.suites) == (True, acapy_did, (proof_type,)), result
    validate(signed)
    assert [e.split(":")[0] for e in verify(tampered(signed), now=NOW).errors] == ["signature"]


@pytest.mark.parametrize("make", [bill, readings])
def test_acapys_eddsa_jcs_2022_verifies_here_as_the_named_variant(
    agent: Agent,  # noqa: F811
    acapy_did: str,
    make: Any,
) -> None:
    secured = agent.add_proof_di(make(acapy_did), acapy_did)
    proofs = secured["proof"] if isinstance(secured["proof"], list) else [secured["proof"]]
    assert all("@context" not in p for p in proofs)  # what ACA-Py signs differs from the spec
    result = verify(secured, now=NOW)
    assert (result.ok, result.suites) == (True, (ACAPY_JCS_VARIANT,)), result
    assert [e.split(":")[0] for e in verify(tampered(secured), now=NOW).errors] == ["signature"]


def test_a_credential_acapy_stores_reads_back_and_verifies(
    agent: Agent,  # noqa: F811
    acapy_did: str,
) -> None:
    signed = agent.issue_ld(
        {**bill(acapy_did), "id": f"urn:uuid:{uuid.uuid4()}"}, "Ed25519Signature2020"
    )
    agent.ok("/vc/credentials/store", {"verifiableCredential": signed})
    stored = [c for c in agent.ok("/vc/credentials")["results"] if c.get("id") == signed["id"]]
    assert stored == [signed]
    assert verify(stored[0], now=NOW).ok


def test_vc_issue_output_goes_to_acapy_as_it_is(
    home_cli: Run,  # noqa: F811
    agent: Agent,  # noqa: F811
    tmp_path: Path,
) -> None:
    cli = home_cli
    did = _ok(cli("did", "create", "comed")).stdout.strip()
    unsigned = tmp_path / "bill.json"
    unsigned.write_text(json.dumps(bill(did)))
    default = tmp_path / "default.json"
    _ok(cli("vc", "issue", str(unsigned), "--key", "comed", "-o", str(default)))
    assert agent.verify_ld(json.loads(default.read_text()))["verified"] is True
    jcs = tmp_path / "jcs.json"
    _ok(cli("vc", "issue", str(unsigned), "--key", "comed", "--suite", "eddsa-jcs-2022",
            "-o", str(jcs)))  # fmt: skip
    assert agent.verify_di(json.loads(jcs.read_text()))["verified"] is True
    refused = _ok(cli("vc", "issue", str(unsigned), "--key", "comed", "--suite", "Rsa2018"), 2)
    assert "unsupported proof suite 'Rsa2018'" in refused.stderr
