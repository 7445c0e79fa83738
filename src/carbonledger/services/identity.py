"""Certificate authority, registration, enrolment and revocation of users.

The split follows who holds which secret:

* the **organisation admin** registers a user on the ledger (name, roles, the
  salted hash of a one-time secret) and hands the secret to the user;
* the **user**, on the user's own side, makes a secp256k1 key and a CSR
  (:func:`make_enrolment_request`), never sending the key anywhere;
* the **CA service** (:class:`CertificateAuthority`, holding the organisation's
  CA key) checks the secret against the ledger and issues the certificate;
* the **user** then signs the ``enroll`` transaction with the new key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from carbonledger.core.rules.identity import secret_hash
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import utc_now
from carbonledger.crypto import x509ca, x509crl
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import ConfigurationError, NotFound, PermissionDenied
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort, Receipt
from carbonledger.services.channels import revocation_keys, submit_one

__all__ = [
    "CertificateAuthority",
    "EnrolmentRequest",
    "enroll",
    "make_enrolment_request",
    "register_user",
    "revoke_user",
]


class CertificateAuthority:
    """The network CA and the organisations' CAs, kept encrypted in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _paths(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.crt", self.directory / f"{name}.key"

    def _save(self, name: str, bundle: x509ca.CaBundle, passphrase: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert, key = self._paths(name)
        cert.write_bytes(bundle.certificate_pem)
        key.touch(mode=0o600)
        key.write_bytes(bundle.to_pem_encrypted(passphrase))

    def _load(self, name: str, passphrase: str) -> x509ca.CaBundle:
        cert, key = self._paths(name)
        if not cert.exists():
            raise ConfigurationError(f"no certificate authority {name!r} in {self.directory}")
        return x509ca.CaBundle.from_pem(cert.read_bytes(), key.read_bytes(), passphrase)

    def certificate(self, name: str) -> str:
        cert, _ = self._paths(name)
        if not cert.exists():
            raise ConfigurationError(f"no certificate authority {name!r} in {self.directory}")
        return cert.read_text()

    def create_root(self, name: str, passphrase: str) -> str:
        bundle = x509ca.create_root_ca(name)
        self._save("root", bundle, passphrase)
        return bundle.certificate_pem.decode()

    def create_org(self, org_id: str, org_name: str, passphrase: str) -> str:
        bundle = x509ca.create_intermediate_ca(self._load("root", passphrase), org_id, org_name)
        self._save(f"org-{org_id}", bundle, passphrase)
        return bundle.certificate_pem.decode()

    def request_org(self, org_id: str, org_name: str, passphrase: str) -> str:
        """On an organisation's own node: make its CA key (kept here, encrypted) and return
        the CSR (PEM, public) that the network admin certifies with :meth:`certify_org`."""
        cert, key_path = self._paths(f"org-{org_id}")
        if cert.exists() or key_path.exists():
            raise ConfigurationError(f"{self.directory} already holds a CA for {org_id!r}")
        key, csr = x509ca.make_org_ca_request(org_id, org_name)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path.touch(mode=0o600)
        key_path.write_bytes(x509ca.encrypt_ca_key(key, passphrase))
        return csr.decode()

    def certify_org(self, org_id: str, csr_pem: str, passphrase: str) -> str:
        """The network CA (kept here) certifies another organisation's CA request."""
        root = self._load("root", passphrase)
        return x509ca.certify_org_ca(root, csr_pem.encode(), org_id).decode()

    def _org_ca(self, org_id: str, state: LedgerState, passphrase: str) -> x509ca.CaBundle:
        """The organisation's CA; its certificate, when this node made only the key
        (:meth:`request_org`), as the ledger records it (the bundle checks they match)."""
        cert, key = self._paths(f"org-{org_id}")
        if not cert.exists() and key.exists():
            recorded = state.orgs.get(org_id, {}).get("ca_cert")
            if recorded is None:
                raise ConfigurationError(
                    f"organisation {org_id!r} is not registered with this node's CA yet"
                )
            bundle = x509ca.CaBundle.from_pem(str(recorded).encode(), key.read_bytes(), passphrase)
            cert.write_text(str(recorded))
            return bundle
        return self._load(f"org-{org_id}", passphrase)

    def issue(self, ledger: LedgerPort, request: EnrolmentRequest, passphrase: str) -> str:
        """Check the one-time secret against the ledger, then certify the request's key."""
        state = ledger.state()
        reg = state.registrations.get(f"{request.org}/{request.name}")
        if reg is None:
            raise NotFound(f"user {request.name!r} is not registered in {request.org!r}")
        if reg["status"] != "pending":
            raise PermissionDenied(f"user {request.name!r} has already enrolled")
        if datetime.fromisoformat(reg["expires"].replace("Z", "+00:00")) < datetime.now(UTC):
            raise PermissionDenied(f"the enrolment secret of {request.name!r} has expired")
        if secret_hash(reg["salt"], request.secret) != reg["secret_sha256"]:
            raise PermissionDenied(f"wrong enrolment secret for {request.name!r}")
        ca = self._org_ca(request.org, state, passphrase)
        cert = x509ca.issue_certificate(ca, request.csr, roles=reg["roles"], org_id=request.org)
        return cert.decode()

    def revoke(self, org_id: str, serial: str, passphrase: str) -> Path:
        """Add ``serial`` to the organisation's CRL (re-signed); returns its path."""
        listing = self.directory / f"org-{org_id}.revoked.json"
        revoked = json.loads(listing.read_text()) if listing.exists() else []
        revoked.append([serial, utc_now()])
        listing.write_text(json.dumps(revoked))
        crl = x509crl.create_crl(
            self._load(f"org-{org_id}", passphrase),
            [(s, datetime.fromisoformat(t.replace("Z", "+00:00"))) for s, t in revoked],
        )
        path = self.directory / f"org-{org_id}.crl.pem"
        path.write_bytes(crl)
        return path


@dataclass(frozen=True)
class EnrolmentRequest:
    """What the user sends to the CA: a CSR and the one-time secret (never the key)."""

    org: str
    name: str
    secret: str
    csr: bytes


def register_user(
    ledger: LedgerPort,
    admin: PrivateKey,
    *,
    org: str,
    name: str,
    roles: list[str],
    valid_hours: int = 72,
) -> str:
    """Register ``name`` in ``org`` with ``roles``; returns the one-time enrolment secret."""
    secret = secrets.token_urlsafe(18)
    salt = secrets.token_hex(16)
    expires = (
        (datetime.now(UTC) + timedelta(hours=valid_hours))
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )
    submit_one(
        ledger,
        admin,
        "register_identity",
        [
            {
                "kind": "registration",
                "id": name,
                "org": org,
                "roles": sorted(roles),
                "salt": salt,
                "secret_sha256": secret_hash(salt, secret),
                "expires": expires,
            }
        ],
    )
    return secret


def make_enrolment_request(org: str, name: str, secret: str) -> tuple[PrivateKey, EnrolmentRequest]:
    """On the user's side: a new key and the request to send to the CA."""
    key = PrivateKey.generate()
    csr = x509ca.make_csr(key, common_name=name, org_id=org)
    return key, EnrolmentRequest(org, name, secret, csr)


def enroll(
    ledger: LedgerPort, key: PrivateKey, request: EnrolmentRequest, certificate: str
) -> Receipt:
    """On the user's side: record the identity, signed with the user's own key."""
    return submit_one(
        ledger,
        key,
        "enroll",
        [
            {
                "kind": "identity",
                "id": request.name,
                "org": request.org,
                "certificate": certificate,
                "secret": request.secret,
            }
        ],
    )


def revoke_user(
    ledger: LedgerPort,
    admin: PrivateKey,
    ca: CertificateAuthority | None,
    address: str,
    *,
    reason: str,
    ca_passphrase: str | None = None,
    store: ChannelStore | None = None,
) -> Receipt:
    """Revoke a user's key on the ledger and, when the CA is at hand, in its CRL.

    Every channel the user belonged to starts a new epoch in the same transaction;
    those ``admin`` administers get their new key at once (wrapped into ``store``,
    by default the ledger's), the others are left for their admins to rotate.
    """
    ident = ledger.state().identities.get(address)
    if ident is None:
        raise NotFound(f"{address} is not an enrolled identity")
    store = store if store is not None else ledger.channels
    rotations = revocation_keys(ledger, store, admin, address)
    receipt = submit_one(
        ledger,
        admin,
        "revoke_identity",
        [
            {
                "kind": "revocation",
                "address": address,
                "reason": reason,
                "channels": rotations,
            }
        ],
    )
    if ca is not None and ca_passphrase is not None and ident.get("serial"):
        ca.revoke(str(ident["org"]), str(ident["serial"]), ca_passphrase)
    return receipt
