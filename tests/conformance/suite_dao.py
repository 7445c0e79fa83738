"""The DAO on the ledger: a proposal issues offsets of a real directory project (every backend).

Part of :class:`tests.conformance.suite.LedgerConformance`. Ledger time is each
backend's own clock (the chain's blocks on EVM), so the tests wait for the short
governance windows of ``DAO_PARAMS`` to pass; the tick-exact boundaries are in
``tests/dao/test_ledger.py``, where the embedded ledger's clock can be set.
"""

from __future__ import annotations

from typing import Any

import pytest

from carbonledger.core.dao.model import DAO_ISSUER
from carbonledger.errors import CarbonLedgerError, Conflict, NotFound, PermissionDenied
from carbonledger.services import dao
from carbonledger.services.offsets import package_directory
from carbonledger.services.tokens import issue_offset
from tests.conformance.suite import (
    DAO_PROJECT,
    DAO_TOKEN,
    DAO_VINTAGE,
    _back_project,
    _dao_ready,
)
from tests.conformance.suite import _wait_for as wait_for
from tests.conformance.world import World, reopen


def _pass(w: World, pid: str, voter: Any, amount: int) -> None:
    """Vote for ``pid`` once voting opens, queue it when it closes, wait out the timelock."""
    p = w.ledger.state().dao[f"proposal:{pid}"]
    wait_for(p["vote_start"])
    dao.vote(w.ledger, voter, pid, amount=amount, choice="for")
    wait_for(p["vote_end"], 1)
    dao.queue(w.ledger, w.bob, pid)
    wait_for(w.ledger.state().dao[f"proposal:{pid}"]["eta"])


def _offset(w: World, tonnes: int, serial_start: int, prefix: str | None = None) -> str:
    return issue_offset(
        w.ledger,
        w.offsets,
        package_directory(),
        project=DAO_PROJECT,
        to="acme/alice",
        tonnes=tonnes,
        vintage=DAO_VINTAGE,
        serial_prefix=prefix or f"ACR-{DAO_PROJECT}-{DAO_VINTAGE}-",
        serial_start=serial_start,
    ).token


class DaoConformance:
    """Mixed into :class:`~tests.conformance.suite.LedgerConformance` (its ``w`` fixture)."""

    def test_dao_proposal_names_its_directory_project(self, w: World) -> None:
        _dao_ready(w)
        pid = _back_project(w)
        view = dao.proposal_view(w.ledger.state(), pid, directory=package_directory())
        assert view["status"] == "Pending"
        project = view["projects"][0]
        assert (project["id"], project["registry"]) == (DAO_PROJECT, "ACR")
        # ACR411 in the packaged directory: Steuben County Bath Landfill, New York.
        assert project["registry_data"]["state"] == "NEW YORK"
        assert project["registry_data"]["vintages"]["2019"] == 50_086

    def test_dao_executed_proposal_is_settled_and_the_state_replays(self, w: World) -> None:
        _dao_ready(w)
        pid = _back_project(w)
        p = w.ledger.state().dao[f"proposal:{pid}"]
        wait_for(p["vote_start"])
        dao.vote(w.ledger, w.alice, pid, amount=200_000, choice="for")
        dao.vote(w.ledger, w.bob, pid, amount=100_000, choice=["for", "abstain"])
        wait_for(p["vote_end"], 1)
        dao.queue(w.ledger, w.bob, pid)
        eta = w.ledger.state().dao[f"proposal:{pid}"]["eta"]
        wait_for(eta)
        dao.execute(w.ledger, w.bob, pid)
        state = w.ledger.state()
        assert state.tokens[DAO_TOKEN]["issuer"] == DAO_ISSUER
        assert dao.holders(state)["holders"][0]["name"] == "acme/alice"
        proposal = state.dao[f"proposal:{pid}"]
        assert proposal["issued"] == [DAO_TOKEN]
        # The stake (the 1,000 threshold) comes back with a reward of half of it.
        assert proposal["settled"]["refunded"] == 1_000
        assert (proposal["settled"]["burned"], proposal["settled"]["reward"]) == (0, 500)
        assert proposal["settled"]["at"] >= eta
        # Bob: 100,000 locked by his vote; 2,000 paid by the proposal's second part.
        assert state.dao[f"holder:{w.bob.address}"] == {"available": 2_000, "locked": 100_000}
        dao.release(w.ledger, w.bob, pid)
        report = w.ledger.verify()
        assert report.ok, report.error
        latest = w.ledger.state().to_json()
        w.ledger = reopen(w.ledger, w.admin)
        assert w.ledger.state().to_json() == latest  # the state is the entries' replay

    def test_dao_proposal_cannot_take_serials_already_issued(self, w: World) -> None:
        _dao_ready(w)
        _offset(w, 10, 400)  # serials 400-409 of the 500 the proposal asks for
        with pytest.raises(Conflict, match="overlap token"):
            _back_project(w)

    def test_dao_execution_rechecks_the_token_network(self, w: World) -> None:
        """Serials taken between proposal and execution refuse the execution."""
        _dao_ready(w)
        pid = _back_project(w)
        p = w.ledger.state().dao[f"proposal:{pid}"]
        wait_for(p["vote_start"])
        dao.vote(w.ledger, w.alice, pid, amount=200_000, choice="for")
        _offset(w, 1, 500)  # the last serial of the proposal's range
        wait_for(p["vote_end"], 1)
        dao.queue(w.ledger, w.bob, pid)
        wait_for(w.ledger.state().dao[f"proposal:{pid}"]["eta"])
        with pytest.raises(Conflict, match="overlap token"):
            dao.execute(w.ledger, w.bob, pid)
        assert dao.list_proposals(w.ledger.state())[0]["status"] == "Queued"
        assert DAO_TOKEN not in w.ledger.state().tokens

    def test_dao_unknown_proposals_and_statuses_are_named(self, w: World) -> None:
        _dao_ready(w)
        with pytest.raises(NotFound, match="proposal 'nope' does not exist"):
            dao.vote(w.ledger, w.alice, "nope", amount=1, choice="for")
        with pytest.raises(CarbonLedgerError, match="status 'Won'"):
            dao.list_proposals(w.ledger.state(), status="Won")

    def test_dao_issues_while_dealers_are_limited(self, w: World) -> None:
        _dao_ready(w, limited_mode=True)
        with pytest.raises(PermissionDenied, match="limited mode"):
            _offset(w, 1, 1, prefix="X-")
        pid = _back_project(w)
        _pass(w, pid, w.alice, 200_000)
        dao.execute(w.ledger, w.bob, pid)
        token = w.ledger.state().tokens[DAO_TOKEN]
        assert (token["issuer"], token["issued"]) == (DAO_ISSUER, 500)
