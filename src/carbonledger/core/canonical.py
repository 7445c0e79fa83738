"""Canonical JSON: the one byte form that is hashed and signed.

The JSON Canonicalization Scheme (RFC 8785) restricted to what a ledger item
may hold: objects, lists, strings, integers, booleans and null. Keys are sorted
by their UTF-16 code units, there is no whitespace, strings are UTF-8 with only
``"``, ``\\`` and control characters escaped. Quantities travel as decimal
strings (``Decimal`` values are written as strings), never as floats: a float
or NaN is refused rather than rounded or turned into ``null``.

Two functions, one definition. :func:`canonical` writes ledger items and
transaction bodies; :func:`jcs` writes any JSON value received from elsewhere
(verifiable credentials carry JSON numbers, so floats are formatted the
ECMAScript way RFC 8785 asks, by the ``rfc8785`` reference implementation). On
every value both accept they write the same bytes (a property test holds them
to the reference); :func:`canonical` refuses floats, :func:`jcs` refuses what
JSON cannot carry exactly (integers beyond 2**53, Decimals).

One deliberate extension of :func:`canonical`: RFC 8785 numbers are IEEE doubles, so it cannot
write integers beyond 2**53; token amounts go up to 2**63 - 1 and are written
as their exact decimal digits (what RFC 8785 writes for every integer it can
represent).

Bytes received from elsewhere (a client's transaction, a chain's calldata) are
read with :func:`loads_canonical`, which refuses any byte form other than this
one: duplicate keys, whitespace, another key order, escapes or floats would let
two readers (this package, a contract, an auditor's tool) see different items
behind the same signature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

import orjson
import rfc8785

from carbonledger.errors import InvalidInput

__all__ = ["canonical", "jcs", "loads", "loads_canonical"]

_OPTS = orjson.OPT_SORT_KEYS

# orjson writes exactly the canonical form except for floats (which it accepts),
# NaN (written as null) and keys outside the Basic Multilingual Plane (sorted by
# code point, not UTF-16 unit). Floats are found by a walk of the value (cheaper
# than any scan of the bytes: a regex over an item costs ten times the encoding);
# astral keys are looked for only when the output is not plain ASCII.
_ASTRAL = re.compile(rb"[\xf0-\xf4]")
_SCALAR_TYPES = (str, int, bool, type(None))


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not allowed in canonical JSON")


def _has_float(value: Any) -> bool:
    """True if a float (NaN and infinities too) is anywhere in ``value`` (kept lean: it
    runs for every value encoded unchecked)."""
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
    elif kind is list or kind is tuple:
        items = value
    elif kind in _SCALAR_TYPES:
        return False
    elif isinstance(value, float):
        return True
    elif isinstance(value, dict):  # subclasses (OrderedDict, ...)
        items = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return False
    for item in items:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if _has_float(item):
            return True
    return False


def _check(value: Any, path: str) -> None:
    """Refuse floats (and so NaN and infinities) anywhere in ``value``."""
    if isinstance(value, float):
        raise InvalidInput(
            f"cannot encode as canonical JSON: {path or 'value'} is a float ({value!r});"
            " quantities travel as decimal strings"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(item, str | int):
                _check(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            if not isinstance(item, str | int):
                _check(item, f"{path}[{n}]")


def _astral_keys(value: Any) -> bool:
    """True if some key of ``value`` has a character beyond U+FFFF (UTF-16 ordering)."""
    if isinstance(value, dict):
        return any(
            (isinstance(k, str) and max(k, default="\0") > "\uffff") or _astral_keys(v)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(_astral_keys(v) for v in value)
    return False


def _utf16_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: str(k).encode("utf-16-be"))
        return {k: _utf16_sorted(value[k]) for k in keys}
    if isinstance(value, list | tuple):
        return [_utf16_sorted(v) for v in value]
    return value


def canonical(value: Any, *, checked: bool = False) -> bytes:
    """Encode ``value`` as canonical JSON bytes (Decimals become strings).

    Raises :class:`InvalidInput` for floats, NaN and anything that is not JSON.
    ``checked``: ``value`` was built only from values that this function or
    :func:`loads_canonical` already accepted (the ledger's state snapshot), or from
    text, integers, booleans and None by its builder's types (an import's items and
    sealed details), so no float can be in it and the walk that looks for one is
    skipped.
    """
    try:
        out = orjson.dumps(value, default=_default, option=_OPTS)
    except TypeError as exc:
        raise InvalidInput(f"cannot encode as canonical JSON: {exc}") from exc
    if not checked and _has_float(value):
        _check(value, "")  # finds and names it
    if not out.isascii() and _ASTRAL.search(out) and _astral_keys(value):
        # Keys beyond U+FFFF: RFC 8785 orders by UTF-16 code units. orjson keeps
        # insertion order without OPT_SORT_KEYS, so sort first and encode as is.
        out = orjson.dumps(_utf16_sorted(value), default=_default)
    return out


def loads(data: bytes | str) -> Any:
    """Decode JSON (trusted bytes: produced here, or already checked)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from exc


def loads_canonical(data: bytes, what: str = "value") -> Any:
    """Decode bytes received from elsewhere, refusing any but the canonical form."""
    value = loads(data)
    try:
        again = canonical(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{what} is not canonical JSON: {exc}") from exc
    if again != data:
        raise InvalidInput(
            f"{what} is not canonical JSON (RFC 8785: sorted keys, no whitespace or"
            " duplicate keys, minimal escapes, no floats)"
        )
    return value


_ORJSON_OPTS: Final = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
# Characters at or above U+E000 (UTF-8 lead bytes 0xEE-0xF4) are where sorting
# keys by UTF-8 bytes (orjson) and by UTF-16 code units (JCS) can disagree.
_HIGH_CHARS: Final = re.compile(rb"[\xee-\xf4]")


def _plain(value: object) -> bool:
    # True when value holds only str, int (bool included), list and dict: for
    # those, orjson with sorted keys and strict 53-bit integers writes the JCS
    # bytes. Floats (JCS formats numbers the ECMAScript way) and None (orjson
    # also writes NaN as null) go to the rfc8785 reference implementation.
    kind = type(value)
    if kind is dict:
        items: Iterable[object] = value.values()  # type: ignore[attr-defined]
    elif kind is list:
        items = value  # type: ignore[assignment]
    else:
        return kind is str or kind is int or kind is bool
    for item in items:  # noqa: SIM110 - a plain loop beats all() on the verify hot path
        if type(item) is not str and not _plain(item):
            return False
    return True


def jcs(value: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of any JSON value, floats included.

    Raises:
        InvalidInput: the value holds something JSON cannot carry exactly (a
            non-string key, an integer beyond 2**53, NaN, a datetime, ...).
    """
    try:
        if _plain(value):
            fast = orjson.dumps(value, option=_ORJSON_OPTS)
            if fast.isascii() or _HIGH_CHARS.search(fast) is None:
                return fast
    except (TypeError, RecursionError):
        pass  # the reference implementation below gives the precise error
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"cannot canonicalize as JSON (RFC 8785): {exc}") from exc
