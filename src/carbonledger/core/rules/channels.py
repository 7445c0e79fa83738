"""Data channels: who may read an organisation's private data, and when.

A channel's data is sealed under the key of its current *epoch*; the key is
wrapped for each member's public key off the ledger, and the ledger keeps the
SHA-256 of every wrapped key, so the off-chain store is checkable by anyone.
Granting (with an optional end time), revoking (which starts a new epoch whose
key is wrapped only for those who remain) and every read by a member are
ledger transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carbonledger.core.rules.common import expect_kind, parse_time, require_org_admin
from carbonledger.core.state import LedgerState
from carbonledger.errors import Conflict, InvalidInput, NotFound, PermissionDenied

__all__ = ["channel_access", "channel_grant", "channel_read", "channel_revoke", "current_members"]


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


def channel_access(state: LedgerState, channel_id: str, address: str) -> dict[str, Any]:
    """The member entry of ``address`` if it may read ``channel_id`` now."""
    channel = _channel(state, channel_id)
    member: dict[str, Any] | None = channel["members"].get(address)
    if member is None:
        raise PermissionDenied(f"{address} is not a member of channel {channel_id!r}")
    if _expired(member, state.now):
        raise PermissionDenied(
            f"{address}'s access to channel {channel_id!r} ended at {member['until']}"
        )
    return member


def channel_grant(
    state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    expect_kind(items, "channel_grant")
    for item in items:
        channel = _channel(state, item.get("channel"))
        require_org_admin(state, body["sender"], channel["org"], "channel grant")
        member = str(item.get("member"))
        ident = state.identities.get(member)
        if ident is None or ident.get("status") != "active":
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
        until = item.get("until")
        if until is not None and parse_time(until, "until") <= parse_time(state.now, "now"):
            raise InvalidInput(f"channel grant: access would end at {until}, before now")
        keys = item.get("keys")
        epochs = {str(e) for e in range(channel["epoch"] + 1)}
        if not isinstance(keys, dict) or set(keys) != epochs:
            raise InvalidInput(
                f"channel grant: wrapped keys for epochs {sorted(epochs)} are required"
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


def channel_revoke(
    state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    expect_kind(items, "channel_revoke")
    for item in items:
        channel = _channel(state, item.get("channel"))
        require_org_admin(state, body["sender"], channel["org"], "channel revoke")
        member = str(item.get("member"))
        if member not in channel["members"]:
            raise NotFound(f"channel revoke: {member} is not a member of {channel['id']!r}")
        remaining = {a: m for a, m in current_members(channel, state.now).items() if a != member}
        if not any(m["role"] == "admin" for m in remaining.values()):
            raise Conflict("channel revoke: the channel would have no admin left")
        epoch = channel["epoch"] + 1
        keys = item.get("keys")
        if item.get("epoch") != epoch:
            raise InvalidInput(f"channel revoke: the new epoch must be {epoch}")
        if not isinstance(keys, dict) or set(keys) != set(remaining):
            raise InvalidInput(
                "channel revoke: the new key must be wrapped for exactly the remaining members"
            )
        state.channels[channel["id"]] = {
            **channel,
            "epoch": epoch,
            "members": remaining,
            "keys": {**channel["keys"], str(epoch): dict(keys)},
        }


def channel_read(state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
    """A member records that it read channel data (required before an auditor decrypts)."""
    expect_kind(items, "channel_read")
    for item in items:
        channel_access(state, str(item.get("channel")), body["sender"])
