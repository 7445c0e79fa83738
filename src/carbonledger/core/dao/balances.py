"""Governance token balances: credit, lock, unlock, burn and the treasury (pure).

Each holder has ``available`` tokens (transferable, usable to vote or stake) and
``locked`` ones (in ballots and stakes of proposals). Locking moves tokens from
available to locked, so tokens locked in one proposal cannot vote in another,
be transferred, or be staked, until they are released. Invariant kept by every
rule (and checked by property tests): the holders' ``available + locked`` sum
to the token's ``issued - burned``; no balance is ever negative.
"""

from __future__ import annotations

from typing import Any

from carbonledger.core.dao.model import TREASURY, holder, holder_key
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.model import MAX_AMOUNT
from carbonledger.errors import Conflict, InvalidInput

__all__ = ["burn_locked", "credit", "distribution", "lock", "pay", "supply", "unlock"]


def credit(state: LedgerState, address: str, available: int = 0, locked: int = 0) -> None:
    """Add (or with negative values, take) tokens; refuses to go negative."""
    old = holder(state, address)
    new = {"available": old["available"] + available, "locked": old["locked"] + locked}
    if new["available"] < 0 or new["locked"] < 0:  # unreachable: callers check first
        raise Conflict(f"DAO token balance of {address} would go negative")
    if new["available"] > MAX_AMOUNT or new["locked"] > MAX_AMOUNT:
        raise InvalidInput(f"DAO token balance of {address} would exceed {MAX_AMOUNT}")
    state.dao[holder_key(address)] = new


def lock(state: LedgerState, address: str, amount: int, what: str) -> None:
    """Move ``amount`` from available to locked, naming what is locked when short."""
    bal = holder(state, address)
    if amount > bal["available"]:
        raise Conflict(
            f"{what}: {amount} tokens asked, {address} has {bal['available']} available"
            f" ({bal['locked']} locked in proposals: locked tokens cannot vote, stake or"
            " move again until released)"
        )
    credit(state, address, -amount, amount)


def unlock(state: LedgerState, address: str, amount: int) -> None:
    credit(state, address, amount, -amount)


def burn_locked(state: LedgerState, address: str, amount: int) -> None:
    """Destroy ``amount`` of ``address``'s locked tokens (part of a failed stake)."""
    if amount:
        credit(state, address, 0, -amount)
        token = state.dao["token"]
        state.dao["token"] = {**token, "burned": token["burned"] + amount}


def pay(state: LedgerState, to: str, amount: int, what: str) -> None:
    """Pay ``amount`` available tokens from the treasury to ``to``."""
    have = holder(state, TREASURY)["available"]
    if amount > have:
        raise Conflict(f"{what}: the treasury holds {have} tokens, {amount} asked")
    credit(state, TREASURY, -amount)
    credit(state, to, amount)


def distribution(state: LedgerState) -> list[dict[str, Any]]:
    """Every holder with a balance: ``{holder, available, locked}``, largest first."""
    rows = [
        {"holder": key.removeprefix("holder:"), **bal}
        for key, bal in state.dao.items()
        if key.startswith("holder:") and (bal["available"] or bal["locked"])
    ]
    return sorted(rows, key=lambda r: (-(r["available"] + r["locked"]), r["holder"]))


def supply(state: LedgerState) -> dict[str, int]:
    """``issued``, ``burned`` and ``outstanding`` (= issued - burned) tokens."""
    token = state.dao.get("token") or {"issued": 0, "burned": 0}
    return {
        "issued": token["issued"],
        "burned": token["burned"],
        "outstanding": token["issued"] - token["burned"],
    }
