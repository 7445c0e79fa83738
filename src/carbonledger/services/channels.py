"""Channel keys and sealed data: create, wrap for members, grant, revoke, open.

Keys are wrapped (ECIES, secp256k1) for each member's public key as recorded on
the ledger, with the context ``<ledger>/<channel>/<epoch>`` so a wrapped key
cannot be replayed into another channel or epoch. The ledger records the SHA-256
of each wrapped key; the wrapped keys and sealed data live in the channel store.

Every unwrap first asks the read-time access check (by default the core's
:func:`~carbonledger.core.rules.channels.read_access` at the current time;
:class:`carbonledger.services.access.ReadAccess` also records auditors' reads).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any

from carbonledger.core.rules.channels import (
    current_members,
    is_channel_admin,
    may_rotate,
    read_access,
    stale_holders,
    valid_members,
)
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto.ecies import unwrap, wrap
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.sealed import new_channel_key, open_sealed, seal
from carbonledger.errors import CarbonLedgerError, NotFound
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort, Receipt

__all__ = [
    "ChannelKeys",
    "fresh_epochs",
    "grant",
    "new_epoch_keys",
    "revocation_keys",
    "revoke",
    "rotate",
    "state_to_read",
    "submit_one",
    "wrap_context",
]

#: A channel key unwrapped: ledger id, channel, epoch, member, SHA-256 of the wrapped key.
UnwrappedKey = tuple[str, str, int, str, str]


def state_to_read(ledger: LedgerPort) -> LedgerState:
    """The ledger's state, to read and not change: where the ledger can give its own
    without copying it (a group commit, which replaces its state on each change and
    never changes it in place), that one; else ``state()``, a copy. A server's batch of
    writes looks the state up several times, and a copy costs in proportion to the
    ledger (every account's periods)."""
    peek: Callable[[Callable[[LedgerState], LedgerState]], LedgerState] | None = getattr(
        ledger, "peek", None
    )
    return peek(_itself) if peek is not None else ledger.state()


def _itself(state: LedgerState) -> LedgerState:
    return state


def wrap_context(ledger_id: str, channel: str, epoch: int) -> bytes:
    return f"{ledger_id}/{channel}/{epoch}".encode()


def new_epoch_keys(
    ledger_id: str, channel: str, epoch: int, members: Mapping[str, str], key: bytes | None = None
) -> tuple[bytes, dict[str, bytes], dict[str, str]]:
    """A channel key for ``epoch`` wrapped for each member (address -> public key hex).

    Returns the key, the wrapped blobs and their SHA-256 (what the ledger records).
    """
    secret = key if key is not None else new_channel_key()
    context = wrap_context(ledger_id, channel, epoch)
    wrapped = {a: wrap(bytes.fromhex(pk), secret, context=context) for a, pk in members.items()}
    return secret, wrapped, {a: hashlib.sha256(w).hexdigest() for a, w in wrapped.items()}


class ChannelKeys:
    """Unwraps (and caches) the channel keys a member holds, as the ledger records them.

    ``access(channel)`` is called once per channel before its first key is
    unwrapped and raises if the holder may not read it now; by default the
    core's :func:`read_access` at the current time.

    ``unwrapped``: keys unwrapped before, shared by many instances (a server's batches
    of writes), by ledger, channel, epoch, member and the SHA-256 of the wrapped key the
    ledger names for them: the same wrapped bytes always unwrap to the same key, and a
    rotation (a new epoch) or a new wrapping names another digest, so it is unwrapped
    afresh. The access check above still runs for each instance, before any key.
    """

    def __init__(
        self,
        state: LedgerState,
        store: ChannelStore,
        key: PrivateKey,
        *,
        access: Callable[[str], None] | None = None,
        unwrapped: MutableMapping[UnwrappedKey, bytes] | None = None,
    ) -> None:
        self._ledger_id, self._store, self._key = str(state.ledger_id), store, key
        self._shared_keys = unwrapped
        self._state = state
        self._channels = state.channels
        self._access = access
        self._allowed: set[str] = set()
        self._cache: dict[tuple[str, int], bytes] = {}

    def _allow(self, channel: str) -> None:
        if channel in self._allowed:
            return
        if self._access is not None:
            self._access(channel)
        else:
            read_access(self._state, channel, self._key.address, utc_now())
        self._allowed.add(channel)

    def key(self, channel: str, epoch: int) -> bytes:
        cached = self._cache.get((channel, epoch))
        if cached is None:
            self._allow(channel)
            member = self._key.address
            epochs = self._channels.get(channel, {}).get("keys", {})
            digest = epochs.get(str(epoch), {}).get(member)
            if digest is None and str(epoch) not in epochs:
                raise NotFound(
                    f"channel {channel!r} has no key for epoch {epoch} yet (it advanced when a"
                    f" member was revoked): its admin runs `carbonledger channel rotate {channel}`"
                )
            if digest is None:
                raise NotFound(
                    f"no key of channel {channel!r} epoch {epoch} is wrapped for {member}"
                )
            shared = (self._ledger_id, channel, epoch, member, digest)
            cached = self._shared_keys.get(shared) if self._shared_keys is not None else None
            if cached is None:
                blob = self._store.wrapped_key(channel, epoch, member, digest)
                context = wrap_context(self._ledger_id, channel, epoch)
                cached = unwrap(self._key, blob, context=context)
                if self._shared_keys is not None:
                    self._shared_keys[shared] = cached
            self._cache[(channel, epoch)] = cached
        return cached

    def seal(self, channel: str, epoch: int, plaintext: bytes) -> tuple[str, bytes]:
        """Seal under the channel key; returns (blob id, blob)."""
        blob = seal(
            self.key(channel, epoch), plaintext, aad=wrap_context(self._ledger_id, channel, epoch)
        )
        return hashlib.sha256(blob).hexdigest(), blob

    def open(self, channel: str, epoch: int, blob: bytes) -> bytes:
        return open_sealed(
            self.key(channel, epoch), blob, aad=wrap_context(self._ledger_id, channel, epoch)
        )


def submit_one(
    ledger: LedgerPort,
    key: PrivateKey,
    tx_type: str,
    items: Sequence[Mapping[str, Any]],
    blobs: Sequence[bytes] = (),
) -> Receipt:
    """Sign and submit one transaction carrying ``items`` (and the sealed ``blobs`` they name)."""
    return _submit(ledger, key, tx_type, items, blobs)[0]


def _submit(
    ledger: LedgerPort,
    key: PrivateKey,
    tx_type: str,
    items: Sequence[Mapping[str, Any]],
    blobs: Sequence[bytes] = (),
) -> list[Receipt]:
    """Sign and submit; no receipt yet when the ledger defers commits (the API's batches)."""
    state = ledger.state()
    if state.ledger_id is None:
        raise CarbonLedgerError("the ledger has no genesis entry; run `carbonledger init`")
    tx = build_tx(
        key,
        tx_type=tx_type,
        ledger_id=state.ledger_id,
        nonce=state.next_nonce(key.address),
        created=utc_now(),
        items=items,
        blobs=blobs,
    )
    return ledger.submit([tx])


def _public_key(ledger: LedgerPort, address: str) -> str:
    ident = ledger.state().identities.get(address)
    if ident is None:
        raise NotFound(f"{address} is not an enrolled identity")
    return str(ident["public_key"])


def grant(
    ledger: LedgerPort,
    store: ChannelStore,
    admin: PrivateKey,
    channel: str,
    member: str,
    *,
    role: str = "member",
    until: str | None = None,
) -> Receipt:
    """Give ``member`` the keys of every epoch so far (auditors read history)."""
    state = ledger.state()
    ledger_id = str(state.ledger_id)
    chan = state.channels.get(channel)
    if chan is None:
        raise NotFound(f"channel {channel!r} does not exist")
    keys = ChannelKeys(state, store, admin)
    public = _public_key(ledger, member)
    hashes: dict[str, str] = {}
    for epoch in sorted(int(e) for e in chan["keys"]):
        _, wrapped, digest = new_epoch_keys(
            ledger_id, channel, epoch, {member: public}, key=keys.key(channel, epoch)
        )
        store.put_keys(channel, epoch, wrapped)
        hashes[str(epoch)] = digest[member]
    return submit_one(
        ledger,
        admin,
        "channel_grant",
        [
            {
                "kind": "channel_grant",
                "channel": channel,
                "member": member,
                "role": role,
                "until": until,
                "keys": hashes,
            }
        ],
    )


def revoke(
    ledger: LedgerPort, store: ChannelStore, admin: PrivateKey, channel: str, member: str
) -> Receipt:
    """Remove ``member`` and start a new epoch whose key only the others receive."""
    state = ledger.state()
    chan = state.channels.get(channel)
    if chan is None:
        raise NotFound(f"channel {channel!r} does not exist")
    remaining = {a: _public_key(ledger, a) for a in current_members(chan, utc_now()) if a != member}
    epoch = chan["epoch"] + 1
    _, wrapped, hashes = new_epoch_keys(str(state.ledger_id), channel, epoch, remaining)
    store.put_keys(channel, epoch, wrapped)
    return submit_one(
        ledger,
        admin,
        "channel_revoke",
        [
            {
                "kind": "channel_revoke",
                "channel": channel,
                "member": member,
                "epoch": epoch,
                "keys": hashes,
            }
        ],
    )


def _fresh_key(
    ledger: LedgerPort, store: ChannelStore, channel: str, epoch: int, members: list[str]
) -> dict[str, str]:
    """A new key for ``epoch`` wrapped for ``members`` and stored; the digests to record."""
    state = ledger.state()
    public = {a: _public_key(ledger, a) for a in members}
    _, wrapped, hashes = new_epoch_keys(str(state.ledger_id), channel, epoch, public)
    store.put_keys(channel, epoch, wrapped)
    return hashes


def revocation_keys(
    ledger: LedgerPort, store: ChannelStore, signer: PrivateKey, address: str
) -> dict[str, dict[str, str]]:
    """New keys for the channels ``address`` belongs to that ``signer`` administers.

    What a ``revoke_identity`` item carries as ``channels``: each such channel's
    next epoch, wrapped for its remaining current members. Other channels advance
    keyless in the same transaction, to be rotated by their own admins.
    """
    state = ledger.state()
    now = utc_now()
    out: dict[str, dict[str, str]] = {}
    for cid, chan in sorted(state.channels.items()):
        if address not in chan["members"]:
            continue
        if not is_channel_admin(state, signer.address, cid):
            continue  # advances keyless, for the channel's own admin to rotate
        remaining = [a for a in current_members(chan, now) if a != address]
        out[cid] = _fresh_key(ledger, store, cid, int(chan["epoch"]) + 1, remaining)
    return out


def rotate(ledger: LedgerPort, store: ChannelStore, admin: PrivateKey, channel: str) -> Receipt:
    """Give the channel's current members a new key (a new epoch, or the keyless one)."""
    return _submit(ledger, admin, "channel_rotate", [_rotation(ledger, store, channel)])[0]


def _rotation(ledger: LedgerPort, store: ChannelStore, channel: str) -> dict[str, Any]:
    """The ``channel_rotate`` item giving ``channel``'s valid members a new key (stored)."""
    state = ledger.state()
    chan = state.channels.get(channel)
    if chan is None:
        raise NotFound(f"channel {channel!r} does not exist")
    epoch = int(chan["epoch"])
    if str(epoch) in chan["keys"]:
        epoch += 1
    members = valid_members(state, chan, utc_now())
    hashes = _fresh_key(ledger, store, channel, epoch, members)
    return {"kind": "channel_rotate", "channel": channel, "epoch": epoch, "keys": hashes}


def fresh_epochs(
    ledger: LedgerPort, store: ChannelStore, signer: PrivateKey, channels: Iterable[str]
) -> list[str]:
    """Rotate each of ``channels`` whose epoch is stale, where ``signer`` may; before sealing.

    A writer's own ``channel_rotate`` comes first, so what it then seals is out of
    reach of everyone whose access has ended. Where ``signer`` may not rotate, the
    core refuses the sealed write with the reason and the command to run.
    Returns the channels rotated.
    """
    rotated = []
    for channel in sorted(set(channels)):
        state, now = state_to_read(ledger), utc_now()
        if channel not in state.channels or not stale_holders(state, channel, now):
            continue
        if may_rotate(state, signer.address, channel, now):
            # Through _submit: inside a deferred batch (the API) it commits with the
            # sealed entries that follow, and the speculative state already shows it.
            _submit(ledger, signer, "channel_rotate", [_rotation(ledger, store, channel)])
            rotated.append(channel)
    return rotated
