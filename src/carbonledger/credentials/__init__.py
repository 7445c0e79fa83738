"""Decentralised identifiers and verifiable credentials for meters, utilities and auditors.

``did:key`` identities (:mod:`.did`), Data Integrity proofs with the JCS
cryptosuites (:mod:`.proof`) and the Linked Data suites Ed25519Signature2020/2018
(:mod:`.ldp`, URDNA2015 over bundled contexts: :mod:`.jsonld`), issuing and
verifying W3C Verifiable Credentials (:mod:`.vc`), Bitstring Status List
revocation (:mod:`.status`), carbonledger's credential types (:mod:`.types`) and
credentials from Aries agents (:mod:`.aries`). Everything is pure except reading
the bundled JSON-LD contexts in ``contexts/`` and, only when called,
:func:`.aries.fetch_agent_credentials`; a context is never fetched.

    signer = Ed25519Signer.generate()
    vc = issue(meter_readings_credential(issuer=signer.did, ...), signer)
    assert verify(vc).ok
"""

from __future__ import annotations

from carbonledger.credentials.bundled import CONTEXT_FILES, load_context
from carbonledger.credentials.did import (
    DidDocument,
    Ed25519Signer,
    Secp256k1Signer,
    Signer,
    did_from_public_key,
    generate_ed25519,
    resolve,
)
from carbonledger.credentials.proof import ProofError, canonicalize
from carbonledger.credentials.status import (
    BitstringStatusList,
    StatusListChecker,
    issue_status_list,
    status_entry,
)
from carbonledger.credentials.types import (
    RecordVerdict,
    audit_result_credential,
    meter_readings_credential,
    utility_bill_credential,
    validate,
)
from carbonledger.credentials.vc import (
    VC_V1_CONTEXT,
    VC_V2_CONTEXT,
    VerificationResult,
    issue,
    verify,
    verify_many,
)

__all__ = [
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
