"""The contract checks an enrolment's certificate: no one signer halts the nodes with one.

An enrolment the chain accepts but the core refuses stops every following node (it
refuses to follow and names the entry). The certificate is what the chain used not to
read, so anyone holding an enrolment secret could send a certificate of its own
making, and the network admin, holding the network CA's key, one from a CA of its own
for the organisation. An organisation CA's key is secp256k1, recorded on chain when
the organisation is registered (the contract reads it from the CA certificate), so the
contract checks with ``ecrecover`` that the certificate certifies the signer's key and
is signed by that CA: each forgery below, signed by a real key and sent straight to the
contract with the core's rules off, is reverted.

What it still does not read (the names and roles in the certificate, its validity)
only the organisation's CA key can get wrong, by certifying its own user badly: a node
then refuses to follow that entry, naming it (README, "What a node refuses").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carbonledger.core.domain import Organisation
from carbonledger.crypto import x509ca
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, InvalidInput, PermissionDenied
from carbonledger.services.identity import enroll, make_enrolment_request, register_user
from carbonledger.services.registry import register_orgs
from tests.conformance.world import PASS, World
from tests.evm.test_channel_owners import refused_by_a_follower, send_unchecked
from tests.evm.test_rules import _forge, _tx


def _enrolment(w: World, key: PrivateKey, name: str, secret: str, cert: str | bytes) -> Any:
    text = cert.decode() if isinstance(cert, bytes) else cert
    item = {"kind": "identity", "id": name, "org": "acme", "secret": secret}
    return _tx(w, key, "enroll", [{**item, "certificate": text}])


def _registered(w: World, name: str, roles: list[str]) -> tuple[str, PrivateKey, bytes]:
    """``name`` registered in acme by the network admin (the bootstrap): its secret, the
    key made on its side and the certificate request for that key."""
    secret = register_user(w.ledger, w.admin, org="acme", name=name, roles=roles)
    key, request = make_enrolment_request("acme", name, secret)
    return secret, key, request.csr


def _acme_certifies(w: World, csr: bytes, roles: list[str]) -> bytes:
    return x509ca.issue_certificate(w.ca._load("org-acme", PASS), csr, roles=roles, org_id="acme")


def _reverted(
    w: World,
    monkeypatch: pytest.MonkeyPatch,
    enrolment: tuple[PrivateKey, str, str, str | bytes],
    error: type[CarbonLedgerError],
    match: str,
) -> None:
    """The enrolment (key, name, secret, certificate), sent with the core's rules off, is
    reverted by the contract with ``error`` matching ``match``; the key is no identity."""
    key, name, secret, cert = enrolment
    _forge(w, monkeypatch, _enrolment(w, key, name, secret, cert), error, match)
    assert key.address not in w.ledger.state().identities


def _certified_by_acme(
    w: World, key: PrivateKey, name: str, secret: str, csr: bytes, roles: list[str]
) -> None:
    """The enrolment with acme's CA's certificate holds on chain, and ``verify`` passes."""
    w.ledger.submit([_enrolment(w, key, name, secret, _acme_certifies(w, csr, roles))])
    assert w.ledger.state().identities[key.address]["org"] == "acme"
    report = w.ledger.verify()
    assert report.ok, report.error


def test_the_contract_reverts_an_enrolment_certified_by_the_network_admins_own_ca(
    chain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = chain
    secret, key, csr = _registered(w, "mole", ["org_admin"])
    # A CA for acme of the network admin's making: acme's name, the network CA's
    # signature, a secp256k1 key the network admin holds.
    own_ca = x509ca.create_intermediate_ca(w.ca._load("root", PASS), "acme", "Acme Corp")
    forged = x509ca.issue_certificate(own_ca, csr, roles=["org_admin"], org_id="acme")
    _reverted(w, monkeypatch, (key, "mole", secret, forged), PermissionDenied, "NotCertified")
    # acme's own CA certifies the same request: the enrolment holds on chain.
    _certified_by_acme(w, key, "mole", secret, csr, ["org_admin"])


def test_the_contract_reverts_a_certificate_of_the_users_own_making_or_for_another_key(
    chain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = chain
    secret, key, csr = _registered(w, "eve", ["member"])
    # A CA of the user's own making (secp256k1, acme's name), certified by nobody.
    own_key, own_request = x509ca.make_org_ca_request("acme", "Acme Corp")
    own_root = x509ca.create_root_ca("eve's own root")
    own_ca = x509ca.CaBundle(x509ca.certify_org_ca(own_root, own_request, "acme"), own_key)
    mine = x509ca.issue_certificate(own_ca, csr, roles=["member"], org_id="acme")
    _reverted(w, monkeypatch, (key, "eve", secret, mine), PermissionDenied, "NotCertified")
    # acme's genuine certificate, but for alice's key.
    alice = w.ledger.state().identities[w.alice.address]
    other = x509ca.make_csr(w.alice, common_name="eve", org_id="acme")
    for_alice = _acme_certifies(w, other, ["member"])
    assert alice["org"] == "acme"
    _reverted(w, monkeypatch, (key, "eve", secret, for_alice), PermissionDenied, "NotCertified")
    # No certificate at all.
    for text in (
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\n$$$\n-----END CERTIFICATE-----\n",
    ):
        _reverted(w, monkeypatch, (key, "eve", secret, text), InvalidInput, "Bad")
    # Certified by acme's CA, the same enrolment holds.
    _certified_by_acme(w, key, "eve", secret, csr, ["member"])


def test_the_contract_reverts_an_organisation_whose_ca_key_it_cannot_check(
    chain: World,
) -> None:
    w = chain
    root = w.ca._load("root", PASS)
    # An organisation CA with a P-256 key, certified by the network CA.
    p256 = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "p256"),
            x509.NameAttribute(NameOID.COMMON_NAME, "P256 CA"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(p256, hashes.SHA256())
    cert = x509ca.certify_org_ca(root, csr.public_bytes(serialization.Encoding.PEM), "p256")
    org = Organisation("p256", "P256 Ltd")
    # The core takes it (ledgers made before keep their P-256 CAs and still verify), but
    # the contract, which could not check its users' certificates, reverts it.
    with pytest.raises(InvalidInput, match="BadCertificate"):
        register_orgs(w.ledger, w.store, w.admin, [org], ca_certs={"p256": cert.decode()})
    assert "p256" not in w.ledger.state().orgs


def test_roles_the_organisations_own_ca_certified_wrongly_stop_a_following_node(
    chain: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Only acme's CA key can sign this (roles other than registered): the contract takes
    # it (it reads the key and the signature), and a following node refuses to go on,
    # naming the entry, rather than follow a ledger that breaks a rule.
    w = chain
    ledger: Any = w.ledger
    secret, key, csr = _registered(w, "carl", ["member"])
    wrong = _acme_certifies(w, csr, ["org_admin"])
    tx = _enrolment(w, key, "carl", secret, wrong)
    entries = len(ledger.chain_entries())
    tx_hash = send_unchecked(ledger, tx, monkeypatch)
    refused_by_a_follower(
        ledger, tmp_path / "node", entries, tx, tx_hash, r"enroll: certificate roles.*"
    )


def test_an_organisation_registered_without_a_ca_enrols_nobody_on_chain(
    chain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = chain
    register_orgs(w.ledger, w.store, w.admin, [Organisation("noca", "No CA Ltd")])
    secret = register_user(w.ledger, w.admin, org="noca", name="nia", roles=["member"])
    key, request = make_enrolment_request("noca", "nia", secret)
    # Whatever CA signs its certificate (here acme's), none is noca's.
    csr = x509ca.make_csr(key, common_name="nia", org_id="acme")
    cert = _acme_certifies(w, csr, ["member"])
    item = {"kind": "identity", "id": "nia", "org": "noca", "secret": secret}
    tx = _tx(w, key, "enroll", [{**item, "certificate": cert.decode()}])
    _forge(w, monkeypatch, tx, PermissionDenied, "NotCertified")
    with pytest.raises(InvalidInput, match="no certificate authority"):
        enroll(w.ledger, key, request, cert.decode())
