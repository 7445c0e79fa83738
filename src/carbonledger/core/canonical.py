"""Canonical JSON: the one byte form that is hashed and signed.

Keys sorted, no whitespace, UTF-8, and only strings, integers, booleans, null,
lists and objects. Quantities travel as decimal strings, never floats, so the
bytes are the same on every platform; for such values the output equals the
JSON Canonicalization Scheme (RFC 8785).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from carbonledger.errors import InvalidInput

__all__ = ["canonical", "loads"]

_OPTS = orjson.OPT_SORT_KEYS


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not allowed in canonical JSON")


def canonical(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes (Decimals become strings)."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTS)
    except TypeError as exc:
        raise InvalidInput(f"cannot encode as canonical JSON: {exc}") from exc


def loads(data: bytes | str) -> Any:
    """Decode JSON produced by :func:`canonical`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from exc
