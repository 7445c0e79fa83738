"""Credentials from Hyperledger Aries agents (ACA-Py): admin API answers and exports.

An ACA-Py agent answers ``/vc/credentials/issue`` with ``{"verifiableCredential": ...}``,
``/vc/di/add-proof`` with ``{"securedDocument": ...}`` and ``GET /vc/credentials``
(its wallet's W3C credentials) with ``{"results": [...]}``. :func:`unwrap` takes
any of those, a bare credential or a list, and returns the credentials in it;
:func:`fetch_agent_credentials` reads an agent's wallet over its admin API (the
only I/O in this package, and only when called).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Final

from carbonledger.errors import InvalidInput, NotFound

__all__ = ["WRAPPERS", "fetch_agent_credentials", "unwrap"]

#: Keys under which ACA-Py's admin API returns credentials.
WRAPPERS: Final = ("verifiableCredential", "securedDocument", "credential", "results")
_TIMEOUT_S: Final = 30


def unwrap(data: object, source: str) -> list[dict[str, Any]]:
    """The credentials in an agent's answer, an export, one credential or a list.

    Raises:
        InvalidInput: something in ``data`` is not a credential (names ``source``).
    """
    if isinstance(data, list):
        return [c for item in data for c in unwrap(item, source)]
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{source}: expected a credential, a list, or an agent's answer")
    if "proof" in data or "credentialSubject" in data:
        return [dict(data)]
    for key in WRAPPERS:
        if key in data:
            return unwrap(data[key], source)
    raise InvalidInput(
        f"{source}: no credential here (a credential, a list, or an answer with"
        f" {', '.join(WRAPPERS)})"
    )


def fetch_agent_credentials(admin_url: str, api_key: str | None = None) -> list[dict[str, Any]]:
    """Every W3C credential in an ACA-Py agent's wallet (``GET /vc/credentials``).

    Raises:
        InvalidInput: not an http(s) URL, or the agent's answer is not credentials.
        NotFound: the agent cannot be reached or refuses (names the URL and status).
    """
    if not admin_url.startswith(("http://", "https://")):
        raise InvalidInput(f"agent admin URL must start with http:// or https://: {admin_url!r}")
    url = admin_url.rstrip("/") + "/vc/credentials"
    headers = {"Accept": "application/json"}
    if api_key:
        headers["X-API-Key"] = api_key
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as exc:
        exc.close()  # the error carries the open response
        raise NotFound(f"agent at {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotFound(f"cannot reach the agent at {url}: {reason}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidInput(f"agent at {url} did not answer JSON") from None
    return unwrap(data, url)
