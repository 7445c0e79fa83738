"""JSON-LD canonicalisation (URDNA2015, with ``pyld``) over bundled contexts only.

The Linked Data proof suites (``Ed25519Signature2020``, ``Ed25519Signature2018``)
sign the canonical N-Quads of a document, so verifying them means expanding its
JSON-LD. Every context is served from ``carbonledger/credentials/contexts``; a
context that is not bundled is refused with :class:`ContextUnavailable`, never
fetched, so verification needs no network and cannot be steered by whoever
serves a URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pyld import jsonld  # type: ignore[import-untyped]

from carbonledger.credentials.bundled import load_context
from carbonledger.errors import InvalidInput, NotFound

__all__ = ["DROPPED_VOCAB", "ContextUnavailable", "canonize", "document_loader"]

#: A vocabulary no real term maps to: any IRI under it is a property or type the
#: document's contexts do not define, which a JSON-LD proof would silently not sign.
DROPPED_VOCAB: Final = "urn:carbonledger:undefined-term#"


_VC_V2: Final = "https://www.w3.org/ns/credentials/v2"


class ContextUnavailable(NotFound):
    """A JSON-LD context that carbonledger does not bundle (contexts are never fetched)."""


def document_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A pyld document loader that serves bundled contexts and refuses everything else.

    Raises:
        ContextUnavailable: ``url`` is not a bundled context.
    """
    try:
        document = load_context(url)
    except NotFound:
        raise ContextUnavailable(
            f"JSON-LD context {url} is not bundled with carbonledger, and contexts are"
            " never fetched from the network; publish it inline in the credential's @context"
        ) from None
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": document,
    }


def _cause(exc: BaseException) -> BaseException:
    # pyld wraps a loader's exception in JsonLdError (details["cause"] or __cause__).
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ContextUnavailable):
            return seen
        details = getattr(seen, "details", None)
        nested = details.get("cause") if isinstance(details, dict) else None
        seen = nested if isinstance(nested, BaseException) else seen.__cause__
    return exc


def _options() -> dict[str, Any]:
    return {
        "algorithm": "URDNA2015",
        "format": "application/n-quads",
        "documentLoader": document_loader,
    }


def _undefined_terms(document: Mapping[str, Any]) -> list[str]:
    # Expand once more with a trailing catch-all vocabulary: a key or type the
    # contexts leave undefined then expands under DROPPED_VOCAB instead of vanishing.
    # VC 2.0's context maps every undefined term under its own @vocab (so
    # nothing is dropped there); the probe is for documents without it.
    ctx = document.get("@context")
    contexts = ctx if isinstance(ctx, list) else [ctx] if ctx is not None else []
    if _VC_V2 in contexts:
        return []
    probe = {**document, "@context": [*contexts, {"@vocab": DROPPED_VOCAB}]}
    quads: str = jsonld.to_rdf(
        probe, {"format": "application/n-quads", "documentLoader": document_loader}
    )
    found = {
        part.split(DROPPED_VOCAB, 1)[1].split(">", 1)[0]
        for part in quads.split("<")[1:]
        if part.startswith(DROPPED_VOCAB)
    }
    return sorted(found)


def canonize(document: Mapping[str, Any]) -> str:
    """The URDNA2015 canonical N-Quads of a JSON-LD document (bundled contexts only).

    Raises:
        ContextUnavailable: the document names a context carbonledger does not bundle.
        InvalidInput: the document is not valid JSON-LD, or uses a property or
            type its contexts do not define (it would be left out of what is signed).
    """
    try:
        undefined = _undefined_terms(document)
        if undefined:
            raise InvalidInput(
                f"JSON-LD: {', '.join(undefined)} not defined by the document's @context"
                " (a Linked Data proof would not cover it)"
            )
        text: str = jsonld.normalize(dict(document), _options())
    except jsonld.JsonLdError as exc:
        cause = _cause(exc)
        if isinstance(cause, ContextUnavailable):
            raise ContextUnavailable(str(cause)) from None
        raise InvalidInput(f"JSON-LD: {exc.args[0] if exc.args else exc}") from None
    return text
