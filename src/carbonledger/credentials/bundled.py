"""The JSON-LD contexts carbonledger ships (``contexts/``), served without the network."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Final

from carbonledger.errors import NotFound

__all__ = ["CARBONLEDGER_CONTEXT", "CONTEXT_FILES", "inline_context", "load_context"]

CARBONLEDGER_CONTEXT: Final = "https://carbonledger.org/ns/v1"

#: Context URL -> bundled file in ``carbonledger/credentials/contexts``.
CONTEXT_FILES: Final = {
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.jsonld",
    "https://www.w3.org/2018/credentials/v1": "credentials-v1.jsonld",
    "https://w3id.org/security/suites/ed25519-2020/v1": "ed25519-2020-v1.jsonld",
    "https://w3id.org/security/v1": "security-v1.jsonld",
    "https://w3id.org/security/v2": "security-v2.jsonld",
    CARBONLEDGER_CONTEXT: "carbonledger-v1.jsonld",
}


@cache
def _context_text(url: str) -> str:
    name = CONTEXT_FILES.get(url)
    if name is None:
        raise NotFound(f"no bundled JSON-LD context for {url}; contexts are never fetched")
    package = __name__.rsplit(".", 1)[0]
    return resources.files(package).joinpath("contexts", name).read_text(encoding="utf-8")


def load_context(url: str) -> dict[str, Any]:
    """Return a bundled JSON-LD context document (a fresh dict) for a document loader.

    Raises:
        NotFound: ``url`` is not a context carbonledger ships.
    """
    loaded: dict[str, Any] = json.loads(_context_text(url))
    return loaded


def inline_context() -> dict[str, Any]:
    """carbonledger's term definitions as an inline context object (a fresh dict).

    New credentials carry this object in ``@context`` rather than the URL, so any
    JSON-LD processor (an Aries agent included) reads them with no network and
    no preloaded copy.
    """
    inner: dict[str, Any] = load_context(CARBONLEDGER_CONTEXT)["@context"]
    return inner
