"""The DAO at tick-exact ledger times, on the embedded ledger (whose clock a test can set).

Ledger time comes from the ledger's clock; the ``clock`` fixture stands in for
it (starting at the real time and moving only when told), so each step lands at
the tick the test names, and the whole ledger still verifies from its entries.
The DAO's behaviour on every backend, in real time, is in the conformance suite
(``tests/conformance/suite.py`` and ``suite_dao.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from carbonledger.adapters.sqlite import ledger as sqlite_ledger
from carbonledger.core.dao.model import DAO_ISSUER, iso_from_ms, ledger_ms
from carbonledger.errors import Conflict
from carbonledger.services import dao
from carbonledger.services.offsets import package_directory
from carbonledger.services.tokens import balances
from tests.tokens.tokens_helpers import World, build_template, copy_world

PROJECT, VINTAGE = "ACR411", 2019  # Steuben County Bath Landfill, New York (ACR)
PARAMS = {
    "voting_delay_ms": 1_000,
    "voting_period_ms": 10_000,
    "timelock_ms": 5_000,
    "grace_ms": 60_000,
    "quorum": 100 * 10**7,
    "proposal_threshold": 1_000,
}


class Clock:
    """The ledger's clock, in ms since the epoch; moves only when told."""

    def __init__(self) -> None:
        self.ms = ledger_ms(datetime.now(UTC).isoformat().replace("+00:00", "Z"))

    def __call__(self) -> str:
        return iso_from_ms(self.ms)

    def at(self, when: str, offset_ms: int = 0) -> None:
        self.ms = ledger_ms(when) + offset_ms


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_template(tmp_path_factory.mktemp("dao") / "home")
    yield world
    world.ledger.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sqlite_ledger, "utc_now", clock)
    return clock


@pytest.fixture
def world(template: World, tmp_path: Path, clock: Clock) -> Iterator[World]:
    w = copy_world(template, tmp_path / "home")
    dao.setup(w.ledger, w.admin, params=PARAMS)
    dao.issue_tokens(
        w.ledger,
        w.admin,
        {
            "acme/alice": 200_000,
            "globex/bob": 100_000,
            "dealers/offsets": 5_000,
            "treasury": 10_000,
        },
    )
    yield w
    w.ledger.close()


def _propose(w: World) -> str:
    directory = package_directory()
    state = w.ledger.state()
    return dao.propose(
        w.ledger,
        w.offset_dealer,
        title=f"Back {PROJECT}",
        description="Issue offsets of the Steuben County landfill project and fund it.",
        parts=[
            dao.Part(
                "issue 500 t",
                [
                    dao.offset_action(
                        state,
                        directory,
                        project=PROJECT,
                        to="acme/alice",
                        tonnes=500,
                        vintage=VINTAGE,
                        serial_prefix=f"ACR-{PROJECT}-{VINTAGE}-",
                        serial_start=1,
                        token_id="dao-offset-acr411",
                    )
                ],
            ),
            dao.Part(
                "fund", [dao.fund_action(state, to="globex/bob", amount=2_000, project=PROJECT)]
            ),
        ],
        proposal_id="back-acr411",
    )


def test_a_proposal_issues_offsets_of_a_directory_project(world: World, clock: Clock) -> None:
    pid = _propose(world)
    ledger = world.ledger
    view = dao.proposal_view(ledger.state(), pid, directory=package_directory(), now=clock())
    assert view["status"] == "Pending"
    project = view["projects"][0]
    assert (project["id"], project["registry"]) == (PROJECT, "ACR")
    assert project["registry_data"]["state"] == "NEW YORK"
    assert project["registry_data"]["vintages"]["2019"] == 50_086

    p = ledger.state().dao[f"proposal:{pid}"]
    clock.at(p["vote_start"])
    dao.vote(ledger, world.alice, pid, amount=200_000, choice="for")
    dao.vote(ledger, world.bob, pid, amount=100_000, choice=["for", "abstain"])
    view = dao.proposal_view(ledger.state(), pid, now=clock())
    assert view["parts"][0]["votes"] == {"for": "763.4413615", "against": "0", "abstain": "0"}
    assert view["parts"][1]["votes"]["abstain"] == "316.227766"

    clock.at(p["vote_end"], 1)  # one tick after the period ends
    with pytest.raises(Conflict, match="voting is closed"):
        dao.vote(ledger, world.offset_dealer, pid, amount=10, choice="for")
    dao.queue(ledger, world.bob, pid)
    eta = ledger.state().dao[f"proposal:{pid}"]["eta"]
    clock.at(eta, -1)
    with pytest.raises(Conflict, match="timelock runs until"):
        dao.execute(ledger, world.bob, pid)
    clock.at(eta)
    dao.execute(ledger, world.bob, pid)
    with pytest.raises(Conflict, match="already executed"):
        dao.execute(ledger, world.bob, pid)

    state = ledger.state()
    token = state.tokens["dao-offset-acr411"]
    assert token["issuer"] == DAO_ISSUER
    assert token["meta"]["project"]["id"] == PROJECT
    assert token["serial"] == {"prefix": f"ACR-{PROJECT}-{VINTAGE}-", "start": 1, "end": 500}
    held = balances(state, token="dao-offset-acr411")
    assert [(b.holder, b.available) for b in held] == [(world.alice.address, 500)]
    assert dao.holders(state)["holders"][0]["name"] == "acme/alice"
    proposal = state.dao[f"proposal:{pid}"]
    assert proposal["issued"] == ["dao-offset-acr411"]
    assert proposal["settled"] == {"at": eta, "refunded": 1_000, "burned": 0, "reward": 500}
    bob = state.dao[f"holder:{world.bob.address}"]
    assert bob == {"available": 2_000, "locked": 100_000}

    dao.release(ledger, world.bob, pid)
    report = ledger.verify()
    assert report.ok, report
    latest = ledger.state().to_json()
    assert world.reopen().state().to_json() == latest  # the state is the entries' replay
