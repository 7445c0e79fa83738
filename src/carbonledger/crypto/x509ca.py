"""X.509 certificate authority: a network root, one CA per organisation, user certificates.

Users keep their secp256k1 key (their Ethereum account): they send a CSR made
with :func:`make_csr`, and the organisation CA binds name, organisation and
roles to that key with :func:`issue_certificate`. Choices, fixed here:

* Names. Root: ``CN=<name>``. Organisation CA: ``CN=<org_name> CA, O=<org_name>,
  organizationIdentifier=<org_id>``. User: ``CN`` from the CSR, ``O`` and
  ``organizationIdentifier`` copied from the organisation CA. organizationIdentifier
  (X.520, OID 2.5.4.97) is the attribute made for a registry id, so the stable id
  and the display name stay apart (OU is deprecated for public CAs).
* Roles and address go in subjectAltName URIs, ``urn:carbonledger:role:<role>``
  and ``urn:carbonledger:address:<EIP-55 address>``: no private OID to allocate,
  and every X.509 tool prints them. The address must match the certificate's key.
* The network root's key is ECDSA P-256; an organisation CA's key is secp256k1, as are
  user keys, so that the ledger's contract checks with ``ecrecover`` that a user's
  certificate is signed by its organisation's CA (a P-256 signature it could not check
  within its gas). Signatures are ECDSA with SHA-256.
* Chains are checked by :mod:`carbonledger.crypto.x509chain`; revocation lists are
  made and read by :mod:`carbonledger.crypto.x509crl`.
* CA private keys are exported as PKCS#8 PBES2 with scrypt (n=2**14, r=8, p=4) and
  AES-256-CBC, which OpenSSL reads; cryptography's ``BestAvailableEncryption``
  uses PBKDF2 with only 2,048 rounds, too cheap to guess against for a CA key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from Crypto.IO import PEM
from Crypto.IO._PBES import PBES2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carbonledger.crypto.keys import PrivateKey, PublicKey, checksum_address
from carbonledger.errors import InvalidInput, SignatureInvalid

__all__ = [
    "ADDRESS_URI_PREFIX",
    "ROLE_URI_PREFIX",
    "CaBundle",
    "CertInfo",
    "certificate_info",
    "certify_org_ca",
    "create_intermediate_ca",
    "create_root_ca",
    "encrypt_ca_key",
    "fingerprint",
    "issue_certificate",
    "make_csr",
    "make_org_ca_request",
]

ROLE_URI_PREFIX: Final = "urn:carbonledger:role:"
ADDRESS_URI_PREFIX: Final = "urn:carbonledger:address:"
_ROLE_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")
_ORG_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_SKEW: Final = timedelta(minutes=5)  # not_before is backdated for clocks slightly behind
_NO_ENCRYPTION: Final = serialization.NoEncryption()
_PEM: Final = serialization.Encoding.PEM
_SHA256: Final = hashes.SHA256()
# KeyUsage flags in order: digitalSignature, contentCommitment, keyEncipherment,
# dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly.
_CA_USAGE: Final = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
_USER_USAGE: Final = x509.KeyUsage(True, False, False, False, False, False, False, False, False)


def encrypt_ca_key(key: ec.EllipticCurvePrivateKey, passphrase: str | bytes) -> bytes:
    """A CA's private key as encrypted PKCS#8 PEM (scrypt + AES-256-CBC), as
    :meth:`CaBundle.from_pem` reads it."""
    secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    if not secret:
        raise InvalidInput("a CA key passphrase must not be empty")
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, _NO_ENCRYPTION
    )
    # scrypt n=2**14, r=8 needs 16 MiB (OpenSSL refuses to read keys needing over
    # 32 MiB); p=4 makes a guess cost about 0.15 s. The PKCS#8 bytes are encrypted as
    # they are (PBES2), whatever the curve: secp256k1 as well as P-256.
    encrypted = PBES2.encrypt(
        der,
        secret,
        "scryptAndAES256-CBC",
        {"iteration_count": 2**14, "block_size": 8, "parallelization": 4, "salt_size": 16},
    )
    return PEM.encode(encrypted, "ENCRYPTED PRIVATE KEY").encode("ascii")


@dataclass(frozen=True, eq=False)
class CaBundle:
    """A CA certificate (PEM) and its private key (kept out of ``repr``; compared by identity)."""

    certificate_pem: bytes
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if self.certificate.public_key() != self.private_key.public_key():
            raise InvalidInput("CA private key does not match the CA certificate")

    @property
    def certificate(self) -> x509.Certificate:
        """The parsed CA certificate."""
        return _load_cert(self.certificate_pem)

    @property
    def org_id(self) -> str | None:
        """The organisation id of an organisation CA; None for the root."""
        return _attr(self.certificate.subject, NameOID.ORGANIZATION_IDENTIFIER)

    def to_pem_encrypted(self, passphrase: str | bytes) -> bytes:
        """Return the private key as encrypted PKCS#8 PEM (scrypt + AES-256-CBC)."""
        return encrypt_ca_key(self.private_key, passphrase)

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, passphrase: str | bytes) -> CaBundle:
        """Load a bundle saved with :meth:`to_pem_encrypted`.

        Raises:
            InvalidInput: wrong passphrase, unreadable PEM, or a key that is not
                an EC key or does not match the certificate.
        """
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        try:
            key = serialization.load_pem_private_key(key_pem, secret)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"wrong passphrase for CA key, or a corrupted key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidInput("a CA key must be an elliptic-curve key")
        return cls(certificate_pem=cert_pem, private_key=key)


@dataclass(frozen=True)
class CertInfo:
    """What a user certificate says, read and cross-checked by :func:`certificate_info`."""

    common_name: str
    org_id: str
    roles: tuple[str, ...]
    address: str
    serial: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    issuer_common_name: str
    public_key: bytes  # SEC1 uncompressed, 65 bytes


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else _aware(now, "now")


def _load_cert(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise InvalidInput(f"not a PEM X.509 certificate: {exc}") from None


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _cn(cert: x509.Certificate) -> str:
    return _attr(cert.subject, NameOID.COMMON_NAME) or cert.subject.rfc4514_string()


def _name(common_name: str, *, org_name: str | None = None, org_id: str | None = None) -> x509.Name:
    attrs = []
    if org_name is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name))
    if org_id is not None:
        if not _ORG_ID_RE.match(org_id):
            raise InvalidInput(f"organisation id {org_id!r} must be 1-64 of A-Z a-z 0-9 . _ -")
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, org_id))
    try:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    except ValueError as exc:  # cryptography enforces 1 <= len(CN) <= 64
        raise InvalidInput(f"common name {common_name!r}: {exc}") from None
    return x509.Name(attrs)


def _builder(
    subject: x509.Name,
    issuer: CaBundle | None,
    key: ec.EllipticCurvePublicKey,
    days: int,
    now: datetime | None,
) -> x509.CertificateBuilder:
    if days < 1:
        raise InvalidInput(f"validity must be at least 1 day, got {days}")
    start = _now(now)
    end = start + timedelta(days=days)
    builder = x509.CertificateBuilder().subject_name(subject).public_key(key)
    if issuer is None:
        builder = builder.issuer_name(subject)
    else:
        ca = issuer.certificate
        if end > ca.not_valid_after_utc:
            raise InvalidInput(
                f"a {days}-day certificate would outlive CA {_cn(ca)}, "
                f"which expires on {ca.not_valid_after_utc.isoformat()}"
            )
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        builder = builder.issuer_name(ca.subject).add_extension(aki, critical=False)
    return (
        builder.serial_number(x509.random_serial_number())
        .not_valid_before(start - _SKEW)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
    )


def create_root_ca(name: str, *, days: int = 3650, now: datetime | None = None) -> CaBundle:
    """Create a self-signed network root CA (pathlen 1: it signs organisation CAs only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(name), None, key.public_key(), days, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(key, _SHA256)
    )
    return CaBundle(cert.public_bytes(_PEM), key)


def create_intermediate_ca(
    root: CaBundle, org_id: str, org_name: str, *, days: int = 1825, now: datetime | None = None
) -> CaBundle:
    """Create organisation ``org_id``'s CA under ``root`` (pathlen 0: it signs users only)."""
    key, csr = make_org_ca_request(org_id, org_name)
    return CaBundle(certify_org_ca(root, csr, org_id, days=days, now=now), key)


def make_org_ca_request(org_id: str, org_name: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """On the organisation's side: its CA's key (secp256k1, kept there) and the CSR (PEM)
    the network CA certifies with :func:`certify_org_ca`."""
    key = ec.generate_private_key(ec.SECP256K1())
    subject = _name(f"{org_name} CA", org_name=org_name, org_id=org_id)
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, _SHA256)
    return key, csr.public_bytes(_PEM)


def certify_org_ca(
    root: CaBundle,
    csr_pem: bytes,
    org_id: str,
    *,
    days: int = 1825,
    now: datetime | None = None,
) -> bytes:
    """The network CA certifies an organisation CA's request (pathlen 0: it signs users
    only); the request must be self-signed and name ``org_id``."""
    if root.org_id is not None:
        raise InvalidInput(f"CA {_cn(root.certificate)} is an organisation CA, not the root")
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidInput(f"the CA request of {org_id!r} is not a PEM CSR: {exc}") from None
    if not csr.is_signature_valid:
        raise SignatureInvalid(f"the CA request of {org_id!r} is not signed by its own key")
    named = _attr(csr.subject, NameOID.ORGANIZATION_IDENTIFIER)
    if named != org_id:
        raise InvalidInput(f"the CA request names organisation {named!r}, not {org_id!r}")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InvalidInput(f"the CA request of {org_id!r} must carry an elliptic-curve key")
    cert = (
        _builder(csr.subject, root, key, days, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(root.private_key, _SHA256)
    )
    return cert.public_bytes(_PEM)


def make_csr(user_key: PrivateKey, *, common_name: str, org_id: str) -> bytes:
    """Return a PEM CSR for ``user_key``'s secp256k1 key, signed by it (user's side)."""
    secret = int.from_bytes(user_key.to_bytes(), "big")
    key = ec.derive_private_key(secret, ec.SECP256K1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        _name(common_name, org_id=org_id)
    )
    return builder.sign(key, _SHA256).public_bytes(_PEM)


def _user_key(key: object, what: str) -> tuple[ec.EllipticCurvePublicKey, bytes]:
    # Returns the key and its 65-byte SEC1 point, or says why it is no user key.
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256k1":
        got = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
        raise InvalidInput(f"{what} key must be secp256k1 (an Ethereum account key), got {got}")
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, point


def issue_certificate(
    ca: CaBundle,
    csr_pem: bytes,
    *,
    roles: Sequence[str],
    org_id: str,
    days: int = 365,
    now: datetime | None = None,
) -> bytes:
    """Issue a user certificate (PEM) for the secp256k1 key in ``csr_pem``.

    Roles are stored sorted and without duplicates.

    Raises:
        InvalidInput: the CSR does not parse, its signature does not verify, its
            key is not secp256k1, it asks for another organisation, ``ca`` is not
            ``org_id``'s CA, a role is malformed, or the validity is not usable.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidInput(f"not a PEM certificate signing request: {exc}") from None
    if not csr.is_signature_valid:
        raise InvalidInput("CSR signature does not verify with the key it contains")
    key, point = _user_key(csr.public_key(), "CSR")
    if ca.org_id != org_id:
        raise InvalidInput(f"CA {_cn(ca.certificate)} is not the CA of organisation {org_id!r}")
    asked = _attr(csr.subject, NameOID.ORGANIZATION_IDENTIFIER)
    if asked not in (None, org_id):
        raise InvalidInput(f"CSR asks for organisation {asked!r}, not {org_id!r}")
    common_name = _attr(csr.subject, NameOID.COMMON_NAME)
    if not common_name:
        raise InvalidInput("CSR subject has no common name")
    for role in roles:
        if not isinstance(role, str) or not _ROLE_RE.match(role):
            raise InvalidInput(f"role {role!r} must match {_ROLE_RE.pattern}")
    address = PublicKey.from_bytes(point).address
    uris = [ADDRESS_URI_PREFIX + address] + [ROLE_URI_PREFIX + r for r in sorted(set(roles))]
    org_name = _attr(ca.certificate.subject, NameOID.ORGANIZATION_NAME)
    cert = (
        _builder(_name(common_name, org_name=org_name, org_id=org_id), ca, key, days, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_USER_USAGE, critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
            critical=False,
        )
        .sign(ca.private_key, _SHA256)
    )
    return cert.public_bytes(_PEM)


def certificate_info(cert_pem: bytes) -> CertInfo:
    """Read a user certificate, checking that its address SAN belongs to its key.

    Raises:
        InvalidInput: not a certificate, not a secp256k1 key, no common name or
            organisation id, not exactly one address SAN, or an address that
            is not the key's.
    """
    cert = _load_cert(cert_pem)
    _, point = _user_key(cert.public_key(), "certificate")
    address = PublicKey.from_bytes(point).address
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise InvalidInput("certificate has no subjectAltName with its address") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    named = [u.removeprefix(ADDRESS_URI_PREFIX) for u in uris if u.startswith(ADDRESS_URI_PREFIX)]
    if len(named) != 1:
        raise InvalidInput(f"certificate must name exactly one address, names {len(named)}")
    if checksum_address(named[0]) != address:
        raise InvalidInput(f"certificate names address {named[0]} but its key is {address}")
    common_name = _attr(cert.subject, NameOID.COMMON_NAME)
    org_id = _attr(cert.subject, NameOID.ORGANIZATION_IDENTIFIER)
    if not common_name or not org_id:
        raise InvalidInput("certificate subject lacks a common name or organisation id")
    return CertInfo(
        common_name=common_name,
        org_id=org_id,
        roles=tuple(u.removeprefix(ROLE_URI_PREFIX) for u in uris if u.startswith(ROLE_URI_PREFIX)),
        address=address,
        serial=f"{cert.serial_number:x}",
        fingerprint_sha256=cert.fingerprint(_SHA256).hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issuer_common_name=_attr(cert.issuer, NameOID.COMMON_NAME) or "",
        public_key=point,
    )


def fingerprint(cert_pem: bytes) -> str:
    """Return the SHA-256 fingerprint (hex) of the certificate's DER encoding."""
    return _load_cert(cert_pem).fingerprint(_SHA256).hex()
