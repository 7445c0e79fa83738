"""A ledger state driven by the rules alone, at ledger times the test chooses.

``Chain`` applies transactions with :func:`carbonledger.core.authority.apply` (the
same function the embedded ledger and its verifier call, signatures aside) to
a copy of the state, at a ledger time set to the millisecond, so every window
of a proposal is tested at its exact tick without sleeping.
"""

from __future__ import annotations

from typing import Any

from carbonledger.core.authority import apply
from carbonledger.core.dao.balances import supply
from carbonledger.core.dao.model import (
    TREASURY,
    ballot_key,
    get_proposal,
    holder,
    iso_from_ms,
    ledger_ms,
    proposal_status,
)
from carbonledger.core.state import LedgerState

ADMIN = "0x" + "ad" * 20
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank")
ADDR = {name: "0x" + f"{n + 1:02x}" * 20 for n, name in enumerate(PEOPLE)}
T0 = 1_735_689_600_000  # 2025-01-01T00:00:00.000Z
PARAMS: dict[str, Any] = {
    "voting_delay_ms": 1_000,
    "voting_period_ms": 10_000,
    "timelock_ms": 5_000,
    "grace_ms": 20_000,
    "proposal_cancel_ms": 2_000,
    "vote_cancel_ms": 3_000,
    "quorum": 100 * 10**7,  # 100 votes: 10,000 tokens
    "proposal_threshold": 1_000,
    "burn_bps": 2_500,
    "reward_bps": 5_000,
}
ALLOCATION = {
    "alice": 200_000,
    "bob": 100_000,
    "carol": 10_000,
    "dave": 9_801,
    "erin": 5_000,
    "frank": 0,
}


class Chain:
    """Ledger state advanced by the rules, with a settable ledger clock (ms)."""

    def __init__(self) -> None:
        self.state = LedgerState(ledger_id="dao-test", admin=ADMIN)
        people = {
            addr: {"name": name, "org": "acme", "roles": ["member"], "status": "active"}
            for name, addr in ADDR.items()
        }
        self.state.identities = {
            ADMIN: {"name": "admin", "roles": ["network_admin"], "status": "active"},
            **people,
        }
        self.t = T0
        self.serial = 0

    # -- time
    @property
    def now(self) -> str:
        return iso_from_ms(self.t)

    def at(self, when: str | int, offset_ms: int = 0) -> Chain:
        self.t = (ledger_ms(when) if isinstance(when, str) else when) + offset_ms
        return self

    # -- sending
    def send(self, who: str, tx_type: str, items: list[dict[str, Any]]) -> None:
        sender = ADDR.get(who, who)
        body = {
            "type": tx_type,
            "ledger": "dao-test",
            "sender": sender,
            "nonce": self.state.nonces.get(sender, 0),
        }
        work = self.state.copy()
        apply(work, body, items, now=self.now)
        self.state = work

    def setup(self, **params: Any) -> Chain:
        self.send(ADMIN, "dao_setup", [{"kind": "dao_setup", "name": "Test DAO", "symbol": "dT",
                                        "params": {**PARAMS, **params}}])  # fmt: skip
        allocation = {ADDR[k]: v for k, v in ALLOCATION.items() if v}
        self.issue({**allocation, "treasury": 50_000})
        return self

    def issue(self, allocation: dict[str, int]) -> None:
        items = []
        for who, amount in allocation.items():
            self.serial += 1
            items.append(
                {"kind": "dao_issue", "id": f"i{self.serial}", "to": ADDR.get(who, who),
                 "amount": amount}
            )  # fmt: skip
        self.send(ADMIN, "dao_issue", items)

    def transfer(self, who: str, to: str, amount: int) -> None:
        self.serial += 1
        item = {"kind": "dao_transfer", "id": f"x{self.serial}", "to": ADDR.get(to, to),
                "amount": amount}  # fmt: skip
        self.send(who, "dao_transfer", [item])

    def propose(
        self,
        who: str = "erin",
        pid: str = "p1",
        parts: list[dict[str, Any]] | None = None,
        projects: list[dict[str, Any]] | None = None,
    ) -> str:
        if parts is None:
            parts = [{"title": "raise the quorum", "actions": [param("quorum", 200 * 10**7)]}]
        item = {
            "kind": "proposal",
            "id": pid,
            "title": f"proposal {pid}",
            "description": "what and why",
            "parts": parts,
            "projects": projects or [],
        }
        self.send(who, "dao_propose", [item])
        return pid

    def vote(self, who: str, pid: str, amount: int, *choices: str) -> None:
        parts = len(self.proposal(pid)["parts"])
        picked = list(choices) if len(choices) > 1 else [choices[0] if choices else "for"] * parts
        item = {"kind": "vote", "proposal": pid, "amount": amount, "choices": picked}
        self.send(who, "dao_vote", [item])

    def act(self, who: str, tx_type: str, pid: str) -> None:
        kind = {"dao_withdraw": "dao_vote_withdrawal"}.get(tx_type, tx_type)
        self.send(who, tx_type, [{"kind": kind, "proposal": pid}])

    # -- reading
    def proposal(self, pid: str) -> dict[str, Any]:
        return get_proposal(self.state, pid, "test")

    def status(self, pid: str) -> str:
        return proposal_status(self.proposal(pid), self.now)

    def balance(self, who: str) -> dict[str, int]:
        return holder(self.state, ADDR.get(who, who))

    def ballot(self, who: str, pid: str) -> dict[str, Any]:
        return dict(self.state.dao[ballot_key(pid, ADDR[who])])

    def treasury(self) -> int:
        return holder(self.state, TREASURY)["available"]

    def check_invariants(self) -> None:
        """Supply conserved; each holder's locked = its live ballots + unsettled stakes;
        each proposal's tally = the votes of its live ballots."""
        dao = self.state.dao
        held = sum(b["available"] + b["locked"] for k, b in dao.items() if k.startswith("holder:"))
        assert held == supply(self.state)["outstanding"]
        locked: dict[str, int] = {}
        tallies: dict[str, int] = {}
        for key, value in dao.items():
            if key.startswith("ballot:") and value["withdrawn_at"] is None:
                tallies[value["proposal"]] = tallies.get(value["proposal"], 0) + value["votes"]
                if value["released_at"] is None:
                    locked[value["voter"]] = locked.get(value["voter"], 0) + value["amount"]
            if key.startswith("proposal:") and value["settled"] is None:
                locked[value["proposer"]] = locked.get(value["proposer"], 0) + value["stake"]
        for key, bal in dao.items():
            if key.startswith("holder:"):
                assert bal["locked"] == locked.get(key.removeprefix("holder:"), 0), key
                assert bal["available"] >= 0
        for key, value in dao.items():
            if key.startswith("proposal:"):
                assert value["votes"] == tallies.get(value["id"], 0)
                for part in value["parts"]:
                    assert sum(part["tally"].values()) == value["votes"]


def param(name: str, value: Any) -> dict[str, Any]:
    return {"type": "set_param", "name": name, "value": value}
