"""W3C Bitstring Status List v1.0: revocation and suspension of credentials.

An issuer keeps one bit per credential in a list of at least 131,072 entries
(16 KiB). The list travels as a ``BitstringStatusListCredential`` whose
``encodedList`` is multibase base64url (``u``, no padding) of the GZIP-compressed
bitstring; index 0 is the left-most (most significant) bit of the first byte.
Each credential points at its bit with a ``BitstringStatusListEntry``.

The checker is pure: status list credentials come from a ``fetch`` callable
(a dict, a database, a test fixture); nothing here opens a socket.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from carbonledger.credentials.did import DidDocument, Signer, resolve
from carbonledger.credentials.proof import canonicalize, format_datetime, parse_datetime
from carbonledger.credentials.vc import VC_V2_CONTEXT, issue, issuer_id, verify
from carbonledger.errors import InvalidInput

__all__ = [
    "MIN_ENTRIES",
    "STATUS_PURPOSES",
    "BitstringStatusList",
    "StatusListChecker",
    "issue_status_list",
    "status_entry",
    "status_list_credential",
]

#: The spec's minimum list length, for herd privacy: 16 KiB of bits.
MIN_ENTRIES: Final = 131_072
STATUS_PURPOSES: Final = ("revocation", "suspension")
# A decompressed list larger than this is refused (a GZIP bomb guard): 128 Mi entries.
_MAX_BYTES: Final = 16 * 1024 * 1024
_CACHE_SIZE: Final = 256


class BitstringStatusList:
    """A mutable bitstring, one bit per issued credential."""

    __slots__ = ("_bits",)

    def __init__(self, size: int = MIN_ENTRIES) -> None:
        if not isinstance(size, int) or size < MIN_ENTRIES or size % 8:
            raise InvalidInput(f"a status list holds a multiple of 8, at least {MIN_ENTRIES}")
        self._bits = bytearray(size // 8)

    @property
    def size(self) -> int:
        """How many entries the list holds."""
        return len(self._bits) * 8

    def _locate(self, index: int) -> tuple[int, int]:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.size:
            raise InvalidInput(f"status list index {index!r} is outside 0..{self.size - 1}")
        return index >> 3, 0x80 >> (index & 7)

    def set(self, index: int) -> None:
        """Set the bit at ``index`` (revoke or suspend that credential)."""
        byte, mask = self._locate(index)
        self._bits[byte] |= mask

    def clear(self, index: int) -> None:
        """Clear the bit at ``index`` (lift a suspension)."""
        byte, mask = self._locate(index)
        self._bits[byte] &= ~mask & 0xFF

    def is_set(self, index: int) -> bool:
        """Return True if the bit at ``index`` is set."""
        byte, mask = self._locate(index)
        return bool(self._bits[byte] & mask)

    def encode(self) -> str:
        """Return ``encodedList``: ``u`` + base64url (no padding) of GZIP of the bits."""
        packed = gzip.compress(bytes(self._bits), mtime=0)
        return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, encoded: str) -> BitstringStatusList:
        """Parse an ``encodedList``.

        Raises:
            InvalidInput: not multibase base64url, not GZIP, or shorter than the
                spec's minimum (STATUS_LIST_LENGTH_ERROR).
        """
        if not isinstance(encoded, str) or not encoded.startswith("u"):
            raise InvalidInput("encodedList must be multibase base64url ('u')")
        body = encoded[1:]
        try:
            packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            inflater = zlib.decompressobj(wbits=31)  # 31: expect a GZIP header
            bits = inflater.decompress(packed, _MAX_BYTES)
        except (ValueError, zlib.error) as exc:
            raise InvalidInput(f"encodedList is not base64url GZIP: {exc}") from exc
        if inflater.unconsumed_tail:
            raise InvalidInput("encodedList decompresses to more than 16 MiB")
        if len(bits) * 8 < MIN_ENTRIES:
            raise InvalidInput(f"status list has {len(bits) * 8} entries, fewer than {MIN_ENTRIES}")
        status_list = cls.__new__(cls)
        status_list._bits = bytearray(bits)
        return status_list


def status_entry(list_id: str, index: int, purpose: str = "revocation") -> dict[str, Any]:
    """The ``credentialStatus`` value that points a credential at bit ``index``."""
    if purpose not in STATUS_PURPOSES:
        raise InvalidInput(f"statusPurpose must be one of {STATUS_PURPOSES}, got {purpose!r}")
    if not isinstance(index, int) or index < 0:
        raise InvalidInput(f"statusListIndex must be a non-negative integer, got {index!r}")
    return {
        "id": f"{list_id}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_id,
    }


def status_list_credential(
    status_list: BitstringStatusList,
    *,
    list_id: str,
    issuer: str,
    purpose: str = "revocation",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` for ``status_list``."""
    if purpose not in STATUS_PURPOSES:
        raise InvalidInput(f"statusPurpose must be one of {STATUS_PURPOSES}, got {purpose!r}")
    credential: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT],
        "id": list_id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "credentialSubject": {
            "id": f"{list_id}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": status_list.encode(),
        },
    }
    if valid_from is not None:
        credential["validFrom"] = format_datetime(valid_from)
    if valid_until is not None:
        credential["validUntil"] = format_datetime(valid_until)
    return credential


def issue_status_list(
    status_list: BitstringStatusList,
    signer: Signer,
    *,
    list_id: str,
    purpose: str = "revocation",
    created: datetime | None = None,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """Sign the list as a ``BitstringStatusListCredential`` issued by ``signer``."""
    unsigned = status_list_credential(
        status_list,
        list_id=list_id,
        issuer=signer.did,
        purpose=purpose,
        valid_from=created,
        valid_until=valid_until,
    )
    return issue(unsigned, signer, created=created)


@dataclass(frozen=True, slots=True)
class _VerifiedList:
    bits: BitstringStatusList
    issuer: str
    purposes: tuple[str, ...]
    valid_from: datetime | None
    valid_until: datetime | None


class StatusListChecker:
    """Checks ``BitstringStatusListEntry`` values; pass it as ``status_checker``.

    ``fetch(url)`` returns the status list credential for a URL (raising
    ``NotFound`` or another ``LookupError`` when it has none). Each list
    credential's own proof is verified, its issuer must be the credential's
    issuer, and its purpose the entry's.
    Verified lists are cached by the SHA-256 of their canonical bytes, so a
    changed list is verified again and an unchanged one is not.
    """

    def __init__(
        self,
        fetch: Callable[[str], Mapping[str, Any]],
        *,
        resolver: Callable[[str], DidDocument] = resolve,
    ) -> None:
        self._fetch = fetch
        self._resolver = resolver
        self._cache: dict[bytes, _VerifiedList] = {}

    def __call__(self, credential: Mapping[str, Any], now: datetime) -> list[str]:
        """Return error strings for ``credential``'s status entries (empty: all clear)."""
        entries = credential.get("credentialStatus")
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            return ["status: credentialStatus must be an object or a non-empty list"]
        errors: list[str] = []
        for entry in entries:
            errors.extend(self._check(credential, entry, now))
        return errors

    def _load(self, url: str, now: datetime) -> _VerifiedList | str:
        try:
            list_vc = self._fetch(url)
            key = hashlib.sha256(canonicalize(list_vc)).digest()
        except (LookupError, InvalidInput) as exc:  # NotFound and KeyError are LookupErrors
            return f"status: status list {url} is not available: {exc!r}"
        cached = self._cache.get(key)
        if cached is None:
            loaded = self._verify_list(url, list_vc, now)
            if isinstance(loaded, str):
                return loaded
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = cached = loaded
        if cached.valid_from is not None and now < cached.valid_from:
            return f"status: status list {url} is not yet valid"
        if cached.valid_until is not None and now > cached.valid_until:
            return f"status: status list {url} has expired"
        return cached

    def _verify_list(
        self, url: str, list_vc: Mapping[str, Any], now: datetime
    ) -> _VerifiedList | str:
        result = verify(list_vc, resolver=self._resolver, now=now)
        # Its validity period is checked on every use, cached or not, by _load.
        proof_errors = [e for e in result.errors if not e.startswith(("expired", "not yet"))]
        if proof_errors:
            return f"status: status list {url} does not verify: {'; '.join(proof_errors)}"
        subject = list_vc.get("credentialSubject")
        if (
            "BitstringStatusListCredential" not in result.types
            or list_vc.get("id") != url
            or not isinstance(subject, Mapping)
            or subject.get("type") != "BitstringStatusList"
        ):
            return f"status: {url} is not a BitstringStatusListCredential for that URL"
        purposes = subject.get("statusPurpose")
        purposes = [purposes] if isinstance(purposes, str) else purposes
        start, end = list_vc.get("validFrom"), list_vc.get("validUntil")
        try:
            return _VerifiedList(
                bits=BitstringStatusList.decode(subject.get("encodedList")),  # type: ignore[arg-type]
                issuer=result.issuer or "",
                purposes=tuple(p for p in purposes or () if isinstance(p, str)),
                valid_from=parse_datetime(start, "validFrom") if start else None,
                valid_until=parse_datetime(end, "validUntil") if end else None,
            )
        except InvalidInput as exc:
            return f"status: status list {url}: {exc}"

    def _check(self, credential: Mapping[str, Any], entry: object, now: datetime) -> list[str]:
        parsed = _parse_entry(entry)
        if isinstance(parsed, str):
            return [parsed]
        url, index, purpose = parsed
        loaded = self._load(url, now)
        if isinstance(loaded, str):
            return [loaded]
        if loaded.issuer != issuer_id(credential) or purpose not in loaded.purposes:
            return [
                f"status: status list {url} ({loaded.issuer}, {'/'.join(loaded.purposes)}) "
                f"is not the issuer's {purpose} list"
            ]
        if index >= loaded.bits.size:
            return [f"status: statusListIndex {index} is beyond the list ({loaded.bits.size})"]
        if loaded.bits.is_set(index):
            verb = "revoked" if purpose == "revocation" else "suspended"
            return [f"{verb}: status list {url} has bit {index} set ({purpose})"]
        return []


def _parse_entry(entry: object) -> tuple[str, int, str] | str:
    """Return (list URL, index, purpose) of a BitstringStatusListEntry, or an error."""
    if not isinstance(entry, Mapping) or entry.get("type") != "BitstringStatusListEntry":
        return "status: unsupported credentialStatus (want BitstringStatusListEntry)"
    purpose = entry.get("statusPurpose")
    url = entry.get("statusListCredential")
    raw_index = entry.get("statusListIndex")
    if not isinstance(purpose, str) or purpose not in STATUS_PURPOSES:
        return f"status: unsupported statusPurpose {purpose!r}"
    if entry.get("statusSize", 1) not in (1, "1"):
        return "status: only statusSize 1 is supported"
    if not isinstance(url, str) or not isinstance(raw_index, str) or not raw_index.isdigit():
        return "status: entry needs statusListCredential and a decimal statusListIndex"
    return url, int(raw_index), purpose
