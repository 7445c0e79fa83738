"""Decentralised identifiers and verifiable credentials for meters, utilities and auditors.

``did:key`` identities (:mod:`.did`), Data Integrity proofs with the JCS
cryptosuites (:mod:`.proof`), issuing and verifying W3C Verifiable Credentials
(:mod:`.vc`), Bitstring Status List revocation (:mod:`.status`) and
carbonledger's credential types (:mod:`.types`). Everything is pure: the only
I/O is reading the bundled JSON-LD contexts in ``contexts/``.

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
