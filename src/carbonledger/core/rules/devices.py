"""Devices, meters and utilities: registration of their DIDs to sites and accounts.

``state.devices`` maps an id to one JSON value:

* a device id (a meter or another IoT device) -> ``{"kind": "device", "did", "org",
  "site", "meter_ref", "role", "valid_from", "valid_until", "status", ...}``: registered
  by an admin of the site's organisation; its readings count from ``valid_from``
  (the installation time, stated by the organisation, since readings are often
  posted long after they were taken) until it is retired or revoked;
* a utility id -> ``{"kind": "utility", "did", "name", "eia_id", "account_refs", ...}``:
  registered by the network admin; it bills the listed ``site/account_ref`` pairs and
  every account of a site whose ``utility_id`` is its ``eia_id``;

Meters and accounts are named by their account reference (SHA-256 of site and
number, as records name them), never by the number: the number is a sealed detail.
* ``"status_list:" + URL`` -> the latest Bitstring Status List credential published
  for that URL (its SHA-256 and the id of the ledger item that carries it), so
  credential revocation is checkable offline from the ledger alone.

Credentials themselves are sealed in the organisation's channel; a
``credential`` item anchors each one by its SHA-256 (not kept in the state,
like emissions records). Rules only replace values in ``state.devices``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from carbonledger.core.canonical import jcs
from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.channels import channel_access, sealing_epoch
from carbonledger.core.rules.common import (
    Rule,
    check_id,
    check_sealed,
    expect_kind,
    is_org_admin,
    parse_time,
    require_network_admin,
    require_org_admin,
    require_org_writer,
)
from carbonledger.core.state import LedgerState
from carbonledger.errors import (
    CarbonLedgerError,
    Conflict,
    DuplicateEntity,
    InvalidInput,
    NotFound,
    PermissionDenied,
)

__all__ = ["RULES"]

DEVICE_ROLES: Final = ("meter", "sensor", "gateway")
CREDENTIAL_TYPES: Final = ("MeterReadingsCredential", "UtilityBillCredential")
STATUS_PREFIX: Final = "status_list:"
_SHA256: Final = re.compile(r"^[0-9a-f]{64}\Z")
_SITE_REF: Final = re.compile(r"^[^/]+/[0-9a-f]{64}\Z")
#: Every field each public item may carry: a number or a reading is never among them.
_FIELDS: Final = {
    "device": frozenset(
        {"kind", "id", "org", "site", "did", "meter_ref", "role", "valid_from", "valid_until"}
    ),
    "utility": frozenset({"kind", "id", "did", "name", "eia_id", "account_refs"}),
    "credential": frozenset(
        {"kind", "id", "org", "site", "type", "issuer", "holder", "account_ref"}
        | {"period", "sha256", "sealed"}
    ),
}


def _did(value: object, what: str) -> str:
    from carbonledger.credentials.did import resolve

    if not isinstance(value, str):
        raise InvalidInput(f"{what}: did must be a did:key string")
    try:
        resolve(value)
    except CarbonLedgerError as exc:
        raise InvalidInput(f"{what}: {exc}") from exc
    return value


def _text(item: Mapping[str, Any], field: str, what: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what}: {field} is required")
    return value


def _ref(value: object, what: str) -> str:
    """An account reference: SHA-256 hex of site and account number (``account_ref``)."""
    if not isinstance(value, str) or not _SHA256.match(value):
        raise InvalidInput(
            f"{what} must be the account reference (SHA-256 hex of site and account number);"
            " the number itself is never public"
        )
    return value


def _public_only(item: Mapping[str, Any], what: str) -> None:
    extra = set(item) - _FIELDS[str(item.get("kind"))]
    if extra:
        raise InvalidInput(
            f"{what}: field(s) {sorted(extra)} may not be public (account numbers and"
            " readings are sealed in the channel)"
        )


def _holders_of(state: LedgerState) -> dict[str, str]:
    """DID -> id of the active device or utility that holds it."""
    return {
        str(d["did"]): key
        for key, d in state.devices.items()
        if d.get("kind") in ("device", "utility") and d.get("status") == "active"
    }


def register_device(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """An admin of the site's organisation binds a device DID to the site and a meter."""
    expect_kind(items, "device")
    held = _holders_of(state)
    for item in items:
        dev = check_id("device", item.get("id"))
        what = f"device {dev!r}"
        _public_only(item, what)
        if dev in state.devices:
            raise DuplicateEntity(f"{what} is already registered")
        site = state.sites.get(str(item.get("site")))
        if site is None:
            raise NotFound(f"{what}: site {item.get('site')!r} is not registered")
        if item.get("org") != site["org"]:
            raise InvalidInput(f"{what}: site {site['id']!r} belongs to {site['org']!r}")
        require_org_admin(state, body["sender"], site["org"], f"register {what}")
        did = _did(item.get("did"), what)
        if did in held:
            raise Conflict(f"{what}: {did} is already registered to {held[did]!r}")
        meter = _ref(item.get("meter_ref"), f"{what}: meter_ref")
        role = item.get("role", "meter")
        if role not in DEVICE_ROLES:
            raise InvalidInput(f"{what}: role must be one of {DEVICE_ROLES}")
        start = parse_time(item.get("valid_from"), f"{what}: valid_from")
        until = item.get("valid_until")
        if until is not None and parse_time(until, f"{what}: valid_until") <= start:
            raise InvalidInput(f"{what}: valid_until must be after valid_from")
        held[did] = dev
        state.devices[dev] = {
            "kind": "device",
            "id": dev,
            "did": did,
            "org": site["org"],
            "site": site["id"],
            "meter_ref": meter,
            "role": role,
            "valid_from": item["valid_from"],
            "valid_until": until,
            "status": "active",
            "since": state.now,
            "registered_by": body["sender"],
        }


def register_utility(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """The network admin binds a utility's DID to its EIA id or name and the accounts it bills."""
    require_network_admin(state, body["sender"], "register_utility")
    expect_kind(items, "utility")
    held = _holders_of(state)
    for item in items:
        uid = check_id("utility", item.get("id"))
        what = f"utility {uid!r}"
        _public_only(item, what)
        if uid in state.devices:
            raise DuplicateEntity(f"{what} is already registered")
        did = _did(item.get("did"), what)
        if did in held:
            raise Conflict(f"{what}: {did} is already registered to {held[did]!r}")
        eia = item.get("eia_id")
        name = item.get("name")
        if not (isinstance(eia, str) and eia) and not (isinstance(name, str) and name.strip()):
            raise InvalidInput(f"{what}: an EIA utility id or a name is required")
        accounts = item.get("account_refs", [])
        if not isinstance(accounts, list) or not all(
            isinstance(a, str) and _SITE_REF.match(a) for a in accounts
        ):
            raise InvalidInput(
                f"{what}: account_refs must be a list of 'site/account reference' strings"
                " (the SHA-256 hex of site and account number, never the number)"
            )
        for account in accounts:
            if account.split("/", 1)[0] not in state.sites:
                raise NotFound(f"{what}: account {account!r} names an unregistered site")
        held[did] = uid
        state.devices[uid] = {
            "kind": "utility",
            "id": uid,
            "did": did,
            "name": name,
            "eia_id": eia,
            "account_refs": sorted(set(accounts)),
            "status": "active",
            "since": state.now,
        }


def _require_controller(state: LedgerState, sender: str, holder: dict[str, Any], what: str) -> None:
    """Who may act for a device (its organisation's admins) or a utility (the network admin)."""
    if holder["kind"] == "utility":
        require_network_admin(state, sender, what)
    else:
        require_org_admin(state, sender, holder["org"], what)


def device_status(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """Retire a device or utility (its readings end) or revoke it (its key is not trusted).

    ``effective`` (default: now) is when it stopped: a retired meter's readings
    after it do not count; for a revoked key, credentials anchored on the ledger at
    or after it are not trusted (the ledger's time, not the device's, decides).
    """
    expect_kind(items, "device_status")
    for item in items:
        key = str(item.get("id"))
        holder = state.devices.get(key)
        if holder is None or holder.get("kind") not in ("device", "utility"):
            raise NotFound(f"device or utility {key!r} is not registered")
        what = f"{holder['kind']} {key!r}"
        _require_controller(state, body["sender"], holder, f"change status of {what}")
        status = item.get("status")
        if status not in ("retired", "revoked"):
            raise InvalidInput(f"{what}: status must be 'retired' or 'revoked'")
        if holder["status"] != "active":
            raise Conflict(f"{what} is already {holder['status']} since {holder.get('effective')}")
        effective = item.get("effective") or state.now
        parse_time(effective, f"{what}: effective")
        state.devices[key] = {
            **holder,
            "status": status,
            "effective": effective,
            "reason": item.get("reason"),
            "changed_at": state.now,
        }


def _holder_by_did(state: LedgerState, did: str) -> dict[str, Any] | None:
    for holder in state.devices.values():
        if holder.get("kind") in ("device", "utility") and holder.get("did") == did:
            return holder
    return None


def publish_status_list(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """A registered issuer's Bitstring Status List credential, carried whole on the ledger."""
    from carbonledger.credentials.vc import issuer_id, verify

    expect_kind(items, "status_list")
    for item in items:
        credential = item.get("credential")
        if not isinstance(credential, dict):
            raise InvalidInput("status list: credential (the signed list) is required")
        digest = hashlib.sha256(jcs(credential)).hexdigest()
        if item.get("sha256") != digest or item.get("id") != f"sl-{digest[:40]}":
            raise InvalidInput("status list: id and sha256 must be the hash of the credential")
        url = credential.get("id")
        if not isinstance(url, str) or item.get("url") != url:
            raise InvalidInput("status list: url must be the credential's id")
        issuer = issuer_id(credential) or ""
        holder = _holder_by_did(state, issuer)
        if holder is None:
            raise NotFound(f"status list {url}: issuer {issuer} is not a registered DID")
        _require_controller(state, body["sender"], holder, f"publish status list {url}")
        when = parse_time(state.now, "ledger time")
        result = verify(credential, now=when)
        errors = [e for e in result.errors if not e.startswith(("expired", "not yet"))]
        if errors or "BitstringStatusListCredential" not in result.types:
            raise InvalidInput(f"status list {url} does not verify: {'; '.join(errors)}")
        key = STATUS_PREFIX + url
        previous = state.devices.get(key)
        state.devices[key] = {
            "kind": "status_list",
            "url": url,
            "issuer": issuer,
            "holder": holder["id"],
            "sha256": digest,
            "item": item["id"],
            "version": 1 if previous is None else int(previous["version"]) + 1,
            "since": state.now,
        }


def _covers(state: LedgerState, utility: dict[str, Any], site: str, ref: str) -> bool:
    if f"{site}/{ref}" in utility.get("account_refs", ()):
        return True
    eia = utility.get("eia_id")
    return eia is not None and state.sites.get(site, {}).get("utility_id") == eia


def _anchor_holder(state: LedgerState, item: dict[str, Any], what: str) -> None:
    holder = state.devices.get(str(item.get("holder")))
    if holder is None or holder.get("kind") not in ("device", "utility"):
        raise NotFound(f"{what}: issuer {item.get('holder')!r} is not a registered device")
    if holder["status"] != "active":
        raise PermissionDenied(
            f"{what}: {holder['kind']} {holder['id']!r} was {holder['status']} at"
            f" {holder.get('effective')}; its credentials are no longer accepted"
        )
    if item.get("issuer") != holder["did"]:
        raise PermissionDenied(
            f"{what}: issuer {item.get('issuer')} is not the DID registered for {holder['id']!r}"
        )
    site = str(item.get("site"))
    ref = _ref(item.get("account_ref"), f"{what}: account_ref")
    if holder["kind"] == "device":
        if item.get("type") != "MeterReadingsCredential":
            raise InvalidInput(f"{what}: a device issues MeterReadingsCredential only")
        if holder["site"] != site or holder["meter_ref"] != ref:
            raise PermissionDenied(
                f"{what}: device {holder['id']!r} is registered to {holder['site']}/"
                f"{holder['meter_ref'][:12]}, not {site}/{ref[:12]}"
            )
    else:
        if item.get("type") != "UtilityBillCredential":
            raise InvalidInput(f"{what}: a utility issues UtilityBillCredential only")
        if not _covers(state, holder, site, ref):
            raise PermissionDenied(
                f"{what}: utility {holder['id']!r} does not bill {site}/{ref[:12]}"
            )


def anchor_credentials(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """Hashes of credentials sealed in the organisation's channel, from registered issuers."""
    expect_kind(items, "credential")
    sender = body["sender"]
    checked: dict[str, int] = {}
    for item in items:
        digest = item.get("sha256")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise InvalidInput(f"credential {item.get('id')!r}: sha256 must be a SHA-256 (hex)")
        what = f"credential {digest[:16]}"
        _public_only(item, what)
        if item.get("id") != f"vc-{digest[:40]}":
            raise InvalidInput(f"{what}: id must be 'vc-' and the first 40 hex of its sha256")
        if item.get("type") not in CREDENTIAL_TYPES:
            raise InvalidInput(f"{what}: type must be one of {CREDENTIAL_TYPES}")
        site = state.sites.get(str(item.get("site")))
        if site is None:
            raise NotFound(f"{what}: site {item.get('site')!r} is not registered")
        org = str(item.get("org"))
        if org != site["org"]:
            raise PermissionDenied(f"{what}: site {site['id']!r} belongs to {site['org']!r}")
        if org not in checked:
            require_org_writer(state, sender, org, what)
            if channel_access(state, org, sender)["role"] == "auditor":
                raise PermissionDenied(f"{what}: auditors do not post credentials")
            checked[org] = sealing_epoch(state, org)
        check_sealed(state, item, org, what)
        period = item.get("period")
        if not isinstance(period, dict):
            raise InvalidInput(f"{what}: period is required")
        _text(period, "start", what)
        _text(period, "end", what)
        _anchor_holder(state, item, what)


def audit_result(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """The hash of an AuditResultCredential, recorded by an auditor or the organisation."""
    expect_kind(items, "audit_result")
    sender = body["sender"]
    ident = state.identities.get(sender, {})
    for item in items:
        rid = check_id("audit result", item.get("id"))
        org = str(item.get("org"))
        if org not in state.orgs:
            raise NotFound(f"audit result {rid!r}: organisation {org!r} is not registered")
        if not is_org_admin(state, sender, org) and sender != state.admin:
            if "auditor" not in ident.get("roles", ()):
                raise PermissionDenied(
                    f"audit result {rid!r}: signer {sender} is neither an auditor nor an admin"
                    f" of {org!r}"
                )
            channel_access(state, org, sender)
        sealed = item.get("sealed")
        if sealed is not None:
            if not isinstance(sealed, dict) or sealed.get("channel") != org:
                raise InvalidInput(f"audit result {rid!r}: sealed must name channel {org!r}")
            if sealed.get("epoch") != sealing_epoch(state, org):
                raise Conflict(
                    f"audit result {rid!r}: sealed under epoch {sealed.get('epoch')}, the"
                    f" channel is at epoch {state.channels[org]['epoch']}"
                )
        digest = item.get("sha256")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise InvalidInput(f"audit result {rid!r}: sha256 of the credential is required")
        _did(item.get("auditor"), f"audit result {rid!r}")
        if "sealed" in item:
            check_sealed(state, item, org, f"audit result {rid!r}")


RULES: dict[str, Rule] = {
    "register_device": register_device,
    "register_utility": register_utility,
    "device_status": device_status,
    "publish_status_list": publish_status_list,
    "anchor_credentials": anchor_credentials,
    "audit_result": audit_result,
}
