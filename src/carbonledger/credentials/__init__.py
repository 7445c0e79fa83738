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

import json
from functools import cache
from importlib import resources
from typing import Any, Final

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
from carbonledger.errors import NotFound

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

#: Context URL -> bundled file in ``carbonledger/credentials/contexts``.
CONTEXT_FILES: Final = {
    VC_V2_CONTEXT: "credentials-v2.jsonld",
    "https://carbonledger.org/ns/v1": "carbonledger-v1.jsonld",
}


@cache
def _context_text(url: str) -> str:
    name = CONTEXT_FILES.get(url)
    if name is None:
        raise NotFound(f"no bundled JSON-LD context for {url}; contexts are never fetched")
    return resources.files(__name__).joinpath("contexts", name).read_text(encoding="utf-8")


def load_context(url: str) -> dict[str, Any]:
    """Return a bundled JSON-LD context document (a fresh dict) for a document loader.

    Raises:
        NotFound: ``url`` is not a context carbonledger ships.
    """
    loaded: dict[str, Any] = json.loads(_context_text(url))
    return loaded
