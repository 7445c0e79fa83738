"""The DAO's state layout, parameters, ledger time and proposal states (pure).

Everything lives in ``state.dao`` under flat keys, so a rule replaces one value
and never mutates a nested one (batches are applied to a shallow copy):

=================================  ==========================================================
``"token"``                        the governance token: ``{name, symbol, issued, burned,
                                   setup_at, setup_by}`` (whole tokens)
``"params"``                       the parameters below
``"holder:<address>"``             ``{available, locked}`` of an identity; the treasury is
                                   ``"holder:dao:treasury"``
``"proposal:<id>"``                a proposal (see :mod:`carbonledger.core.dao.rules`)
``"ballot:<proposal>/<address>"``  a voter's ballot: tokens locked, vote units, choices
=================================  ==========================================================

**Ledger time** is the only clock: a proposal's windows are measured against the
time of the ledger entry that carries each transaction (``state.now``, UTC with
milliseconds), never the sender's clock. Durations are integer milliseconds, the
resolution of ledger time; windows are half-open ``[start, end)``: a vote is
accepted while ``vote_start <= now < vote_end``, so a vote one millisecond (one
tick) after the period ends, or at its end, is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from carbonledger.core.identities import is_active
from carbonledger.core.rules.common import parse_time
from carbonledger.core.state import LedgerState
from carbonledger.errors import InvalidInput, NotFound, PermissionDenied

__all__ = [
    "ACTIVE",
    "CANCELED",
    "DAO_ISSUER",
    "DAY_MS",
    "DEFAULT_PARAMS",
    "DEFEATED",
    "DURATION_PARAMS",
    "EXECUTED",
    "EXPIRED",
    "MAX_DURATION_MS",
    "PARAMS",
    "PENDING",
    "QUEUED",
    "QUORUM_FAILED",
    "SNAPSHOT_PARAMS",
    "STATES",
    "SUCCEEDED",
    "TREASURY",
    "ballot_key",
    "check_param",
    "dao_params",
    "get_proposal",
    "holder",
    "holder_key",
    "iso_from_ms",
    "ledger_ms",
    "limited_mode",
    "proposal_key",
    "proposal_status",
    "require_dao_issuance",
    "require_setup",
]

#: Issuer of the tokens a proposal's execution issues (no key can sign as it).
DAO_ISSUER = "dao"
#: Holder of the DAO's treasury of governance tokens.
TREASURY = "dao:treasury"

PENDING, ACTIVE, CANCELED = "Pending", "Active", "Canceled"
QUORUM_FAILED, DEFEATED, SUCCEEDED = "QuorumFailed", "Defeated", "Succeeded"
QUEUED, EXPIRED, EXECUTED = "Queued", "Expired", "Executed"
STATES = (PENDING, ACTIVE, CANCELED, QUORUM_FAILED, DEFEATED, SUCCEEDED, QUEUED, EXPIRED, EXECUTED)

DAY_MS = 86_400_000
MAX_DURATION_MS = 365 * DAY_MS
_BPS = 10_000
_MAX_INT = 2**63 - 1

#: name -> (kind, minimum, maximum, meaning). Kinds: ms, int, bps, bool, address.
PARAMS: dict[str, tuple[str, int, int, str]] = {
    "voting_delay_ms": ("ms", 0, MAX_DURATION_MS, "from proposal to the start of voting"),
    "voting_period_ms": ("ms", 1, MAX_DURATION_MS, "how long voting is open"),
    "timelock_ms": ("ms", 1, MAX_DURATION_MS, "from queueing to the earliest execution"),
    "grace_ms": ("ms", 1, MAX_DURATION_MS, "to queue after voting ends, and to execute after"
                 " the timelock; later the proposal is Expired"),
    "proposal_cancel_ms": ("ms", 0, MAX_DURATION_MS, "after voting starts, the proposer may"
                           " still cancel (stake partly burned)"),
    "vote_cancel_ms": ("ms", 0, MAX_DURATION_MS, "after casting a ballot, its voter may"
                       " withdraw it while voting is open"),
    "quorum": ("int", 1, _MAX_INT, "vote units (10^-7 votes) of for+against+abstain needed"),
    "proposal_threshold": ("int", 1, _MAX_INT, "tokens a proposer stakes"),
    "burn_bps": ("bps", 0, _BPS, "share of a failed stake burned (basis points)"),
    "reward_bps": ("bps", 0, _BPS, "reward to an executed proposal's proposer, from the"
                   " treasury, as a share of the stake (basis points)"),
    "transferable": ("bool", 0, 1, "holders may transfer unlocked tokens to identities"),
    "limited_mode": ("bool", 0, 1, "offsets and RECs are issued only through the DAO"),
    "guardian": ("address", 0, 0, "may cancel any proposal before execution (null: nobody)"),
}  # fmt: skip
DURATION_PARAMS = tuple(n for n, spec in PARAMS.items() if spec[0] == "ms")
#: Parameters a proposal copies when it is made: later changes never alter it.
SNAPSHOT_PARAMS = (*DURATION_PARAMS, "quorum", "burn_bps", "reward_bps")

DEFAULT_PARAMS: dict[str, Any] = {
    "voting_delay_ms": DAY_MS,
    "voting_period_ms": 3 * DAY_MS,
    "timelock_ms": 2 * DAY_MS,
    "grace_ms": 14 * DAY_MS,
    "proposal_cancel_ms": 4 * 3_600_000,
    "vote_cancel_ms": 4 * 3_600_000,
    "quorum": 632 * 10**7,  # sqrt of 400,000 tokens (4% of a 10M supply)
    "proposal_threshold": 100_000,
    "burn_bps": 2_500,
    "reward_bps": 5_000,
    "transferable": True,
    "limited_mode": False,
    "guardian": None,  # the network admin, set when the DAO is set up
}


def check_param(state: LedgerState, name: object, value: object, what: str) -> Any:
    """A parameter value as the rules store it; names the parameter and its range if not."""
    spec = PARAMS.get(str(name))
    if spec is None:
        raise InvalidInput(f"{what}: unknown parameter {name!r} (one of {', '.join(PARAMS)})")
    kind, low, high, _ = spec
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"{what}: {name} must be true or false, got {value!r}")
        return value
    if kind == "address":
        if value is None:
            return None
        if not is_active(state.identities.get(str(value))):
            raise InvalidInput(f"{what}: guardian {value!r} is not an active identity")
        return str(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{what}: {name} must be an integer in {low}..{high}, got {value!r}")
    return value


# -- ledger time --------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ledger_ms(value: object, what: str = "ledger time") -> int:
    """Milliseconds since the epoch of a ledger time (``2024-05-01T12:00:00.123Z``)."""
    delta = parse_time(value, what) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso_from_ms(ms: int) -> str:
    """The ledger-time string of ``ms`` milliseconds since the epoch."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- reading the state --------------------------------------------------------
def proposal_key(pid: str) -> str:
    return f"proposal:{pid}"


def holder_key(address: str) -> str:
    return f"holder:{address}"


def ballot_key(pid: str, address: str) -> str:
    return f"ballot:{pid}/{address}"


def require_setup(state: LedgerState, what: str) -> dict[str, Any]:
    """The DAO's parameters; refuses if the network admin has not set the DAO up."""
    params = state.dao.get("params")
    if params is None:
        raise NotFound(f"{what}: the DAO is not set up on this ledger (dao_setup, network admin)")
    return dict(params)


def dao_params(state: LedgerState) -> dict[str, Any]:
    """The current parameters (the defaults if the DAO is not set up)."""
    return dict(state.dao.get("params") or DEFAULT_PARAMS)


def holder(state: LedgerState, address: str) -> dict[str, int]:
    return dict(state.dao.get(holder_key(address)) or {"available": 0, "locked": 0})


def get_proposal(state: LedgerState, pid: object, what: str) -> dict[str, Any]:
    found = state.dao.get(proposal_key(str(pid)))
    if found is None:
        raise NotFound(f"{what}: proposal {pid!r} does not exist")
    return dict(found)


def proposal_status(proposal: dict[str, Any], now: str) -> str:
    """The state of ``proposal`` at ledger time ``now`` (one of :data:`STATES`).

    Stored facts (canceled, executed, queued with its eta) and the clock decide:
    Pending before voting starts; Active while it is open; then QuorumFailed
    when for+against+abstain votes are under the quorum, Defeated when any part
    has no more for than against votes (a tie defeats), else Succeeded until it
    is queued (Expired if not queued within the grace period after voting ends);
    Queued until executed or until the grace period after its eta ends (Expired).
    """
    if proposal.get("canceled_at") is not None:
        return CANCELED
    if proposal.get("executed_at") is not None:
        return EXECUTED
    t = ledger_ms(now)
    if t < ledger_ms(proposal["vote_start"]):
        return PENDING
    end = ledger_ms(proposal["vote_end"])
    return ACTIVE if t < end else _after_voting(proposal, t, end)


def _after_voting(proposal: dict[str, Any], t: int, end: int) -> str:
    rules = proposal["rules"]
    if proposal["votes"] < rules["quorum"]:
        return QUORUM_FAILED
    if any(p["tally"]["for"] <= p["tally"]["against"] for p in proposal["parts"]):
        return DEFEATED
    eta = proposal.get("eta")
    deadline = end if eta is None else ledger_ms(eta)
    if t >= deadline + rules["grace_ms"]:
        return EXPIRED
    return SUCCEEDED if eta is None else QUEUED


# -- limited mode ---------------------------------------------------------------
def limited_mode(state: LedgerState) -> bool:
    params = state.dao.get("params")
    return bool(params and params.get("limited_mode"))


def require_dao_issuance(state: LedgerState, sender: str, what: str) -> None:
    """Limited mode: offsets and RECs are issued (or minted) only by executing a proposal.

    The hook for :mod:`carbonledger.core.tokens.issuance` (``issue_token`` of a REC or
    OFFSET, and ``mint_token``): a no-op unless the DAO turned limited mode on.
    """
    if limited_mode(state) and sender != DAO_ISSUER:
        raise PermissionDenied(
            f"{what}: the ledger is in limited mode: offsets and RECs are issued only"
            " through a DAO proposal (carbonledger dao propose)"
        )
