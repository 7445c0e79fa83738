from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from Crypto.Util.asn1 import DerBitString, DerSequence
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carbonledger.crypto import x509ca
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.x509ca import (
    CaBundle,
    certificate_info,
    create_intermediate_ca,
    create_root_ca,
    fingerprint,
    issue_certificate,
    make_csr,
)
from carbonledger.crypto.x509chain import verify_chain
from carbonledger.crypto.x509crl import create_crl, is_revoked
from carbonledger.errors import InvalidInput, SignatureInvalid

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PEM = serialization.Encoding.PEM


@pytest.fixture(scope="module")
def root() -> CaBundle:
    return create_root_ca("carbonledger network", now=T0)


@pytest.fixture(scope="module")
def acme(root: CaBundle) -> CaBundle:
    return create_intermediate_ca(root, "acme", "Acme Corp", now=T0)


@pytest.fixture(scope="module")
def globex(root: CaBundle) -> CaBundle:
    return create_intermediate_ca(root, "globex", "Globex Inc", now=T0)


@pytest.fixture(scope="module")
def alice() -> PrivateKey:
    return PrivateKey.generate()


@pytest.fixture(scope="module")
def alice_cert(acme: CaBundle, alice: PrivateKey) -> bytes:
    csr = make_csr(alice, common_name="alice", org_id="acme")
    return issue_certificate(
        acme, csr, roles=["member", "auditor", "member"], org_id="acme", now=T0
    )


def _resign_csr(csr_pem: bytes, signer: ec.EllipticCurvePrivateKey) -> bytes:
    """Keep the CSR's content (and key) but replace its signature with ``signer``'s."""
    csr = x509.load_pem_x509_csr(csr_pem)
    seq = DerSequence()
    seq.decode(csr.public_bytes(serialization.Encoding.DER))
    seq[2] = DerBitString(
        signer.sign(csr.tbs_certrequest_bytes, ec.ECDSA(hashes.SHA256()))
    ).encode()
    return x509.load_der_x509_csr(seq.encode()).public_bytes(PEM)


def _flip_der_byte(cert_pem: bytes, index: int) -> bytes:
    der = bytearray(
        x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    )
    der[index] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der)).public_bytes(PEM)


def test_public_api_is_pinned() -> None:
    assert set(x509ca.__all__) == {
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
    }


def test_full_enrolment_flow(
    root: CaBundle, acme: CaBundle, alice: PrivateKey, alice_cert: bytes
) -> None:
    info = verify_chain(
        alice_cert, acme.certificate_pem, root.certificate_pem, at=T0 + timedelta(days=30)
    )
    assert info.address == alice.address
    assert info.public_key == alice.public_key.to_bytes()
    assert info.common_name == "alice"
    assert info.org_id == "acme"
    assert info.roles == ("auditor", "member")
    assert info.issuer_common_name == "Acme Corp CA"
    assert info.fingerprint_sha256 == fingerprint(alice_cert)
    cert = x509.load_pem_x509_certificate(alice_cert)
    assert int(info.serial, 16) == cert.serial_number
    assert info.not_after == T0 + timedelta(days=365)
    assert info.not_before <= T0 < info.not_after
    assert info.not_before.tzinfo is not None
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Corp"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"urn:carbonledger:address:{alice.address}",
        "urn:carbonledger:role:auditor",
        "urn:carbonledger:role:member",
    ]
    assert certificate_info(alice_cert) == info


def test_ca_structure(root: CaBundle, acme: CaBundle) -> None:
    assert root.org_id is None
    assert acme.org_id == "acme"
    basic = acme.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca
    assert basic.path_length == 0
    root_basic = root.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert root_basic.path_length == 1
    aki = acme.certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert "private_key" not in repr(acme)


def test_certificate_from_another_organisation_is_refused(
    root: CaBundle, acme: CaBundle, globex: CaBundle
) -> None:
    bob = PrivateKey.generate()
    cert = issue_certificate(
        globex, make_csr(bob, common_name="bob", org_id="globex"), roles=[], org_id="globex", now=T0
    )
    verify_chain(cert, globex.certificate_pem, root.certificate_pem, at=T0)
    with pytest.raises(SignatureInvalid, match="not issued by organisation CA acme"):
        verify_chain(cert, acme.certificate_pem, root.certificate_pem, at=T0)


def test_organisation_ca_from_another_root_is_refused(acme: CaBundle, alice_cert: bytes) -> None:
    other_root = create_root_ca("carbonledger network", now=T0)  # same name, other key
    with pytest.raises(SignatureInvalid, match="not issued by root"):
        verify_chain(alice_cert, acme.certificate_pem, other_root.certificate_pem, at=T0)


def test_expired_and_not_yet_valid(root: CaBundle, acme: CaBundle, alice: PrivateKey) -> None:
    csr = make_csr(alice, common_name="alice", org_id="acme")
    cert = issue_certificate(acme, csr, roles=["member"], org_id="acme", days=1, now=T0)
    verify_chain(cert, acme.certificate_pem, root.certificate_pem, at=T0 + timedelta(hours=23))
    with pytest.raises(InvalidInput, match=r"certificate of alice expired on 2025-01-02"):
        verify_chain(cert, acme.certificate_pem, root.certificate_pem, at=T0 + timedelta(days=2))
    with pytest.raises(InvalidInput, match="is not valid before"):
        verify_chain(cert, acme.certificate_pem, root.certificate_pem, at=T0 - timedelta(days=1))
    with pytest.raises(InvalidInput, match="organisation CA Acme Corp CA expired"):
        verify_chain(cert, acme.certificate_pem, root.certificate_pem, at=T0 + timedelta(days=1826))


def test_verify_chain_needs_an_aware_time(
    root: CaBundle, acme: CaBundle, alice_cert: bytes
) -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        verify_chain(
            alice_cert, acme.certificate_pem, root.certificate_pem, at=datetime(2025, 2, 1)
        )


def test_csr_signed_by_another_key_is_refused(acme: CaBundle, alice: PrivateKey) -> None:
    csr = make_csr(alice, common_name="alice", org_id="acme")
    forged = _resign_csr(csr, ec.generate_private_key(ec.SECP256K1()))
    assert x509.load_pem_x509_csr(forged).public_key() == x509.load_pem_x509_csr(csr).public_key()
    with pytest.raises(InvalidInput, match="CSR signature does not verify"):
        issue_certificate(acme, forged, roles=[], org_id="acme")


def test_p256_csr_is_refused(acme: CaBundle) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mallory")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    with pytest.raises(InvalidInput, match=r"must be secp256k1.*got secp256r1"):
        issue_certificate(acme, csr.public_bytes(PEM), roles=[], org_id="acme")


@pytest.mark.parametrize("where", ["signature", "subject"])
def test_tampered_certificate_fails(
    root: CaBundle, acme: CaBundle, alice_cert: bytes, where: str
) -> None:
    if where == "signature":
        tampered = _flip_der_byte(alice_cert, -1)  # last byte of the ECDSA s value
    else:
        der = x509.load_pem_x509_certificate(alice_cert).public_bytes(serialization.Encoding.DER)
        tampered = _flip_der_byte(alice_cert, der.index(b"alice"))
    with pytest.raises(SignatureInvalid, match="signature does not verify"):
        verify_chain(tampered, acme.certificate_pem, root.certificate_pem, at=T0)


def test_address_that_is_not_the_key_is_refused(acme: CaBundle, alice: PrivateKey) -> None:
    good = x509.load_pem_x509_certificate(
        issue_certificate(
            acme, make_csr(alice, common_name="alice", org_id="acme"), roles=[], org_id="acme"
        )
    )
    other = PrivateKey.generate().address
    san = x509.SubjectAlternativeName(
        [x509.UniformResourceIdentifier(f"urn:carbonledger:address:{other}")]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(good.subject)
        .issuer_name(good.issuer)
        .public_key(good.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(good.not_valid_before_utc)
        .not_valid_after(good.not_valid_after_utc)
        .add_extension(san, critical=False)
    )
    forged = builder.sign(acme.private_key, hashes.SHA256()).public_bytes(PEM)
    with pytest.raises(InvalidInput, match=f"names address {other} but its key is {alice.address}"):
        certificate_info(forged)


def test_issue_refuses_wrong_organisation_and_bad_roles(
    root: CaBundle, acme: CaBundle, globex: CaBundle, alice: PrivateKey
) -> None:
    csr = make_csr(alice, common_name="alice", org_id="acme")
    with pytest.raises(InvalidInput, match="not the CA of organisation 'globex'"):
        issue_certificate(acme, csr, roles=[], org_id="globex")
    with pytest.raises(InvalidInput, match="not the CA of organisation 'acme'"):
        issue_certificate(root, csr, roles=[], org_id="acme")
    with pytest.raises(InvalidInput, match="CSR asks for organisation 'acme'"):
        issue_certificate(globex, csr, roles=[], org_id="globex")
    with pytest.raises(InvalidInput, match="role 'Auditor Role'"):
        issue_certificate(acme, csr, roles=["Auditor Role"], org_id="acme")
    with pytest.raises(InvalidInput, match="would outlive CA Acme Corp CA"):
        issue_certificate(acme, csr, roles=[], org_id="acme", days=5000)
    with pytest.raises(InvalidInput, match="not a PEM certificate signing request"):
        issue_certificate(acme, b"junk", roles=[], org_id="acme")


def test_bad_names_are_refused(root: CaBundle, alice: PrivateKey) -> None:
    with pytest.raises(InvalidInput, match="organisation id"):
        make_csr(alice, common_name="alice", org_id="acme corp")
    with pytest.raises(InvalidInput, match="common name"):
        make_csr(alice, common_name="", org_id="acme")
    with pytest.raises(InvalidInput, match="not the root"):
        create_intermediate_ca(create_intermediate_ca(root, "x", "X"), "y", "Y")


def test_ca_key_export_round_trip(acme: CaBundle) -> None:
    pem = acme.to_pem_encrypted("correct horse")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = CaBundle.from_pem(acme.certificate_pem, pem, "correct horse")
    assert loaded.private_key.private_numbers() == acme.private_key.private_numbers()
    with pytest.raises(InvalidInput, match="wrong passphrase for CA key"):
        CaBundle.from_pem(acme.certificate_pem, pem, "wrong horse")
    with pytest.raises(InvalidInput, match="must not be empty"):
        acme.to_pem_encrypted("")


def test_ca_key_must_match_certificate(root: CaBundle, acme: CaBundle) -> None:
    pem = acme.to_pem_encrypted("pw")
    with pytest.raises(InvalidInput, match="does not match"):
        CaBundle.from_pem(root.certificate_pem, pem, "pw")


def test_crl(root: CaBundle, acme: CaBundle, alice_cert: bytes) -> None:
    serial = certificate_info(alice_cert).serial
    crl = create_crl(acme, [(serial, T0 + timedelta(days=3))], now=T0 + timedelta(days=3))
    assert is_revoked(crl, acme.certificate_pem, serial)
    assert is_revoked(crl, acme.certificate_pem, "0x" + serial.upper())
    assert not is_revoked(crl, acme.certificate_pem, "1234abcd")
    assert not is_revoked(create_crl(acme, [], now=T0), acme.certificate_pem, serial)
    with pytest.raises(InvalidInput, match="stale"):
        is_revoked(crl, acme.certificate_pem, serial, at=T0 + timedelta(days=11))


def test_crl_signed_by_another_ca_is_refused(
    root: CaBundle, acme: CaBundle, globex: CaBundle
) -> None:
    impostor = create_intermediate_ca(root, "acme", "Acme Corp")  # same name, other key
    crl = create_crl(impostor, [("abc", T0)], now=T0)
    with pytest.raises(SignatureInvalid, match="CRL signature does not verify"):
        is_revoked(crl, acme.certificate_pem, "abc")
    with pytest.raises(SignatureInvalid, match="CRL is issued by"):
        is_revoked(create_crl(globex, [], now=T0), acme.certificate_pem, "abc")


def test_crl_input_errors(acme: CaBundle) -> None:
    with pytest.raises(InvalidInput, match="listed twice"):
        create_crl(acme, [("ab", T0), ("0xAB", T0)])
    with pytest.raises(InvalidInput, match="not hex"):
        create_crl(acme, [("xyz", T0)])
    with pytest.raises(InvalidInput, match="timezone-aware"):
        create_crl(acme, [("ab", datetime(2025, 1, 1))])


def test_ca_certificate_as_user_certificate_is_refused(root: CaBundle, acme: CaBundle) -> None:
    # An organisation CA's certificate (a secp256k1 key, as a user's) names no address in
    # its subjectAltName, so it is refused before the chain.
    with pytest.raises(InvalidInput, match="no subjectAltName with its address"):
        verify_chain(acme.certificate_pem, acme.certificate_pem, root.certificate_pem, at=T0)
    with pytest.raises(InvalidInput, match=r"not a PEM X\.509 certificate"):
        certificate_info(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


# -- an organisation's own CA, certified by the network CA from its request ------------


def test_an_org_ca_made_on_its_own_side_certifies_users_that_chain_to_the_root(
    root: CaBundle, alice: PrivateKey
) -> None:
    key, request = x509ca.make_org_ca_request("beta", "Beta Ltd")
    assert b"PRIVATE KEY" not in request
    cert = x509ca.certify_org_ca(root, request, "beta", now=T0)
    org_ca = CaBundle(cert, key)  # the key never left the organisation
    assert org_ca.org_id == "beta"
    csr = x509ca.make_csr(alice, common_name="alice", org_id="beta")
    user = x509ca.issue_certificate(org_ca, csr, roles=["member"], org_id="beta", now=T0)
    info = verify_chain(user, cert, root.certificate_pem, at=T0 + timedelta(days=1))
    assert (info.org_id, info.address) == ("beta", alice.address)


def test_a_request_naming_another_organisation_is_refused(root: CaBundle) -> None:
    _, request = x509ca.make_org_ca_request("acme", "Acme Corp")
    with pytest.raises(InvalidInput, match="names organisation 'acme', not 'beta'"):
        x509ca.certify_org_ca(root, request, "beta", now=T0)


def test_a_request_not_signed_by_its_own_key_is_refused(root: CaBundle) -> None:
    _, request = x509ca.make_org_ca_request("beta", "Beta Ltd")
    forged = _resign_csr(request, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignatureInvalid, match="not signed by its own key"):
        x509ca.certify_org_ca(root, forged, "beta", now=T0)


def test_a_request_that_is_no_csr_is_refused_and_an_org_ca_cannot_certify(
    root: CaBundle, acme: CaBundle
) -> None:
    with pytest.raises(InvalidInput, match="is not a PEM CSR"):
        x509ca.certify_org_ca(root, b"-----BEGIN CERTIFICATE REQUEST-----\nxx", "beta")
    _, request = x509ca.make_org_ca_request("beta", "Beta Ltd")
    with pytest.raises(InvalidInput, match="is an organisation CA, not the root"):
        x509ca.certify_org_ca(acme, request, "beta", now=T0)
