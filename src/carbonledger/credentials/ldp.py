"""Linked Data proofs: ``Ed25519Signature2020`` and ``Ed25519Signature2018``.

The suites Aries agents (ACA-Py's ``/vc/credentials/*``) and most W3C VC 1.1
verifiers implement. Both sign the same 64 bytes:

    SHA-256(URDNA2015(proof options with the document's @context))
    || SHA-256(URDNA2015(document without proof))

``Ed25519Signature2020`` puts the Ed25519 signature in ``proofValue`` (multibase
base58btc); ``Ed25519Signature2018`` in ``jws``, a detached JWS with
``{"alg":"EdDSA","b64":false,"crit":["b64"]}`` over ``header + "." + bytes``.
Canonicalisation is :func:`carbonledger.credentials.jsonld.canonize` (pyld,
bundled contexts only).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any, Final

import orjson

from carbonledger.credentials.did import Signer, base58btc_decode, base58btc_encode
from carbonledger.credentials.jsonld import canonize
from carbonledger.errors import InvalidInput

__all__ = [
    "ED25519_2020_CONTEXT",
    "LD_SUITES",
    "ld_sign",
    "ld_signature",
    "ld_verify_data",
    "with_suite_context",
]

ED25519_2020_CONTEXT: Final = "https://w3id.org/security/suites/ed25519-2020/v1"
#: Linked Data proof types verified here (each signs with an Ed25519 key).
LD_SUITES: Final = ("Ed25519Signature2020", "Ed25519Signature2018")
_JWS_HEADER: Final = {"alg": "EdDSA", "b64": False, "crit": ["b64"]}
_SIGNATURE_FIELDS: Final = ("proofValue", "jws", "signatureValue")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_suite_context(document: Mapping[str, Any], suite: str) -> dict[str, Any]:
    """Append the context that defines ``suite`` when the document's contexts lack it.

    ``Ed25519Signature2018`` is defined by the VC 1.1 context; ``Ed25519Signature2020``
    needs its own (as ACA-Py adds it).
    """
    out = dict(document)
    if suite == "Ed25519Signature2020":
        ctx = out.get("@context")
        contexts = list(ctx) if isinstance(ctx, list) else [ctx]
        if ED25519_2020_CONTEXT not in contexts:
            out["@context"] = [*contexts, ED25519_2020_CONTEXT]
    return out


def ld_verify_data(unsecured: Mapping[str, Any], options: Mapping[str, Any]) -> bytes:
    """The 64 bytes an LD proof signs: hashes of the canonical proof options, then document.

    Raises:
        InvalidInput: not canonicalisable JSON-LD (an undefined term, a context
            that is not bundled, ...).
    """
    config = {k: v for k, v in options.items() if k not in _SIGNATURE_FIELDS}
    config["@context"] = unsecured.get("@context") or "https://w3id.org/security/v2"
    return (
        hashlib.sha256(canonize(config).encode("utf-8")).digest()
        + hashlib.sha256(canonize(unsecured).encode("utf-8")).digest()
    )


def ld_signature(suite: str, proof: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """(signature, prefix) of an LD proof: the message checked is ``prefix + verify data``.

    Raises:
        InvalidInput: the proof's ``proofValue`` or ``jws`` is malformed.
    """
    if suite == "Ed25519Signature2020":
        value = proof.get("proofValue")
        if not isinstance(value, str) or not value.startswith("z"):
            raise InvalidInput("proofValue must be multibase base58btc ('z')")
        return base58btc_decode(value[1:]), b""
    jws = proof.get("jws")
    if not isinstance(jws, str) or jws.count(".") != 2:
        raise InvalidInput("jws must be a detached JWS (header..signature)")
    header_b64, payload, signature_b64 = jws.split(".")
    try:
        header = orjson.loads(_b64url_decode(header_b64))
        signature = _b64url_decode(signature_b64)
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidInput("jws is not base64url JSON") from None
    if payload or header != _JWS_HEADER:
        raise InvalidInput(f"jws header must be {_JWS_HEADER} with a detached payload")
    return signature, (header_b64 + ".").encode("ascii")


def ld_sign(
    suite: str, unsecured: Mapping[str, Any], options: dict[str, Any], signer: Signer
) -> None:
    """Sign ``options`` in place (``proofValue`` or ``jws``) over ``unsecured``."""
    data = ld_verify_data(unsecured, options)
    if suite == "Ed25519Signature2020":
        options["proofValue"] = "z" + base58btc_encode(signer.sign(data))
        return
    header = _b64url(orjson.dumps(_JWS_HEADER))
    options["jws"] = f"{header}..{_b64url(signer.sign((header + '.').encode('ascii') + data))}"
