"""Data channels: who may read an organisation's private data, and when.

A channel's data is sealed under the key of its current *epoch*; the key is
wrapped for each member's public key off the ledger, and the ledger keeps the
SHA-256 of every wrapped key, so the off-chain store is checkable by anyone.
Granting (with an optional end time), revoking (which starts a new epoch whose
key is wrapped only for those who remain) and every read by an auditor are
ledger transactions.

Epochs advance in the transaction that removes someone: ``channel_revoke``
carries the new epoch's wrapped keys; ``revoke_identity`` (see
:mod:`carbonledger.core.rules.identity`) advances every channel the identity
belonged to, with the new keys when its signer administers that channel and
*keyless* otherwise. A keyless epoch holds no key until the channel's
organisation admin sends ``channel_rotate``; nothing can be sealed or granted in
it before then, and nothing sealed under an older epoch is accepted after it.
``channel_rotate`` also starts a new epoch at will (e.g. after a grant ended).

A channel belongs to its organisation: the network admin, who registers an
organisation and so starts as its channel's only admin, grants, revokes and
rotates in it only until one of the organisation's own admins (an identity of the
organisation with the org_admin role) has held its key (:func:`run_by_its_own`).
From then on only the organisation's own admins make its keys: nobody outside it
can give itself a key to what it seals, and a revocation by the network admin
leaves the channel keyless for the organisation's admin to rotate.

An epoch is *stale* once its key is held by someone whose access has ended (a
grant's ``until`` passed, an identity revoked, a member removed): nothing new is
sealed under it (:func:`sealing_epoch`), so an auditor whose grant ended cannot
open bills recorded afterwards with its own key and the raw file. Any member
who writes the organisation's records may rotate a stale epoch, so writers
rotate it themselves before sealing.

:func:`read_access` is the one decision about reading sealed data, at any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carbonledger.core.identities import is_active
from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.common import (
    expect_kind,
    is_org_admin,
    parse_time,
    require_org_admin,
    require_org_writer,
)
from carbonledger.core.state import LedgerState
from carbonledger.errors import Conflict, InvalidInput, NotFound, PermissionDenied

__all__ = [
    "channel_access",
    "channel_grant",
    "channel_read",
    "channel_revoke",
    "channel_rotate",
    "current_members",
    "is_channel_admin",
    "may_rotate",
    "read_access",
    "rotated_channel",
    "run_by_its_own",
    "sealing_epoch",
    "stale_holders",
    "valid_members",
]


def _channel(state: LedgerState, channel_id: object) -> dict[str, Any]:
    channel = state.channels.get(str(channel_id))
    if channel is None:
        raise NotFound(f"channel {channel_id!r} does not exist")
    return channel


def _expired(member: dict[str, Any], now: str) -> bool:
    until = member.get("until")
    return until is not None and parse_time(now, "ledger time") > parse_time(until, "until")


def current_members(channel: dict[str, Any], now: str) -> dict[str, dict[str, Any]]:
    """Members whose access has not ended."""
    return {a: m for a, m in channel["members"].items() if not _expired(m, now)}


def read_access(state: LedgerState, channel_id: str, address: str, at: str) -> dict[str, Any]:
    """The member entry of ``address`` if it may read ``channel_id`` at time ``at``.

    Refused (:class:`PermissionDenied`, naming why) when the identity is revoked,
    is not (or no longer) a member, or its grant has not started or has ended.
    Auditors' reads must also be recorded (``channel_read``) before decryption:
    callers check ``entry["role"] == "auditor"``.
    """
    channel = _channel(state, channel_id)
    ident = state.identities.get(address)
    if ident is not None and not is_active(ident):
        raise PermissionDenied(
            f"{address} ({ident.get('name')}) was {ident.get('status')} at"
            f" {ident.get('revoked_at')}; it may no longer read channel {channel_id!r}"
        )
    member: dict[str, Any] | None = channel["members"].get(address)
    if member is None:
        held = [int(e) for e, keys in channel["keys"].items() if address in keys]
        if held:  # dropped by a rotation or a removal: say when its access ended
            raise PermissionDenied(
                f"{address} is not a member of channel {channel_id!r} since epoch"
                f" {max(held) + 1}: its access ended at that epoch's rotation"
            )
        raise PermissionDenied(f"{address} is not a member of channel {channel_id!r}")
    when = parse_time(at, "read time")
    since = member.get("since")
    if since is not None and when < parse_time(since, "since"):
        raise PermissionDenied(f"{address}'s access to channel {channel_id!r} starts at {since}")
    if _expired(member, at):
        raise PermissionDenied(
            f"{address}'s access to channel {channel_id!r} ended at {member['until']}"
        )
    return member


def channel_access(state: LedgerState, channel_id: str, address: str) -> dict[str, Any]:
    """The member entry of ``address`` if it may read ``channel_id`` now (ledger time)."""
    return read_access(state, channel_id, address, state.now)


def _own_admin(state: LedgerState, address: str, org: str) -> bool:
    """An identity of ``org`` itself that administers it (not an admin from outside)."""
    return state.identities.get(address, {}).get("org") == org and is_org_admin(state, address, org)


def run_by_its_own(state: LedgerState, channel: dict[str, Any]) -> bool:
    """Whether one of the organisation's own admins has held the channel's key (in any
    epoch): from then on the channel is run by them alone. Never undone, and the same
    as the contract's ``channelOwned`` (set by the grant that first gives such an admin
    the key), so the chain and the core judge alike."""
    org = str(channel["org"])
    return any(_own_admin(state, a, org) for keys in channel["keys"].values() for a in keys)


def is_channel_admin(state: LedgerState, sender: str, channel_id: str) -> bool:
    """Whether ``sender`` may grant, revoke and make new keys in ``channel_id``: an admin
    of its organisation, from outside it (the network admin) only until the channel
    is run by the organisation's own admins (:func:`run_by_its_own`)."""
    channel = _channel(state, channel_id)
    org = str(channel["org"])
    if sender != state.admin and not is_org_admin(state, sender, org):
        return False
    return _own_admin(state, sender, org) or not run_by_its_own(state, channel)


def _require_channel_admin(
    state: LedgerState, sender: str, channel: dict[str, Any], action: str
) -> None:
    require_org_admin(state, sender, channel["org"], action)
    if not is_channel_admin(state, sender, channel["id"]):
        raise PermissionDenied(
            f"{action}: channel {channel['id']!r} is run by its organisation's own admins;"
            f" signer {sender} is not one of them (an admin from outside the organisation"
            " acts on its channel only until its own admin holds the key)"
        )


def _keyless(channel: dict[str, Any]) -> bool:
    return str(channel["epoch"]) not in channel["keys"]


def _revoked(state: LedgerState, address: str) -> bool:
    """An enrolled identity that may no longer act (revoked)."""
    ident = state.identities.get(address)
    return ident is not None and not is_active(ident)


def valid_members(state: LedgerState, channel: dict[str, Any], at: str) -> list[str]:
    """Members whose access holds at ``at``: not expired, not revoked (a new key's holders)."""
    return [a for a in current_members(channel, at) if not _revoked(state, a)]


def stale_holders(state: LedgerState, channel_id: str, at: str) -> list[str]:
    """Who holds the current epoch's key although its access has ended by ``at``, and since when.

    Empty when the epoch is fresh (or keyless: nobody holds its key yet).
    """
    channel = _channel(state, channel_id)
    holders = channel["keys"].get(str(channel["epoch"]), {})
    out = []
    for address in sorted(holders):
        ident = state.identities.get(address, {})
        member = channel["members"].get(address)
        if _revoked(state, address):
            out.append(f"{address} ({ident.get('name')}) revoked at {ident.get('revoked_at')}")
        elif member is None:
            out.append(f"{address} ({ident.get('name')}) no longer a member")
        elif _expired(member, at):
            out.append(f"{address} ({ident.get('name')}) whose access ended at {member['until']}")
    return out


def sealing_epoch(state: LedgerState, channel_id: str) -> int:
    """The epoch new data of ``channel_id`` must be sealed under (its current one).

    Refused while the epoch is keyless (after a revocation by another
    organisation's admin): nothing is sealed until the channel's admin rotates.
    Refused too while it is stale (:func:`stale_holders`): whoever's access has
    ended would still open what is sealed under it.
    """
    channel = _channel(state, channel_id)
    if _keyless(channel):
        raise Conflict(
            f"channel {channel_id!r} is at epoch {channel['epoch']}, whose key is not made yet"
            f" (after a revocation): its admin runs `carbonledger channel rotate {channel_id}`"
        )
    stale = stale_holders(state, channel_id, state.now)
    if stale:
        raise Conflict(
            f"channel {channel_id!r} epoch {channel['epoch']} is stale: its key is held by"
            f" {'; '.join(stale)}; nothing new is sealed under it until a member who writes"
            f" runs `carbonledger channel rotate {channel_id}`"
        )
    return int(channel["epoch"])


def may_rotate(state: LedgerState, sender: str, channel_id: str, at: str) -> bool:
    """Whether ``sender`` may start ``channel_id``'s next epoch at ``at``.

    The channel's admins (:func:`is_channel_admin`) always may. A current,
    non-auditor member who writes the organisation's records may too when the epoch
    is stale (once the channel is run by its own admins, only an identity of the
    organisation: an admin from outside is no writer there). That is safe: the new
    key must be wrapped for exactly the members whose access still holds (checked in
    :func:`channel_rotate`), so such a rotation can only take out readers whose
    access has already ended; the rotator learns nothing it could not already read,
    and everyone who could read keeps reading.
    """
    channel = _channel(state, channel_id)
    org = str(channel["org"])
    if is_channel_admin(state, sender, channel_id):
        return True
    member = channel["members"].get(sender)
    outside = state.identities.get(sender, {}).get("org") != org
    if (
        member is None
        or member.get("role") == "auditor"
        or (outside and run_by_its_own(state, channel))
        or _keyless(channel)
        or not stale_holders(state, channel_id, at)
        or sender not in valid_members(state, channel, at)
    ):
        return False
    try:
        require_org_writer(state, sender, org, "channel rotate")
    except PermissionDenied:
        return False
    return True


def _check_epoch_keys(keys: object, members: Sequence[str], what: str) -> dict[str, str]:
    if not isinstance(keys, dict) or set(keys) != set(members):
        raise InvalidInput(f"{what}: the new key must be wrapped for exactly the remaining members")
    for address, digest in keys.items():
        if not isinstance(digest, str) or len(digest) != 64:
            raise InvalidInput(f"{what}: the wrapped key of {address} must be named by its SHA-256")
    return {str(a): str(d) for a, d in keys.items()}


def rotated_channel(
    state: LedgerState, channel: dict[str, Any], leaving: str, keys: object
) -> dict[str, Any]:
    """``channel`` without ``leaving``, at the next epoch.

    With ``keys`` (a mapping of each remaining current member to the SHA-256 of
    the new key wrapped for it) the new epoch has its key; with ``None`` it is
    keyless until ``channel_rotate``. Members whose access has ended leave too.
    """
    remaining = {a: m for a, m in current_members(channel, state.now).items() if a != leaving}
    epoch = int(channel["epoch"]) + 1
    all_keys = dict(channel["keys"])
    if keys is not None:
        what = f"channel {channel['id']!r} epoch {epoch}"
        all_keys[str(epoch)] = _check_epoch_keys(keys, list(remaining), what)
    return {**channel, "epoch": epoch, "members": remaining, "keys": all_keys}


def channel_grant(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "channel_grant")
    for item in items:
        channel = _channel(state, item.get("channel"))
        _require_channel_admin(state, body["sender"], channel, "channel grant")
        member = str(item.get("member"))
        ident = state.identities.get(member)
        if ident is None or not is_active(ident):
            raise InvalidInput(f"channel grant: {member} is not an active identity")
        role = item.get("role")
        if role not in ("member", "auditor"):
            raise InvalidInput("channel grant: role must be 'member' or 'auditor'")
        if role == "auditor" and "auditor" not in ident.get("roles", ()):
            raise PermissionDenied(
                f"channel grant: {ident['name']!r} does not hold the auditor role"
            )
        if role == "member" and ident.get("org") != channel["org"]:
            raise PermissionDenied(
                f"channel grant: {ident['name']!r} belongs to {ident.get('org')!r}; only"
                f" auditors are granted access to another organisation's channel"
            )
        if member in current_members(channel, state.now):
            raise Conflict(f"channel grant: {ident['name']!r} is already a member")
        if _keyless(channel):
            raise Conflict(
                f"channel grant: channel {channel['id']!r} is at epoch {channel['epoch']},"
                " whose key is not made yet (after a revocation); rotate it first"
                f" (`carbonledger channel rotate {channel['id']}`)"
            )
        until = item.get("until")
        if until is not None and parse_time(until, "until") <= parse_time(state.now, "now"):
            raise InvalidInput(f"channel grant: access would end at {until}, before now")
        keys = item.get("keys")
        # Every epoch that has a key (a keyless one, skipped by a later rotation, has none).
        epochs = set(channel["keys"])
        if not isinstance(keys, dict) or set(keys) != epochs:
            raise InvalidInput(
                f"channel grant: wrapped keys for epochs {sorted(epochs, key=int)} are required"
            )
        all_keys = {e: {**channel["keys"].get(e, {}), member: keys[e]} for e in epochs}
        state.channels[channel["id"]] = {
            **channel,
            "members": {
                **channel["members"],
                member: {"role": role, "until": until, "since": state.now},
            },
            "keys": all_keys,
        }


def channel_revoke(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "channel_revoke")
    for item in items:
        channel = _channel(state, item.get("channel"))
        _require_channel_admin(state, body["sender"], channel, "channel revoke")
        member = str(item.get("member"))
        if member not in channel["members"]:
            raise NotFound(f"channel revoke: {member} is not a member of {channel['id']!r}")
        remaining = {a: m for a, m in current_members(channel, state.now).items() if a != member}
        # An organisation admin who holds the channel's key counts as its admin: so an
        # organisation registered by the network admin takes its channel over (its admin,
        # granted the key, removes the network admin) and nobody outside it reads it.
        if not any(
            m["role"] == "admin" or is_org_admin(state, a, channel["org"])
            for a, m in remaining.items()
            if not _revoked(state, a)
        ):
            raise Conflict("channel revoke: the channel would have no admin left")
        epoch = channel["epoch"] + 1
        if item.get("epoch") != epoch:
            raise InvalidInput(f"channel revoke: the new epoch must be {epoch}")
        if item.get("keys") is None:
            raise InvalidInput(
                "channel revoke: the new key must be wrapped for exactly the remaining members"
            )
        state.channels[channel["id"]] = rotated_channel(state, channel, member, item["keys"])


def channel_rotate(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """A new key for the current members (see :func:`may_rotate` for who may send it).

    After a keyless advance (a revoked identity whose channel the revoker does not
    administer) the item names the current epoch and supplies its key; otherwise
    it starts the next epoch, e.g. to shut out an auditor whose grant has ended
    from everything sealed afterwards.
    """
    expect_kind(items, "channel_rotate")
    for item in items:
        channel = _channel(state, item.get("channel"))
        if not may_rotate(state, body["sender"], channel["id"], state.now):
            if body["sender"] == state.admin or is_org_admin(state, body["sender"], channel["org"]):
                _require_channel_admin(state, body["sender"], channel, "channel rotate")
            raise PermissionDenied(
                f"channel rotate: signer {body['sender']} is not an admin of"
                f" {channel['org']!r}; a member who writes its records may rotate only a"
                " stale epoch (one whose key someone with ended access holds)"
            )
        valid = valid_members(state, channel, state.now)
        members = {a: m for a, m in channel["members"].items() if a in valid}
        if not members:
            raise Conflict(f"channel rotate: channel {channel['id']!r} has no current member")
        epoch = int(channel["epoch"]) if _keyless(channel) else int(channel["epoch"]) + 1
        if item.get("epoch") != epoch:
            raise InvalidInput(f"channel rotate: the new epoch must be {epoch}")
        what = f"channel rotate {channel['id']!r}"
        keys = _check_epoch_keys(item.get("keys"), list(members), what)
        state.channels[channel["id"]] = {
            **channel,
            "epoch": epoch,
            "members": members,
            "keys": {**channel["keys"], str(epoch): keys},
        }


def channel_read(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """A member records that it read channel data (required before an auditor decrypts)."""
    expect_kind(items, "channel_read")
    for item in items:
        channel_access(state, str(item.get("channel")), body["sender"])
