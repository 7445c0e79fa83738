"""Reading and moving the token network's values in the state (pure).

* ``state.tokens[token_id]``: ``{id, type, unit, issuer, issued_at, issued, retired,
  transferable, registry, serial, meta, org}``; ``issued`` and ``retired`` are the
  token's totals in base units (directory editions live beside them, see
  :mod:`carbonledger.core.tokens.directory`).
* ``state.balances["<holder>/<token_id>"]``: ``{available, retired}`` where the
  holder is an identity's address, or ``org:<id>`` for audited emissions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.model import SerialRange, balance_key, is_token_id
from carbonledger.errors import Conflict, DuplicateEntity, NotFound

__all__ = [
    "balance",
    "check_serial_free",
    "credit",
    "get_token",
    "next_serials",
    "token_exists",
    "token_ids",
]


def token_ids(state: LedgerState) -> Iterator[str]:
    """Ids of every token (directory editions excluded)."""
    return (k for k in state.tokens if not k.startswith("@"))


def token_exists(state: LedgerState, token_id: object) -> bool:
    """True only for an issued token: id ``"0"`` (or ``""``) never exists."""
    return is_token_id(token_id) and str(token_id) in state.tokens


def get_token(state: LedgerState, token_id: object, what: str) -> dict[str, Any]:
    if not token_exists(state, token_id):
        raise NotFound(f"{what}: token {token_id!r} does not exist")
    return state.tokens[str(token_id)]


def next_serials(token: dict[str, Any], amount: int) -> SerialRange | None:
    """The serials the next retirement of ``amount`` units consumes (None: no serials)."""
    serial = token.get("serial")
    if serial is None:
        return None
    start = serial["start"] + token["retired"]
    return SerialRange(serial["prefix"], start, start + amount - 1)


def balance(state: LedgerState, holder: str, token: str) -> dict[str, Any]:
    return state.balances.get(balance_key(holder, token), {"available": 0, "retired": 0})


def credit(state: LedgerState, holder: str, token: str, available: int, retired: int) -> None:
    old = balance(state, holder, token)
    new = {"available": old["available"] + available, "retired": old["retired"] + retired}
    if new["available"] < 0 or new["retired"] < 0:  # unreachable: callers check first
        raise Conflict(f"balance of {holder} in token {token} would go negative")
    state.balances[balance_key(holder, token)] = new


def check_serial_free(state: LedgerState, registry: str, serial: SerialRange, what: str) -> None:
    """No serial of a registry is issued twice (a scan of that registry's tokens)."""
    for tid in token_ids(state):
        other = state.tokens[tid]
        if other.get("registry") != registry or other.get("serial") is None:
            continue
        if serial.overlaps(SerialRange(**other["serial"])):
            raise DuplicateEntity(
                f"{what}: serials {serial} of {registry} overlap token {tid}"
                f" ({SerialRange(**other['serial'])})"
            )
