"""Issue and verify W3C Verifiable Credentials (Data Model 2.0, and 1.1 read-only).

``verify`` never raises for a bad credential: it returns a
:class:`VerificationResult` whose ``errors`` each start with the check that
failed (``signature``, ``issuer mismatch``, ``not yet valid``, ``expired``,
``revoked``, ``untrusted issuer``, ...). It raises only when handed something
that is not a JSON object at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from carbonledger.credentials.did import DidDocument, Signer, resolve
from carbonledger.credentials.proof import (
    SUITES,
    ProofError,
    add_proof,
    parse_datetime,
    verify_proofs,
)
from carbonledger.errors import InvalidInput

__all__ = [
    "VC_V1_CONTEXT",
    "VC_V2_CONTEXT",
    "StatusChecker",
    "TrustPolicy",
    "VerificationResult",
    "default_suite",
    "issue",
    "issuer_id",
    "verify",
    "verify_many",
]

VC_V2_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
VC_V1_CONTEXT: Final = "https://www.w3.org/2018/credentials/v1"


class StatusChecker(Protocol):
    """Checks ``credentialStatus``; returns error strings (empty when in good standing)."""

    def __call__(self, credential: Mapping[str, Any], now: datetime) -> list[str]: ...


#: Decides whether an issuer may issue this credential: ``trusted(issuer, credential)``.
TrustPolicy = Callable[[str, Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The outcome of :func:`verify`: ``ok`` only when ``errors`` is empty."""

    ok: bool
    errors: list[str] = field(default_factory=list)
    issuer: str | None = None
    types: list[str] = field(default_factory=list)
    #: How each proof verified: a cryptosuite, an LD proof type, or a named variant.
    suites: tuple[str, ...] = ()


def issuer_id(credential: Mapping[str, Any]) -> str | None:
    """The issuer's id: ``issuer`` as a string, or ``issuer.id`` of an object."""
    issuer = credential.get("issuer")
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _types(credential: Mapping[str, Any]) -> list[str]:
    value = credential.get("type")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for t in value if isinstance(t, str)]
    return []


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidInput("now must be a timezone-aware datetime")
    return now


def _first_context(credential: Mapping[str, Any]) -> object:
    ctx = credential.get("@context")
    return ctx[0] if isinstance(ctx, list) and ctx else ctx


def _structure_errors(credential: Mapping[str, Any]) -> list[str]:
    errors = []
    first = _first_context(credential)
    if first not in (VC_V2_CONTEXT, VC_V1_CONTEXT):
        errors.append(f"malformed: @context must start with {VC_V2_CONTEXT} (or the v1 context)")
    if "VerifiableCredential" not in _types(credential):
        errors.append("malformed: type must include VerifiableCredential")
    if issuer_id(credential) is None:
        errors.append("malformed: issuer must be a URL or an object with an id")
    if not isinstance(credential.get("credentialSubject"), Mapping | list):
        errors.append("malformed: credentialSubject is missing")
    return errors


def default_suite(credential: Mapping[str, Any], signer: Signer) -> str:
    """The proof an issuer gets when it does not choose one.

    ``Ed25519Signature2020`` for an Ed25519 key: the suite the most verifiers
    accept (ACA-Py's W3C endpoint ``/vc/credentials/verify`` and VC 1.1
    verifiers generally; ``eddsa-jcs-2022`` only reaches Data Integrity
    endpoints). Credentials whose size grows with the data, meter readings and
    audit results, keep ``eddsa-jcs-2022``: a month of hourly readings costs
    about half a second to canonicalise as JSON-LD and a millisecond as JCS, and
    ACA-Py verifies them at ``/vc/di/verify``. A secp256k1 key signs
    ``ecdsa-jcs-2019``.
    """
    if signer.cryptosuite != "eddsa-jcs-2022" or set(_BULK) & set(_types(credential)):
        return signer.cryptosuite
    return "Ed25519Signature2020"


#: Credential types that grow with the data they carry: JCS by default.
_BULK: Final = ("MeterReadingsCredential", "AuditResultCredential")


def issue(
    credential: Mapping[str, Any],
    signer: Signer,
    *,
    created: datetime | None = None,
    suite: str | None = None,
) -> dict[str, Any]:
    """Return a copy of ``credential`` with a proof by ``signer``.

    ``suite`` is one of ``eddsa-jcs-2022``, ``ecdsa-jcs-2019`` (Data Integrity),
    ``Ed25519Signature2020`` or ``Ed25519Signature2018`` (Linked Data); without
    it, :func:`default_suite` chooses. ``issuer`` is set to the signer's DID when
    absent, and must equal it when present.

    Raises:
        InvalidInput: not a credential (context, type, subject), an issuer other
            than the signer, an existing proof, a suite the key cannot sign, or
            content the suite cannot carry (an undefined JSON-LD term, ...).
    """
    if not isinstance(credential, Mapping):
        raise InvalidInput("a credential must be a JSON object")
    unsigned = dict(credential)
    unsigned.setdefault("issuer", signer.did)
    problems = _structure_errors(unsigned)
    if problems:
        raise InvalidInput("; ".join(problems))
    if issuer_id(unsigned) != signer.did:
        raise InvalidInput(f"issuer {issuer_id(unsigned)} is not the signer {signer.did}")
    if suite is not None and suite not in SUITES:
        raise InvalidInput(f"unsupported proof suite {suite!r}; choose one of {', '.join(SUITES)}")
    chosen = suite or default_suite(unsigned, signer)
    return add_proof(unsigned, signer, created=created, suite=chosen)


def _validity_errors(credential: Mapping[str, Any], now: datetime) -> list[str]:
    errors = []
    v1 = _first_context(credential) == VC_V1_CONTEXT
    start_field, end_field = (
        ("issuanceDate", "expirationDate") if v1 else ("validFrom", "validUntil")
    )
    if v1 and start_field not in credential:
        errors.append("malformed: a v1 credential needs issuanceDate")
    for name, check in ((start_field, "not yet valid"), (end_field, "expired")):
        if name not in credential:
            continue
        try:
            moment = parse_datetime(credential[name], name)
        except InvalidInput as exc:
            errors.append(f"malformed: {exc}")
            continue
        if check == "not yet valid" and now < moment:
            errors.append(f"not yet valid: {name} {credential[name]} is after {now.isoformat()}")
        elif check == "expired" and now > moment:
            errors.append(f"expired: {name} {credential[name]} is before {now.isoformat()}")
    return errors


def verify(
    credential: Mapping[str, Any],
    *,
    resolver: Callable[[str], DidDocument] = resolve,
    now: datetime | None = None,
    status_checker: StatusChecker | None = None,
    trusted: TrustPolicy | None = None,
) -> VerificationResult:
    """Check a credential's proof, issuer binding, validity period, status and trust.

    Checks, each reported as an error that starts with its name:
    ``malformed`` (shape), ``signature`` / ``unsupported cryptosuite`` /
    ``verificationMethod`` / ``malformed proof`` (the proof), ``issuer mismatch``
    (issuer is not the controller of the verification method), ``not yet valid``
    (validFrom), ``expired`` (validUntil), ``revoked`` / ``suspended`` / ``status``
    (credentialStatus via ``status_checker``; a status entry with no checker is an
    error, never silently skipped), ``untrusted issuer`` (``trusted`` said no).

    Raises:
        InvalidInput: ``credential`` is not a JSON object (a Mapping), or ``now``
            is not a timezone-aware datetime.
    """
    if not isinstance(credential, Mapping):
        raise InvalidInput(f"a credential must be a JSON object, got {type(credential).__name__}")
    when = _aware(now)
    issuer = issuer_id(credential)
    errors = _structure_errors(credential)
    suites: tuple[str, ...] = ()
    try:
        controller: str | None
        controller, suites = verify_proofs(credential, resolver=resolver, now=when)
    except ProofError as exc:
        errors.append(str(exc))
        controller = None
    if controller is not None and issuer is not None and controller != issuer:
        errors.append(
            f"issuer mismatch: issuer {issuer} does not match verificationMethod "
            f"controller {controller}"
        )
    errors.extend(_validity_errors(credential, when))
    if "credentialStatus" in credential:
        if status_checker is None:
            errors.append("status: credentialStatus present but no status_checker was given")
        else:
            errors.extend(status_checker(credential, when))
    if trusted is not None and issuer is not None and not trusted(issuer, credential):
        errors.append(f"untrusted issuer: {issuer} is not trusted for this credential")
    return VerificationResult(
        ok=not errors, errors=errors, issuer=issuer, types=_types(credential), suites=suites
    )


def verify_many(
    credentials: Iterable[Mapping[str, Any]],
    *,
    resolver: Callable[[str], DidDocument] = resolve,
    now: datetime | None = None,
    status_checker: StatusChecker | None = None,
    trusted: TrustPolicy | None = None,
) -> list[VerificationResult]:
    """Verify a batch in order, with one clock reading and shared key caches."""
    when = _aware(now)
    return [
        verify(c, resolver=resolver, now=when, status_checker=status_checker, trusted=trusted)
        for c in credentials
    ]
