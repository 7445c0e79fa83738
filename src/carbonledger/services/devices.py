"""Devices, utilities and their credentials on the ledger.

Registration (a meter's ``did:key`` to a site and meter by the organisation; a
utility's by the network admin), retirement and revocation, status lists, and
posting credentials: each posted batch is checked (proof, validity, registered
issuer), sealed in the organisation's channel as one blob, and anchored on the
ledger by the SHA-256 of each credential's canonical JSON (JCS). Readings are
private, so only the channel's members can open them; anyone can check that a
credential shown to them is the one anchored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from carbonledger.core.domain import account_ref
from carbonledger.core.units import convert
from carbonledger.credentials.did import Signer
from carbonledger.credentials.proof import canonicalize, format_datetime
from carbonledger.credentials.status import StatusListChecker
from carbonledger.credentials.types import (
    METER_READINGS,
    meter_readings_credential,
    validate,
)
from carbonledger.credentials.vc import issue, issuer_id, verify
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, IntegrityError, InvalidInput, NotFound
from carbonledger.greenbutton.results import Interval
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort, Receipt
from carbonledger.services.channels import ChannelKeys, fresh_epochs, submit_one

__all__ = [
    "CredentialReader",
    "PostReport",
    "credential_digest",
    "ledger_status_checker",
    "post_credentials",
    "publish_status_list",
    "readings_from_intervals",
    "register_device",
    "register_utility",
    "set_device_status",
]

STATUS_PREFIX = "status_list:"


def credential_digest(credential: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the credential's JCS bytes: what the ledger anchors."""
    return hashlib.sha256(canonicalize(credential)).hexdigest()


def _utc_text(moment: datetime | date) -> str:
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return format_datetime(moment)


def register_device(
    ledger: LedgerPort,
    admin: PrivateKey,
    *,
    device_id: str,
    did: str,
    site: str,
    meter: str,
    valid_from: datetime | date,
    valid_until: datetime | date | None = None,
    role: str = "meter",
) -> Receipt:
    """Bind ``did`` to ``site`` and ``meter`` (the bill account it measures).

    The ledger names the meter by its account reference (:func:`account_ref`), the
    pseudonym records use, never by the number.
    """
    site_item = ledger.state().sites.get(site)
    if site_item is None:
        raise NotFound(f"site {site!r} is not registered")
    item = {
        "kind": "device",
        "id": device_id,
        "org": site_item["org"],
        "site": site,
        "did": did,
        "meter_ref": account_ref(site, meter),
        "role": role,
        "valid_from": _utc_text(valid_from),
        "valid_until": None if valid_until is None else _utc_text(valid_until),
    }
    return submit_one(ledger, admin, "register_device", [item])


def register_utility(
    ledger: LedgerPort,
    admin: PrivateKey,
    *,
    utility_id: str,
    did: str,
    name: str | None = None,
    eia_id: str | None = None,
    accounts: Sequence[str] = (),
) -> Receipt:
    """Bind a utility's DID to its EIA id (or name) and the ``site/account`` pairs it bills.

    The ledger lists each pair as ``site/`` and the account's reference, never the number.
    """
    refs = []
    for pair in accounts:
        site, sep, number = pair.partition("/")
        if not sep or not site or not number:
            raise InvalidInput(f"utility {utility_id!r}: account {pair!r} must be 'site/account'")
        refs.append(f"{site}/{account_ref(site, number)}")
    item = {
        "kind": "utility",
        "id": utility_id,
        "did": did,
        "name": name,
        "eia_id": eia_id,
        "account_refs": refs,
    }
    return submit_one(ledger, admin, "register_utility", [item])


def set_device_status(
    ledger: LedgerPort,
    key: PrivateKey,
    holder_id: str,
    *,
    status: str = "revoked",
    reason: str | None = None,
    effective: datetime | None = None,
) -> Receipt:
    """Retire (``status="retired"``) or revoke a device or utility."""
    item = {
        "kind": "device_status",
        "id": holder_id,
        "status": status,
        "reason": reason,
        "effective": None if effective is None else format_datetime(effective),
    }
    return submit_one(ledger, key, "device_status", [item])


def publish_status_list(
    ledger: LedgerPort, key: PrivateKey, list_credential: Mapping[str, Any]
) -> Receipt:
    """Put a signed BitstringStatusListCredential on the ledger (a new version replaces)."""
    digest = credential_digest(list_credential)
    item = {
        "kind": "status_list",
        "id": f"sl-{digest[:40]}",
        "url": list_credential.get("id"),
        "sha256": digest,
        "credential": dict(list_credential),
    }
    return submit_one(ledger, key, "publish_status_list", [item])


def ledger_status_checker(ledger: LedgerPort) -> StatusListChecker:
    """A status checker that reads the latest status lists recorded on the ledger."""
    state = ledger.state()

    def fetch(url: str) -> Mapping[str, Any]:
        entry = state.devices.get(STATUS_PREFIX + url)
        if entry is None:
            raise NotFound(f"no status list {url} is recorded on the ledger")
        for stored in ledger.items(ItemQuery(kind="status_list", id=entry["item"], limit=1)):
            credential: dict[str, Any] = stored.item["credential"]
            return credential
        raise NotFound(f"status list item {entry['item']} is missing")

    return StatusListChecker(fetch)


def _holder_for(state_devices: Mapping[str, Any], did: str) -> dict[str, Any] | None:
    for holder in state_devices.values():
        if (
            holder.get("kind") in ("device", "utility")
            and holder.get("did") == did
            and holder.get("status") == "active"
        ):
            return dict(holder)
    return None


def _anchor(credential: Mapping[str, Any], holder: Mapping[str, Any]) -> dict[str, Any]:
    """The public ledger item of one credential (the sealed blob is filled in later)."""
    subject = credential["credentialSubject"]
    kind = validate(credential)
    if kind == METER_READINGS:
        account = subject["meterId"]
        if holder.get("kind") == "device" and (
            account_ref(subject["siteId"], account) != holder.get("meter_ref")
            or subject["siteId"] != holder.get("site")
        ):
            raise InvalidInput(
                f"device {holder['id']!r} is registered to another meter at"
                f" {holder.get('site')}; the credential names {subject['siteId']}/{account}"
            )
        period = {"start": subject["periodStart"], "end": subject["periodEnd"]}
    else:
        account = subject["account"]
        period = {"start": subject["periodStart"], "end": subject["periodEnd"]}
    digest = credential_digest(credential)
    return {
        "kind": "credential",
        "id": f"vc-{digest[:40]}",
        "org": holder.get("org"),
        "site": subject["siteId"],
        "type": kind,
        "issuer": issuer_id(credential),
        "holder": holder["id"],
        "account_ref": account_ref(subject["siteId"], account),
        "period": period,
        "sha256": digest,
        "sealed": {},
    }


@dataclass
class PostReport:
    """What a post did: anchored credentials, duplicates, and each refusal with its reason."""

    posted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    receipt: Receipt | None = None
    events: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "posted": self.posted,
            "duplicates": self.duplicates,
            "rejected": [{"index": i, "reason": r} for i, r in self.rejected],
            "ids": self.ids,
            "events": [e.to_dict() if hasattr(e, "to_dict") else e for e in self.events],
        }


def post_credentials(
    ledger: LedgerPort,
    store: ChannelStore,
    key: PrivateKey,
    credentials: Sequence[Mapping[str, Any]],
    *,
    org: str | None = None,
    check: bool = True,
    now: datetime | None = None,
) -> PostReport:
    """Check, seal and anchor credentials issued by registered devices and utilities.

    Each credential must be a carbonledger MeterReadingsCredential or
    UtilityBillCredential whose issuer is an active registered DID (a device for
    readings, the utility for bills). With ``check`` (the default) its proof,
    validity dates and status are verified before anything is written; a
    credential that fails is reported with its reason and not posted.
    ``check=False`` skips those checks: it exists so tests can play a poster that
    lies, whose credentials the digital auditor must then catch.
    """
    state = ledger.state()
    report = PostReport()
    status = ledger_status_checker(ledger)
    when = now or datetime.now(UTC)
    pending: list[tuple[dict[str, Any], dict[str, Any]]] = []
    seen: set[str] = set()
    for n, credential in enumerate(credentials):
        try:
            holder = _holder_for(state.devices, issuer_id(credential) or "")
            if holder is None:
                raise NotFound(
                    f"issuer {issuer_id(credential)} is not a registered, active device or utility"
                )
            item = _anchor(credential, holder)
            site = state.sites.get(item["site"])
            if site is None:
                raise NotFound(f"site {item['site']!r} is not registered")
            item["org"] = site["org"]
            if org is not None and site["org"] != org:
                raise InvalidInput(f"site {site['id']!r} belongs to {site['org']!r}, not {org!r}")
            if check:
                result = verify(credential, now=when, status_checker=status)
                if not result.ok:
                    raise InvalidInput("; ".join(result.errors))
        except CarbonLedgerError as exc:
            report.rejected.append((n, str(exc)))
            continue
        if item["id"] in seen or any(
            True for _ in ledger.items(ItemQuery(kind="credential", id=item["id"], limit=1))
        ):
            report.duplicates += 1
            continue
        seen.add(item["id"])
        pending.append((item, dict(credential)))
    if not pending:
        return report
    blobs = _seal_by_org(ledger, store, key, pending)
    items = [item for item, _ in pending]
    report.receipt = submit_one(ledger, key, "anchor_credentials", items, blobs)
    report.posted = len(items)
    report.ids = [item["id"] for item in items]
    return report


def _seal_by_org(
    ledger: LedgerPort,
    store: ChannelStore,
    key: PrivateKey,
    pending: list[tuple[dict[str, Any], dict[str, Any]]],
) -> list[bytes]:
    """Seal each organisation's credentials as one blob (after rotating a stale epoch)."""
    by_org: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for item, credential in pending:
        by_org.setdefault(item["org"], []).append((item, credential))
    fresh_epochs(ledger, store, key, by_org)
    state = ledger.state()
    keys = ChannelKeys(state, store, key)
    blobs: list[bytes] = []
    for channel, group in by_org.items():
        epoch = int(state.channels[channel]["epoch"])
        plain = orjson.dumps({item["sha256"]: cred for item, cred in group})
        blob_id, blob = keys.seal(channel, epoch, plain)
        blobs.append(blob)  # travels with the transaction, stored in its commit
        for item, _ in group:
            item["sealed"] = {"channel": channel, "epoch": epoch, "blob": blob_id}
    return blobs


class CredentialReader:
    """Opens sealed credentials for a channel member; checks each against its anchor."""

    def __init__(self, ledger: LedgerPort, store: ChannelStore, key: PrivateKey) -> None:
        self._keys = ChannelKeys(ledger.state(), store, key)
        self._store = store
        self._blobs: dict[str, dict[str, Any]] = {}

    def credential(self, anchor: Mapping[str, Any]) -> dict[str, Any]:
        """The credential anchored by ``anchor``.

        Raises:
            IntegrityError: the sealed blob lacks it, or it does not hash to the anchor.
            NotFound: the blob or the channel key is missing.
        """
        sealed = anchor["sealed"]
        opened = self._blobs.get(sealed["blob"])
        if opened is None:
            plain = self._keys.open(
                sealed["channel"], int(sealed["epoch"]), self._store.blob(sealed["blob"])
            )
            opened = orjson.loads(plain)
            if len(self._blobs) > 16:  # bound memory: blobs of readings are large
                self._blobs.clear()
            self._blobs[sealed["blob"]] = opened
        credential = opened.get(anchor["sha256"])
        if not isinstance(credential, dict):
            raise IntegrityError(f"credential {anchor['id']}: not in its sealed blob")
        if credential_digest(credential) != anchor["sha256"]:
            raise IntegrityError(f"credential {anchor['id']}: does not match its anchored hash")
        return credential


def readings_from_intervals(
    intervals: Iterable[Interval],
    signer: Signer,
    *,
    meter_id: str,
    site_id: str,
    per: str = "month",
    valid_from: datetime | None = None,
) -> list[dict[str, Any]]:
    """Sign Green Button intervals as MeterReadingsCredentials, one per UTC month (or day).

    Only delivered energy is taken; values are converted to Wh exactly. Every
    interval must have the same length (the credential's ``intervalSeconds``).
    """
    if per not in ("month", "day"):
        raise InvalidInput("per must be 'month' or 'day'")
    groups: dict[tuple[int, ...], list[tuple[datetime, Decimal]]] = {}
    step: int | None = None
    for interval in intervals:
        if interval.flow != "delivered":
            continue
        seconds = int((interval.end - interval.start).total_seconds())
        if step is None:
            step = seconds
        elif seconds != step:
            raise InvalidInput(
                f"interval at {interval.start:%Y-%m-%dT%H:%MZ} lasts {seconds} s, not {step} s"
            )
        wh = convert(interval.amount, interval.unit, "Wh")
        start = interval.start.astimezone(UTC)
        key = (start.year, start.month) if per == "month" else (start.year, start.month, start.day)
        groups.setdefault(key, []).append((start, wh))
    if step is None:
        raise InvalidInput("no delivered energy intervals to sign")
    out = []
    for _, rows in sorted(groups.items()):
        rows.sort()
        unsigned = meter_readings_credential(
            issuer=signer.did,
            meter_id=meter_id,
            site_id=site_id,
            interval_seconds=step,
            readings=[(start, _plain(wh)) for start, wh in rows],
            valid_from=valid_from or rows[-1][0] + timedelta(seconds=step),
        )
        out.append(issue(unsigned, signer))
    return out


def _plain(value: Decimal) -> Decimal:
    """``12.50000`` -> ``12.5``, ``1E+3`` -> ``1000``: stable decimal text for signing."""
    tidy = value.normalize()
    exponent = tidy.as_tuple().exponent
    return tidy.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else tidy
