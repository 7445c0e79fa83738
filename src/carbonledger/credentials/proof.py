"""Data Integrity proofs with the JCS cryptosuites.

``eddsa-jcs-2022`` (W3C "Data Integrity EdDSA Cryptosuites v1.0", section 3.3)
and, for secp256k1 ledger keys, ``ecdsa-jcs-2019`` (W3C "Data Integrity ECDSA
Cryptosuites v1.0", section 3.3; the suite names P-256 and P-384, and using it
with secp256k1 is our extension):

* transformation: JCS (RFC 8785) of the document without ``proof``;
* proof configuration: JCS of the proof options with the document's
  ``@context`` copied in;
* hashData: SHA-256(canonical proof configuration) || SHA-256(canonical document);
* proofValue: multibase base58btc (``z``) of the signature over hashData.

The Linked Data suites ``Ed25519Signature2020`` and ``Ed25519Signature2018``
(:mod:`.ldp`, URDNA2015 over bundled contexts) are issued and verified beside
them, for Aries agents and W3C VC 1.1 verifiers. ACA-Py 1.x signs
``eddsa-jcs-2022`` with a proof configuration that leaves out ``@context`` (an
earlier draft); such a proof verifies here only as :data:`ACAPY_JCS_VARIANT`,
the name reported instead of the suite's.

Every function here is pure: resolution of the verification method goes through
the ``resolver`` callable (``did:key`` by default, which needs no I/O).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from carbonledger.core.canonical import jcs as canonicalize
from carbonledger.credentials.did import (
    DidDocument,
    Signer,
    base58btc_decode,
    base58btc_encode,
    key_from_multibase,
    resolve,
)
from carbonledger.credentials.jsonld import ContextUnavailable
from carbonledger.credentials.ldp import (
    LD_SUITES,
    ld_sign,
    ld_signature,
    ld_verify_data,
    with_suite_context,
)
from carbonledger.errors import InvalidInput, SignatureInvalid

__all__ = [
    "ACAPY_JCS_VARIANT",
    "CRYPTOSUITES",
    "PROOF_TYPE",
    "SUITES",
    "ProofError",
    "add_proof",
    "canonicalize",
    "create_proof",
    "format_datetime",
    "hash_data",
    "parse_datetime",
    "verify_proof",
    "verify_proofs",
]

PROOF_TYPE: Final = "DataIntegrityProof"
#: Supported cryptosuites and the key type each one signs with.
CRYPTOSUITES: Final = {"eddsa-jcs-2022": "Ed25519", "ecdsa-jcs-2019": "secp256k1"}
#: Every proof an issuer may choose: the Data Integrity cryptosuites, then the LD suites.
SUITES: Final = (*CRYPTOSUITES, *LD_SUITES)
#: How a result names an eddsa-jcs-2022 proof signed without @context in its configuration.
ACAPY_JCS_VARIANT: Final = (
    "eddsa-jcs-2022 (variant: proof configuration without @context, as ACA-Py signs)"
)


def format_datetime(moment: datetime) -> str:
    """Write an aware datetime as an XML Schema dateTimeStamp in UTC, whole seconds."""
    if moment.tzinfo is None:
        raise InvalidInput("a datetime must carry a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: object, field: str) -> datetime:
    """Parse an XML Schema dateTimeStamp (a time zone is required).

    Raises:
        InvalidInput: not a string, not a date-time, or no time zone (names ``field``).
    """
    if not isinstance(text, str) or "T" not in text:
        raise InvalidInput(f"{field} is not a date-time: {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field} is not a date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{field} has no time zone: {text!r}")
    return moment


class ProofError(SignatureInvalid):
    """A proof does not verify; ``check`` names the check that failed."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.reason = message


def hash_data(canonical_proof_config: bytes, canonical_document: bytes) -> bytes:
    """The 64 bytes that are signed: SHA-256 of the proof config, then of the document."""
    return (
        hashlib.sha256(canonical_proof_config).digest()
        + hashlib.sha256(canonical_document).digest()
    )


def _proof_config(unsecured: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    config = dict(options)
    if "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    return config


def create_proof(
    document: Mapping[str, Any],
    signer: Signer,
    *,
    created: datetime | None = None,
    proof_purpose: str = "assertionMethod",
    suite: str | None = None,
) -> dict[str, Any]:
    """Return a proof over ``document``: the signer's Data Integrity cryptosuite, or ``suite``.

    ``suite`` is one of :data:`SUITES`; an LD suite needs an Ed25519 key and the
    document's ``@context`` must already define it (see :func:`add_proof`).
    Any ``proof`` already in ``document`` is left out of what is signed.

    Raises:
        InvalidInput: the document cannot be canonicalized, or the suite is not
            one we implement or cannot use the signer's key.
    """
    if not isinstance(document, Mapping):
        raise InvalidInput("a document to sign must be a JSON object")
    suite = suite or signer.cryptosuite
    if suite not in SUITES:
        raise InvalidInput(f"unsupported proof suite {suite!r}; choose one of {', '.join(SUITES)}")
    key_suite = "eddsa-jcs-2022" if suite in LD_SUITES else suite
    if key_suite != signer.cryptosuite:
        raise InvalidInput(
            f"{suite} cannot sign with the key of {signer.did} ({signer.cryptosuite})"
        )
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    stamp = format_datetime(created or datetime.now(UTC))
    if suite in LD_SUITES:
        ld: dict[str, Any] = {
            "type": suite,
            "created": stamp,
            "verificationMethod": signer.verification_method,
            "proofPurpose": proof_purpose,
        }
        ld_sign(suite, unsecured, ld, signer)
        return ld
    options: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": suite,
        "created": stamp,
        "verificationMethod": signer.verification_method,
        "proofPurpose": proof_purpose,
    }
    config = _proof_config(unsecured, options)
    signature = signer.sign(hash_data(canonicalize(config), canonicalize(unsecured)))
    return {**config, "proofValue": "z" + base58btc_encode(signature)}


def add_proof(
    document: Mapping[str, Any],
    signer: Signer,
    *,
    created: datetime | None = None,
    suite: str | None = None,
) -> dict[str, Any]:
    """Return a copy of ``document`` secured with an ``assertionMethod`` proof.

    For ``Ed25519Signature2020`` the suite's context is appended to ``@context``
    when missing, as every issuer of that suite does.
    """
    if "proof" in document:
        raise InvalidInput("document already has a proof; proof sets are not issued here")
    if suite is not None:
        document = with_suite_context(document, suite)
    return {**document, "proof": create_proof(document, signer, created=created, suite=suite)}


def _find_method(doc: DidDocument, vm_id: str, controller: str, purpose: str) -> Mapping[str, Any]:
    methods = doc.get("verificationMethod")
    method = None
    if isinstance(methods, list):
        for candidate in methods:
            if isinstance(candidate, Mapping) and candidate.get("id") == vm_id:
                method = candidate
                break
    if method is None:
        raise ProofError(
            "verificationMethod", f"{vm_id} is not in the DID document of {controller}"
        )
    if method.get("controller") != controller:
        raise ProofError(
            "verificationMethod",
            f"{vm_id} is controlled by {method.get('controller')!r}, not {controller}",
        )
    allowed = doc.get(purpose)
    if not isinstance(allowed, list) or not any(
        entry == vm_id or (isinstance(entry, Mapping) and entry.get("id") == vm_id)
        for entry in allowed
    ):
        raise ProofError("verificationMethod", f"{vm_id} is not authorised for {purpose}")
    return method


def _check_options(
    proof: object, expected_purpose: str, now: datetime | None
) -> tuple[Mapping[str, Any], str, str, object]:
    """Check the proof's own fields; return (proof, cryptosuite, method id, proofValue)."""
    if not isinstance(proof, Mapping):
        raise ProofError("malformed proof", "proof must be a JSON object")
    kind = proof.get("type")
    if kind in LD_SUITES:
        suite = str(kind)
    elif kind != PROOF_TYPE:
        raise ProofError(
            "malformed proof",
            f"proof type {kind!r} is not {PROOF_TYPE} or one of {', '.join(LD_SUITES)}",
        )
    else:
        named = proof.get("cryptosuite")
        if not isinstance(named, str) or named not in CRYPTOSUITES:
            raise ProofError("unsupported cryptosuite", f"{named!r} is not one we verify")
        suite = named
    if proof.get("proofPurpose") != expected_purpose:
        raise ProofError(
            "proof purpose", f"{proof.get('proofPurpose')!r} is not {expected_purpose}"
        )
    vm_id = proof.get("verificationMethod")
    value = proof.get("proofValue")
    if not isinstance(vm_id, str) or "#" not in vm_id:
        raise ProofError("malformed proof", "verificationMethod must be a DID URL with a fragment")
    if suite != "Ed25519Signature2018" and (
        not isinstance(value, str) or not value.startswith("z")
    ):
        raise ProofError("malformed proof", "proofValue must be multibase base58btc ('z')")
    if "previousProof" in proof:
        raise ProofError("malformed proof", "proof chains (previousProof) are not supported")
    try:
        if "created" in proof:
            parse_datetime(proof["created"], "proof.created")
        expires = parse_datetime(proof["expires"], "proof.expires") if "expires" in proof else None
    except InvalidInput as exc:
        raise ProofError("malformed proof", str(exc)) from None
    if expires is not None and (now or datetime.now(UTC)) > expires:
        raise ProofError("proof expired", f"the proof expired at {proof['expires']}")
    return proof, suite, vm_id, value


def _verify_one(
    secured: Mapping[str, Any],
    proof: object,
    unsecured: dict[str, Any],
    resolver: Callable[[str], DidDocument],
    *,
    expected_purpose: str,
    now: datetime | None,
) -> tuple[str, str]:
    """Verify one proof; return (controller, the suite or variant it verified as)."""
    checked, suite, vm_id, value = _check_options(proof, expected_purpose, now)
    options = {k: v for k, v in checked.items() if k not in ("proofValue", "jws")}
    if "@context" in options:
        # Spec step: the document's @context must start with the proof's, in order,
        # and the proof's @context is what the document is verified with.
        proof_ctx = options["@context"]
        doc_ctx = secured.get("@context")
        proof_list = proof_ctx if isinstance(proof_ctx, list) else [proof_ctx]
        doc_list = doc_ctx if isinstance(doc_ctx, list) else [doc_ctx]
        if doc_list[: len(proof_list)] != proof_list:
            raise ProofError("signature", "the document's @context does not start with the proof's")
        unsecured["@context"] = proof_ctx

    controller = vm_id.split("#", 1)[0]
    try:
        method = _find_method(resolver(controller), vm_id, controller, expected_purpose)
        key = key_from_multibase(method.get("publicKeyMultibase"))
    except (LookupError, ValueError) as exc:  # NotFound, KeyError, InvalidInput, ...
        raise ProofError("verificationMethod", f"cannot resolve {vm_id}: {exc}") from None
    needed = "Ed25519" if suite in LD_SUITES else CRYPTOSUITES[suite]
    if key.key_type != needed:
        raise ProofError("unsupported cryptosuite", f"{suite} cannot use a {key.key_type} key")
    try:
        if suite in LD_SUITES:
            signature, prefix = ld_signature(suite, checked)
            payloads = [(suite, prefix + ld_verify_data(unsecured, options))]
        else:
            signature = base58btc_decode(str(value)[1:])
            document_hash = hashlib.sha256(canonicalize(unsecured)).digest()
            payloads = [(suite, _jcs_payload(_proof_config(unsecured, options), document_hash))]
            if "@context" not in options and "@context" in unsecured and suite == "eddsa-jcs-2022":
                # ACA-Py 1.x leaves @context out of the proof configuration.
                payloads.append((ACAPY_JCS_VARIANT, _jcs_payload(options, document_hash)))
    except ContextUnavailable as exc:
        raise ProofError("context", str(exc)) from None
    except InvalidInput as exc:
        raise ProofError("malformed proof", str(exc)) from None
    for name, payload in payloads:
        if key.verify(signature, payload):
            return controller, name
    raise ProofError(
        "signature",
        f"{'proofValue' if suite != 'Ed25519Signature2018' else 'jws'}"
        f" does not verify with {vm_id}",
    )


def _jcs_payload(config: Mapping[str, Any], document_hash: bytes) -> bytes:
    return hashlib.sha256(canonicalize(config)).digest() + document_hash


def verify_proof(
    document: Mapping[str, Any],
    *,
    resolver: Callable[[str], DidDocument] = resolve,
    expected_purpose: str = "assertionMethod",
    now: datetime | None = None,
) -> str:
    """Verify every proof on ``document``; return the controller DID of the signer.

    See :func:`verify_proofs`, which also names the suite each proof verified as.
    """
    return verify_proofs(document, resolver=resolver, expected_purpose=expected_purpose, now=now)[0]


def verify_proofs(
    document: Mapping[str, Any],
    *,
    resolver: Callable[[str], DidDocument] = resolve,
    expected_purpose: str = "assertionMethod",
    now: datetime | None = None,
) -> tuple[str, tuple[str, ...]]:
    """Verify every proof on ``document``; return the signer's controller DID and suites.

    A proof set (a list) verifies only when every proof does, and all must be
    made by one controller. Each suite is named as it verified: a cryptosuite,
    an LD proof type, or :data:`ACAPY_JCS_VARIANT`.

    Raises:
        InvalidInput: ``document`` is not a JSON object.
        ProofError: a proof is missing, malformed, of an unsupported cryptosuite,
            names a key that does not resolve, or does not verify (``check``
            says which).
    """
    if not isinstance(document, Mapping):
        raise InvalidInput("a secured document must be a JSON object")
    proofs = document.get("proof")
    if proofs is None:
        raise ProofError("signature", "the document has no proof")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    if not isinstance(proofs, list):
        controller, suite = _verify_one(
            document, proofs, unsecured, resolver, expected_purpose=expected_purpose, now=now
        )
        return controller, (suite,)
    if not proofs:
        raise ProofError("signature", "the document has an empty proof set")
    results = [
        _verify_one(
            document, p, dict(unsecured), resolver, expected_purpose=expected_purpose, now=now
        )
        for p in proofs
    ]
    controllers = {c for c, _ in results}
    if len(controllers) != 1:
        raise ProofError("signature", f"proof set signed by several controllers: {controllers}")
    return controllers.pop(), tuple(name for _, name in results)
