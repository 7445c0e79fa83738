"""Checking a user certificate's chain: user -> organisation CA -> network root.

Chains are checked here step by step rather than with
``cryptography.x509.verification``, so each refusal names its reason and
certificate ("expired on ...", "not issued by organisation CA acme").
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from carbonledger.crypto.x509ca import CertInfo, _attr, _aware, _cn, _load_cert, certificate_info
from carbonledger.errors import InvalidInput, SignatureInvalid

__all__ = ["verify_chain"]


def _check_ca(cert: x509.Certificate, what: str) -> None:
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise InvalidInput(f"{what} {_cn(cert)} lacks basicConstraints or keyUsage") from None
    if not basic.ca or not usage.key_cert_sign:
        raise InvalidInput(f"{what} {_cn(cert)} is not a CA certificate")


def _check_signed(child: x509.Certificate, issuer: x509.Certificate, reason: str) -> None:
    if child.issuer != issuer.subject:
        raise SignatureInvalid(f"{reason} (it names issuer {child.issuer.rfc4514_string()})")
    try:
        child.verify_directly_issued_by(issuer)
    except InvalidSignature:
        raise SignatureInvalid(f"{reason}: the signature does not verify") from None
    except (ValueError, TypeError) as exc:
        raise SignatureInvalid(f"{reason}: {exc}") from None


def _check_valid_at(cert: x509.Certificate, what: str, at: datetime) -> None:
    if at < cert.not_valid_before_utc:
        when = cert.not_valid_before_utc.isoformat()
        raise InvalidInput(f"{what} {_cn(cert)} is not valid before {when}")
    if at > cert.not_valid_after_utc:
        raise InvalidInput(f"{what} {_cn(cert)} expired on {cert.not_valid_after_utc.isoformat()}")


def verify_chain(
    cert_pem: bytes, intermediate_pem: bytes, root_pem: bytes, *, at: datetime
) -> CertInfo:
    """Check user certificate -> organisation CA -> trusted root at time ``at``.

    Raises:
        SignatureInvalid: a certificate is not signed by the next one up, or the
            user's organisation is not the organisation CA's.
        InvalidInput: a certificate is malformed, not a CA where one is needed,
            or outside its validity window at ``at``.
    """
    at = _aware(at, "at")
    info = certificate_info(cert_pem)
    leaf, inter, root = _load_cert(cert_pem), _load_cert(intermediate_pem), _load_cert(root_pem)
    _check_ca(root, "root CA")
    _check_ca(inter, "organisation CA")
    _check_signed(root, root, f"root CA {_cn(root)} is not self-signed")
    _check_signed(inter, root, f"organisation CA {_cn(inter)} is not issued by root {_cn(root)}")
    inter_org = _attr(inter.subject, NameOID.ORGANIZATION_IDENTIFIER)
    reason = f"certificate of {info.common_name} (organisation {info.org_id}) is not issued by"
    reason += f" organisation CA {inter_org}"
    if info.org_id != inter_org:
        raise SignatureInvalid(reason)
    _check_signed(leaf, inter, reason)
    basics = [e.value for e in leaf.extensions if isinstance(e.value, x509.BasicConstraints)]
    if any(b.ca for b in basics):
        raise InvalidInput(f"certificate of {info.common_name} is a CA, not a user certificate")
    for cert, what in ((root, "root CA"), (inter, "organisation CA"), (leaf, "certificate of")):
        _check_valid_at(cert, what, at)
    return info
