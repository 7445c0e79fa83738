"""Certificate revocation lists of an organisation CA (:mod:`carbonledger.crypto.x509ca`).

A CRL is signed by the CA that issued the certificates it lists; its number is
the issue time in Unix seconds, so later CRLs number higher, and a CRL whose next
update is past due is refused as stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from carbonledger.crypto.x509ca import _PEM, _SHA256, CaBundle, _aware, _cn, _load_cert, _now
from carbonledger.errors import InvalidInput, SignatureInvalid

__all__ = ["create_crl", "is_revoked"]


def _serial(serial_hex: str) -> int:
    try:
        value = int(serial_hex.removeprefix("0x"), 16)
    except (ValueError, AttributeError):
        raise InvalidInput(f"serial {serial_hex!r} is not hex") from None
    if value <= 0:
        raise InvalidInput(f"serial {serial_hex!r} must be positive")
    return value


def create_crl(
    ca: CaBundle,
    revoked: Sequence[tuple[str, datetime]],
    *,
    next_update_days: int = 7,
    now: datetime | None = None,
) -> bytes:
    """Return a PEM CRL signed by ``ca`` listing ``(serial_hex, revoked_at)`` pairs.

    The CRL number is the issue time in Unix seconds, so later CRLs number higher.
    """
    if next_update_days < 1:
        raise InvalidInput("next_update_days must be at least 1")
    start = _now(now)
    cert = ca.certificate
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(start)
        .next_update(start + timedelta(days=next_update_days))
        .add_extension(x509.CRLNumber(int(start.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    seen: set[int] = set()
    for serial_hex, revoked_at in revoked:
        serial = _serial(serial_hex)
        if serial in seen:
            raise InvalidInput(f"serial {serial_hex} is listed twice")
        seen.add(serial)
        entry = x509.RevokedCertificateBuilder().serial_number(serial)
        builder = builder.add_revoked_certificate(
            entry.revocation_date(_aware(revoked_at, "revoked_at")).build()
        )
    return builder.sign(ca.private_key, _SHA256).public_bytes(_PEM)


def is_revoked(
    crl_pem: bytes, ca_cert_pem: bytes, serial_hex: str, *, at: datetime | None = None
) -> bool:
    """Return True if ``serial_hex`` is on the CRL, after checking the CA signed it.

    With ``at``, a CRL whose next update was due before ``at`` is refused as stale.

    Raises:
        SignatureInvalid: the CRL is not issued and signed by this CA.
        InvalidInput: the CRL or certificate does not parse, or the CRL is stale.
    """
    try:
        crl = x509.load_pem_x509_crl(crl_pem)
    except ValueError as exc:
        raise InvalidInput(f"not a PEM CRL: {exc}") from None
    ca = _load_cert(ca_cert_pem)
    key = ca.public_key()
    if crl.issuer != ca.subject:
        raise SignatureInvalid(f"CRL is issued by {crl.issuer.rfc4514_string()}, not {_cn(ca)}")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(key):
        raise SignatureInvalid(f"CRL signature does not verify with the key of CA {_cn(ca)}")
    due = crl.next_update_utc
    if at is not None and due is not None and _aware(at, "at") > due:
        raise InvalidInput(f"CRL of {_cn(ca)} is stale: its next update was due {due.isoformat()}")
    return crl.get_revoked_certificate_by_serial_number(_serial(serial_hex)) is not None
