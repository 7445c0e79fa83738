"""One answer to "is this identity active?", whichever rule asks.

An identity is written ``active`` at enrolment and ``revoked`` at revocation; a
state restored from a snapshot (or written by a later version) may carry any
other value. Every gate must then agree: an identity that may not receive tokens
may not sign either. Before the answer was written once, the signer check refused
only ``revoked`` while the token, DAO and channel checks required ``active``, so
an identity in a third state could sign but not be paid: these tests name that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from carbonledger.core.identities import is_active
from carbonledger.errors import CarbonLedgerError
from tests.dao.dao_helpers import ADDR, ADMIN, Chain, param

DEALER = "0x" + "de" * 20
ERIN = ADDR["erin"]


def _chain(status: object) -> Chain:
    chain = Chain().setup()
    chain.state.identities[DEALER] = {"name": "dealer", "roles": ["rec_dealer"], "status": "active"}
    ident = {k: v for k, v in chain.state.identities[ERIN].items() if k != "status"}
    if status is not None:
        ident["status"] = status
    chain.state.identities[ERIN] = ident
    return chain


def _sign(chain: Chain) -> None:
    chain.transfer("erin", "alice", 1)


def _receive_dao_tokens(chain: Chain) -> None:
    chain.issue({ERIN: 5})


def _receive_a_rec(chain: Chain) -> None:
    rec = {
        "kind": "token",
        "id": "rec-1",
        "type": "REC",
        "amount": 2,
        "registry": "M-RETS",
        "serial": {"prefix": "MR-", "start": 1, "end": 2},
        "facility": {"name": "Wind farm"},
        "grid_region": "MROW",
        "generation": {"start": "2023-01-01", "end": "2023-01-31"},
        "to": ERIN,
    }
    chain.send(DEALER, "issue_token", [rec])


def _be_guardian(chain: Chain) -> None:
    chain.propose("alice", "g", [{"title": "guardian", "actions": [param("guardian", ERIN)]}])


GATES: dict[str, Callable[[Chain], None]] = {
    "sign a transaction": _sign,
    "receive DAO tokens": _receive_dao_tokens,
    "receive a REC": _receive_a_rec,
    "be named guardian": _be_guardian,
}


def _accepted(status: object) -> dict[str, bool]:
    out = {}
    for gate, run in GATES.items():
        chain = _chain(status)
        try:
            run(chain)
        except CarbonLedgerError:
            out[gate] = False
        else:
            out[gate] = True
    return out


def test_an_active_identity_passes_every_gate() -> None:
    assert _accepted("active") == dict.fromkeys(GATES, True)


@pytest.mark.parametrize("status", ["revoked", "suspended", "Active", None])
def test_any_other_status_is_refused_by_every_gate(status: Any) -> None:
    # "suspended" and a missing status are what a rule refusing only "revoked" let sign.
    assert _accepted(status) == dict.fromkeys(GATES, False)


def test_is_active_is_the_positive_test() -> None:
    assert is_active({"status": "active"})
    for ident in ({"status": "revoked"}, {"status": "suspended"}, {}, None):
        assert not is_active(ident)
    assert ADMIN != ERIN
