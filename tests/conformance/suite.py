"""The ledger port's conformance suite: written once, subclassed per backend.

A backend's test module subclasses :class:`tests.conformance.backend.BackendConformance`
(this class and the other parts of the suite) and provides the ``backend`` fixture
(see :data:`tests.conformance.world.Backend`). Behaviour that a backend deliberately
does differently is declared in its ``DIFFERENCES``
(test name -> reason) and skipped with that reason: nothing is silently
different.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from carbonledger.core.domain import Bill, account_ref
from carbonledger.core.proofdoc import check_proof
from carbonledger.core.tx import SignedTx, build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import (
    Conflict,
    DuplicateEntity,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SignatureInvalid,
)
from carbonledger.factors import FactorCatalog
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from carbonledger.services.channels import revoke, submit_one
from carbonledger.services.identity import revoke_user
from carbonledger.services.importer import import_bills
from carbonledger.services.records import RecordReader
from carbonledger.services.tokens import issue_audited, issue_rec, mint, retire, transfer
from tests.conformance.world import LEDGER_ID, PASS, Backend, World, build_world

YEAR = 2023


def _bills(site: str, months: range, kwh: str = "1000") -> list[Bill]:
    return [
        Bill(site, "E1", date(YEAR, m, 1), date(YEAR, m, 28), Decimal(kwh), "kWh") for m in months
    ]


def _rec(w: World, mwh: int = 100, token_id: str = "rec-1", to: str = "acme/alice") -> str:
    return issue_rec(
        w.ledger,
        w.recs,
        to=to,
        mwh=mwh,
        facility="Altamont Pass Wind Farm",
        grid_region="CAMX",
        generation=(date(YEAR, 1, 1), date(YEAR, 12, 31)),
        registry="WREGIS",
        serial_prefix="WREGIS-1-",
        serial_start=1,
        token_id=token_id,
    ).token


#: Short governance windows in ledger time (ms), so a proposal runs its course in seconds.
DAO_PARAMS = {
    "voting_delay_ms": 300,
    "voting_period_ms": 2_500,
    "timelock_ms": 600,
    "grace_ms": 60_000,
    "quorum": 100 * 10**7,
    "proposal_threshold": 1_000,
}
DAO_PROJECT, DAO_VINTAGE, DAO_TOKEN = "ACR411", 2019, "dao-offset-acr411"


def _wait_for(ledger_time: str, after_ms: int = 0) -> None:
    """Sleep until the wall clock (the ledgers' clock) has passed ``ledger_time``."""
    import time

    from carbonledger.core.dao.model import ledger_ms

    # Checked again after each sleep: sleep runs on the monotonic clock, and the wall
    # clock the ledgers stamp may advance more slowly (a slewed or paused clock).
    while (wait := ledger_ms(ledger_time) + after_ms - ledger_ms(utc_now())) >= 0:
        time.sleep(wait / 1000 + 0.02)


def _dao_ready(w: World, **params: Any) -> None:
    """The offsets directory registered, the DAO set up, governance tokens issued."""
    from carbonledger.services import dao
    from carbonledger.services.offsets import package_directory, register_directory

    register_directory(w.ledger, w.admin, package_directory())
    dao.setup(w.ledger, w.admin, params={**DAO_PARAMS, **params})
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


def _back_project(w: World) -> str:
    """The offsets dealer proposes to issue 500 t of ACR411 (2019) to Alice and fund the desk."""
    from carbonledger.services import dao
    from carbonledger.services.offsets import package_directory

    state = w.ledger.state()
    issue = dao.offset_action(
        state,
        package_directory(),
        project=DAO_PROJECT,
        to="acme/alice",
        tonnes=500,
        vintage=DAO_VINTAGE,
        serial_prefix=f"ACR-{DAO_PROJECT}-{DAO_VINTAGE}-",
        serial_start=1,
        token_id=DAO_TOKEN,
    )
    fund = dao.fund_action(state, to="globex/bob", amount=2_000, project=DAO_PROJECT)
    return dao.propose(
        w.ledger,
        w.offsets,
        title=f"Back {DAO_PROJECT}",
        description="Issue offsets of the Steuben County landfill project and fund it.",
        parts=[dao.Part("issue 500 t", [issue]), dao.Part("fund", [fund])],
        proposal_id="back-acr411",
    )


def _run_proposal(w: World) -> str:
    """A full DAO proposal: set up, issue votes, propose, vote, queue, execute."""
    from carbonledger.services import dao

    _dao_ready(w)
    pid = _back_project(w)
    p = w.ledger.state().dao[f"proposal:{pid}"]
    with pytest.raises(Conflict):  # voting has not started
        dao.vote(w.ledger, w.alice, pid, amount=10, choice="for")
    _wait_for(p["vote_start"])
    dao.vote(w.ledger, w.alice, pid, amount=200_000, choice="for")
    dao.vote(w.ledger, w.bob, pid, amount=100_000, choice=["for", "abstain"])
    view = dao.proposal_view(w.ledger.state(), pid)
    assert view["parts"][0]["votes"] == {"for": "763.4413615", "against": "0", "abstain": "0"}
    assert view["parts"][1]["votes"]["abstain"] == "316.227766"
    _wait_for(p["vote_end"], 1)
    with pytest.raises(Conflict, match="voting is closed"):
        dao.vote(w.ledger, w.offsets, pid, amount=10, choice="for")
    dao.queue(w.ledger, w.bob, pid)
    with pytest.raises(Conflict, match="timelock runs until"):
        dao.execute(w.ledger, w.bob, pid)
    _wait_for(w.ledger.state().dao[f"proposal:{pid}"]["eta"])
    dao.execute(w.ledger, w.bob, pid)
    with pytest.raises(Conflict, match="already executed"):
        dao.execute(w.ledger, w.bob, pid)
    return pid


def _fund_proposal(w: World, **params: int) -> str:
    """The DAO set up with tokens, and a Pending proposal of Alice to pay Bob 500."""
    from carbonledger.services import dao

    dao.setup(w.ledger, w.admin, params={**DAO_PARAMS, **params})
    dao.issue_tokens(
        w.ledger,
        w.admin,
        {"acme/alice": 200_000, "globex/bob": 100_000, "dealers/offsets": 5_000, "treasury": 500},
    )
    fund = dao.fund_action(w.ledger.state(), to="globex/bob", amount=500)
    return dao.propose(
        w.ledger,
        w.alice,
        title="Fund Bob",
        description="Pay Bob from the treasury.",
        parts=[dao.Part("fund", [fund])],
        proposal_id="fund-bob",
    )


def _holder(w: World, key: PrivateKey | str) -> dict[str, int]:
    from carbonledger.core.dao.model import holder

    return holder(w.ledger.state(), key if isinstance(key, str) else key.address)


class LedgerConformance:
    """Every test runs against ``self.world``, built through the port on the backend."""

    #: Test name -> why this backend intentionally behaves differently (skipped).
    DIFFERENCES: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def backend(self) -> Backend:  # pragma: no cover - provided by each subclass
        raise NotImplementedError

    @pytest.fixture
    def w(
        self, backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
    ) -> Iterator[World]:
        reason = self.DIFFERENCES.get(request.node.originalname)
        if reason:
            pytest.skip(reason=f"intentional difference of this backend: {reason}")
        world = build_world(backend, tmp_path)
        yield world
        close = getattr(world.ledger, "close", None)
        if close is not None:
            close()

    @staticmethod
    def _tx(key: PrivateKey, tx_type: str, items: list[dict[str, Any]], nonce: int = 0) -> SignedTx:
        return build_tx(
            key,
            tx_type=tx_type,
            ledger_id=LEDGER_ID,
            nonce=nonce,
            created=utc_now(),
            items=items,
        )

    # -- the port ---------------------------------------------------------------
    def test_the_backend_offers_the_whole_port(self, w: World) -> None:
        """Everything callers use is declared on the port, and this backend offers it all
        (the API and the web UI reach nothing else)."""
        for port, impl in ((LedgerPort, w.ledger), (ChannelStore, w.ledger.channels)):
            declared = [n for n in vars(port) if not n.startswith("_")]
            assert declared, port
            missing = [n for n in declared if not hasattr(impl, n)]
            assert missing == [], f"{type(impl).__name__} lacks {missing} of {port.__name__}"
        head = w.ledger.latest_checkpoint()
        assert head.size == sum(1 for _ in w.ledger.items(ItemQuery()))
        listed = w.ledger.checkpoints(limit=3)
        assert listed[0] == head  # newest first
        assert len(listed) == 3  # the world made more than three commits
        assert [c.size for c in listed] == sorted({c.size for c in listed}, reverse=True)
        assert w.ledger.verify(max_errors=1).ok

    # -- registration ----------------------------------------------------------
    def test_registration(self, w: World) -> None:
        state = w.ledger.state()
        assert state.ledger_id == LEDGER_ID
        assert state.admin == w.admin.address
        assert set(state.orgs) == {"acme", "globex", "dealers", "audits"}
        assert state.sites["acme-chi"]["org"] == "acme"
        orgs = [s.item["id"] for s in w.ledger.items(ItemQuery(kind="organisation"))]
        assert orgs == ["acme", "globex", "dealers", "audits"]

    def test_duplicate_site_is_refused(self, w: World) -> None:
        item = dict(next(iter(w.ledger.items(ItemQuery(kind="site")))).item)
        with pytest.raises(DuplicateEntity, match="already registered"):
            submit_one(w.ledger, w.admin, "register_site", [item])

    def test_only_the_network_admin_registers_organisations(self, w: World) -> None:
        item = {"kind": "organisation", "id": "evil", "name": "Evil", "admins": [w.alice.address]}
        with pytest.raises(PermissionDenied, match="not the network admin"):
            submit_one(w.ledger, w.alice, "register_org", [item])

    # -- identities and roles --------------------------------------------------
    def test_roles_of_enrolled_identities(self, w: World) -> None:
        idents = w.ledger.state().identities
        assert idents[w.recs.address]["roles"] == ["rec_dealer"]
        assert idents[w.dana.address]["roles"] == ["auditor"]
        assert idents[w.alice.address]["org"] == "acme"

    def test_unknown_signer_is_refused(self, w: World) -> None:
        intruder = PrivateKey.generate()
        with pytest.raises(PermissionDenied, match="not an enrolled identity"):
            w.ledger.submit([self._tx(intruder, "register_site", [{"kind": "site", "id": "x"}])])

    def test_forged_signature_is_refused(self, w: World) -> None:
        nonce = w.ledger.state().next_nonce(w.admin.address)
        good = self._tx(
            w.admin, "channel_read", [{"kind": "channel_read", "channel": "acme"}], nonce
        )
        other = self._tx(PrivateKey.generate(), "channel_read", [{"kind": "channel_read"}], nonce)
        forged = type(good)(
            good.body, good.body_bytes, good.items, good.item_hashes, other.signature
        )
        with pytest.raises(SignatureInvalid):
            w.ledger.submit([forged])

    def test_replayed_transaction_is_refused(self, w: World) -> None:
        nonce = w.ledger.state().next_nonce(w.alice.address)
        t = self._tx(w.alice, "channel_read", [{"kind": "channel_read", "channel": "acme"}], nonce)
        w.ledger.submit([t])
        with pytest.raises(Conflict, match=f"nonce {nonce} .* expected {nonce + 1}"):
            w.ledger.submit([t])

    def test_batch_is_atomic(self, w: World) -> None:
        nonce = w.ledger.state().next_nonce(w.alice.address)
        size = w.ledger.state().size
        good = self._tx(
            w.alice, "channel_read", [{"kind": "channel_read", "channel": "acme"}], nonce
        )
        bad = self._tx(
            w.alice, "channel_read", [{"kind": "channel_read", "channel": "globex"}], nonce + 1
        )
        with pytest.raises(PermissionDenied, match="not a member of channel 'globex'"):
            w.ledger.submit([good, bad])
        assert w.ledger.state().size == size
        w.ledger.submit([good])  # the nonce is still free
        assert w.ledger.state().size == size + 1

    def test_revoked_identity_is_refused_and_its_past_stays(self, w: World) -> None:
        bob = w.bob
        submit_one(w.ledger, bob, "channel_read", [{"kind": "channel_read", "channel": "globex"}])
        revoke_user(w.ledger, w.admin, w.ca, bob.address, reason="left", ca_passphrase=PASS)
        with pytest.raises(PermissionDenied, match="revoked"):
            submit_one(
                w.ledger, bob, "channel_read", [{"kind": "channel_read", "channel": "globex"}]
            )
        assert w.ledger.verify().ok

    # -- recording with sealed details -----------------------------------------
    def test_recording_with_sealed_details(self, w: World) -> None:
        report = import_bills(
            w.ledger, w.alice, FactorCatalog(), _bills("acme-chi", range(1, 4)), store=w.store
        )
        assert (report.recorded, report.rejected) == (3, [])
        again = import_bills(
            w.ledger, w.alice, FactorCatalog(), _bills("acme-chi", range(1, 4)), store=w.store
        )
        assert (again.recorded, again.duplicates) == (0, 3)
        records = [
            s.item for s in w.ledger.items(ItemQuery(kind="emissions_record", site="acme-chi"))
        ]
        assert len(records) == 3
        assert "amount" not in records[0]  # sealed in the channel
        reader = RecordReader.for_member(w.ledger, w.store, w.alice)
        assert reader.detail(records[0])["amount"] == "1000"
        # Results are sealed with the details: the member opens them.
        assert sum(Decimal(reader.full(r)["kg_co2e"]) for r in records) == report.kg_co2e
        assert all("kg_co2e" not in r for r in records)
        periods = w.ledger.periods([f"acme-chi/{account_ref('acme-chi', 'E1')}"])
        assert sorted(p.start for p in periods) == ["2023-01-01", "2023-02-01", "2023-03-01"]
        report = w.ledger.verify()
        assert report.ok, report.error

    def test_a_page_after_a_leaf_index_is_the_page_at_its_offset(self, w: World) -> None:
        report = import_bills(
            w.ledger, w.alice, FactorCatalog(), _bills("acme-chi", range(5, 10)), store=w.store
        )
        assert report.recorded == 5
        query = ItemQuery(kind="emissions_record", site="acme-chi")
        every = [s.leaf_index for s in w.ledger.items(query)]
        assert every == sorted(every)
        assert len(every) >= 5
        for n in range(len(every)):
            at_offset = ItemQuery(kind="emissions_record", site="acme-chi", offset=n, limit=2)
            after = ItemQuery(kind="emissions_record", site="acme-chi", after=every[n - 1], limit=2)
            want = [s.leaf_index for s in w.ledger.items(at_offset)]
            if n:
                assert [s.leaf_index for s in w.ledger.items(after)] == want
            assert want == every[n : n + 2]
        last = ItemQuery(kind="emissions_record", site="acme-chi", after=every[-1])
        assert list(w.ledger.items(last)) == []

    def test_record_for_another_orgs_site_is_refused(self, w: World) -> None:
        report = import_bills(
            w.ledger, w.alice, FactorCatalog(), _bills("globex-hq", range(1, 2)), store=w.store
        )
        assert report.recorded == 0
        assert "not a member" in str(report.rejected[0])

    def test_inclusion_proof_checks_offline(self, w: World) -> None:
        import_bills(
            w.ledger, w.alice, FactorCatalog(), _bills("acme-chi", range(1, 2)), store=w.store
        )
        stored = next(iter(w.ledger.items(ItemQuery(kind="emissions_record"))))
        item = check_proof(w.ledger.proof(stored.leaf_index).document())
        assert item == stored.item

    # -- channel access --------------------------------------------------------
    def test_channel_access(self, w: World) -> None:
        from carbonledger.services.channels import grant

        read = [{"kind": "channel_read", "channel": "acme"}]
        with pytest.raises(PermissionDenied, match="not a member of channel 'acme'"):
            submit_one(w.ledger, w.dana, "channel_read", read)
        grant(w.ledger, w.store, w.admin, "acme", w.dana.address, role="auditor")
        submit_one(w.ledger, w.dana, "channel_read", read)
        with pytest.raises(PermissionDenied, match="only auditors"):
            grant(w.ledger, w.store, w.admin, "acme", w.bob.address, role="member")
        revoke(w.ledger, w.store, w.admin, "acme", w.dana.address)
        assert w.ledger.state().channels["acme"]["epoch"] == 1
        with pytest.raises(PermissionDenied):
            submit_one(w.ledger, w.dana, "channel_read", read)

    # -- tokens ----------------------------------------------------------------
    def test_issue_transfer_retire(self, w: World) -> None:
        tid = _rec(w, 100)
        transfer(w.ledger, w.alice, tid, to="globex/bob", amount=30)
        retire(w.ledger, w.alice, tid, amount=50, beneficiary="Acme Corp", reason="Scope 2 2023")
        state = w.ledger.state()
        token = state.tokens[tid]
        assert (token["issued"], token["retired"]) == (100, 50)
        assert state.balances[f"{w.alice.address}/{tid}"] == {"available": 20, "retired": 50}
        assert state.balances[f"{w.bob.address}/{tid}"] == {"available": 30, "retired": 0}
        assert w.ledger.verify().ok

    def test_token_ids_of_the_longest_allowed_length_move(self, w: World) -> None:
        # ID_PATTERN allows 64 characters; every backend must carry such a token.
        tid = _rec(w, 10, token_id="r" * 64)
        transfer(w.ledger, w.alice, tid, to="globex/bob", amount=3)
        retire(w.ledger, w.alice, tid, amount=2, beneficiary="Acme Corp", reason="Scope 2")
        token = w.ledger.state().tokens[tid]
        assert (token["issued"], token["retired"]) == (10, 2)

    def test_only_a_dealer_issues(self, w: World) -> None:
        with pytest.raises(PermissionDenied, match="rec_dealer"):
            issue_rec(
                w.ledger,
                w.alice,
                to="acme/alice",
                mwh=1,
                facility="F",
                grid_region="CAMX",
                generation=(date(YEAR, 1, 1), date(YEAR, 1, 31)),
                registry="WREGIS",
                serial_prefix="X-",
                serial_start=1,
            )

    def test_spending_more_than_held_is_refused(self, w: World) -> None:
        tid = _rec(w, 10)
        with pytest.raises(Conflict, match="exceeds the available balance"):
            transfer(w.ledger, w.alice, tid, to="globex/bob", amount=11)
        with pytest.raises(Conflict, match="exceeds the available balance"):
            retire(w.ledger, w.bob, tid, amount=1, beneficiary="B", reason="R")

    def test_token_id_zero_never_exists(self, w: World) -> None:
        with pytest.raises(InvalidInput, match="token id 0 is reserved"):
            _rec(w, 1, token_id="0")
        with pytest.raises(NotFound, match="does not exist"):
            transfer(w.ledger, w.alice, "0", to="globex/bob", amount=1)

    def test_mint_updates_total_issued(self, w: World) -> None:
        tid = _rec(w, 10)
        mint(w.ledger, w.recs, tid, to="acme/alice", amount=5)
        token = w.ledger.state().tokens[tid]
        assert token["issued"] == 15
        assert token["serial"]["end"] == 15

    def test_audited_emissions_are_minted_retired_and_never_move(self, w: World) -> None:
        from carbonledger.services.channels import grant

        import_bills(
            w.ledger, w.alice, FactorCatalog(), _bills("acme-chi", range(1, 3)), store=w.store
        )
        grant(w.ledger, w.store, w.admin, "acme", w.dana.address, role="auditor")
        tid = issue_audited(
            w.ledger,
            w.dana,
            store=w.store,
            org="acme",
            scope="2",
            start=date(YEAR, 1, 1),
            end=date(YEAR, 12, 31),
        ).token
        token = w.ledger.state().tokens[tid]
        assert token["issued"] == token["retired"] > 0
        assert token["transferable"] is False
        with pytest.raises(PermissionDenied, match="never become transferable"):
            mint(w.ledger, w.dana, tid, to="acme/alice", amount=1)
        with pytest.raises(PermissionDenied, match="audited emissions are not transferable"):
            transfer(w.ledger, w.alice, tid, to="globex/bob", amount=1)
        with pytest.raises(Conflict, match="retired when they are minted"):
            retire(w.ledger, w.alice, tid, amount=1, beneficiary="B", reason="R")

    # -- DAO ---------------------------------------------------------------------
    def test_dao_full_proposal(self, w: World) -> None:
        from carbonledger.core.dao.model import DAO_ISSUER
        from carbonledger.services import dao
        from carbonledger.services.tokens import balances

        pid = _run_proposal(w)
        state = w.ledger.state()
        assert dao.proposal_view(state, pid)["status"] == "Executed"
        token = state.tokens[DAO_TOKEN]
        assert token["issuer"] == DAO_ISSUER
        assert token["meta"]["project"]["id"] == DAO_PROJECT
        assert token["serial"] == {
            "prefix": f"ACR-{DAO_PROJECT}-{DAO_VINTAGE}-",
            "start": 1,
            "end": 500,
        }
        held = balances(state, token=DAO_TOKEN)
        assert [(b.holder, b.available) for b in held] == [(w.alice.address, 500)]
        report = w.ledger.verify()
        assert report.ok, report.error

    def test_dao_issued_offsets_move_like_any_token(self, w: World) -> None:
        _run_proposal(w)
        transfer(w.ledger, w.alice, DAO_TOKEN, to="globex/bob", amount=100)
        retire(w.ledger, w.alice, DAO_TOKEN, amount=50, beneficiary="Acme", reason="2023")
        token = w.ledger.state().tokens[DAO_TOKEN]
        assert (token["issued"], token["retired"]) == (500, 50)

    def test_dao_token_balances(self, w: World) -> None:
        from carbonledger.core.dao.model import TREASURY
        from carbonledger.services import dao

        with pytest.raises(NotFound, match="not set up"):
            dao.issue_tokens(w.ledger, w.admin, {"acme/alice": 1})
        dao.setup(w.ledger, w.admin, params=DAO_PARAMS)
        with pytest.raises(DuplicateEntity, match="already set up"):
            dao.setup(w.ledger, w.admin, params=DAO_PARAMS)
        dao.issue_tokens(w.ledger, w.admin, {"acme/alice": 1_000, "treasury": 50})
        with pytest.raises(PermissionDenied, match="not the network admin"):
            dao.issue_tokens(w.ledger, w.alice, {"acme/alice": 1})
        dao.transfer_tokens(w.ledger, w.alice, to="globex/bob", amount=400)
        with pytest.raises(Conflict, match="601 tokens asked"):
            dao.transfer_tokens(w.ledger, w.alice, to="globex/bob", amount=601)
        with pytest.raises(InvalidInput, match="the sender itself"):
            dao.transfer_tokens(w.ledger, w.alice, to="acme/alice", amount=1)
        dao.transfer_tokens(w.ledger, w.bob, to="treasury", amount=100)
        assert _holder(w, w.alice) == {"available": 600, "locked": 0}
        assert _holder(w, w.bob) == {"available": 300, "locked": 0}
        assert _holder(w, TREASURY) == {"available": 150, "locked": 0}

    def test_dao_one_ballot_per_voter_and_its_withdrawal(self, w: World) -> None:
        from carbonledger.services import dao

        pid = _fund_proposal(w)
        _wait_for(w.ledger.state().dao[f"proposal:{pid}"]["vote_start"])
        dao.vote(w.ledger, w.bob, pid, amount=40_000, choice="against")
        assert _holder(w, w.bob) == {"available": 60_000, "locked": 40_000}
        view = dao.proposal_view(w.ledger.state(), pid)
        assert view["parts"][0]["votes"]["against"] == "200"  # sqrt(40,000)
        with pytest.raises(DuplicateEntity, match="has already voted"):
            dao.vote(w.ledger, w.bob, pid, amount=1, choice="for")
        with pytest.raises(Conflict, match="60001 tokens asked"):  # locked tokens stay put
            dao.transfer_tokens(w.ledger, w.bob, to="acme/alice", amount=60_001)
        dao.withdraw_vote(w.ledger, w.bob, pid)
        assert _holder(w, w.bob) == {"available": 100_000, "locked": 0}
        with pytest.raises(NotFound, match="no ballot to withdraw"):
            dao.withdraw_vote(w.ledger, w.bob, pid)
        with pytest.raises(DuplicateEntity, match="has already voted"):  # no new ballot
            dao.vote(w.ledger, w.bob, pid, amount=1, choice="for")
        view = dao.proposal_view(w.ledger.state(), pid)
        assert view["parts"][0]["votes"]["against"] == "0"

    def test_dao_defeated_proposal_is_settled_and_its_votes_released(self, w: World) -> None:
        from carbonledger.services import dao

        pid = _fund_proposal(w)
        p = w.ledger.state().dao[f"proposal:{pid}"]
        _wait_for(p["vote_start"])
        dao.vote(w.ledger, w.bob, pid, amount=100_000, choice="against")
        dao.vote(w.ledger, w.offsets, pid, amount=4_900, choice="for")
        with pytest.raises(Conflict, match="tokens stay locked until it ends"):
            dao.release(w.ledger, w.bob, pid)
        with pytest.raises(Conflict, match="only a QuorumFailed, Defeated or Expired"):
            dao.settle(w.ledger, w.bob, pid)
        _wait_for(p["vote_end"], 1)
        assert dao.proposal_view(w.ledger.state(), pid)["status"] == "Defeated"
        with pytest.raises(Conflict, match="only a Succeeded proposal is queued"):
            dao.queue(w.ledger, w.bob, pid)
        dao.settle(w.ledger, w.bob, pid)  # a quarter of the stake (1,000) burned
        assert _holder(w, w.alice) == {"available": 199_750, "locked": 0}
        with pytest.raises(Conflict, match="its stake was settled"):
            dao.settle(w.ledger, w.bob, pid)
        dao.release(w.ledger, w.bob, pid)
        assert _holder(w, w.bob) == {"available": 100_000, "locked": 0}
        with pytest.raises(Conflict, match="already released"):
            dao.release(w.ledger, w.bob, pid)
        assert w.ledger.state().dao["token"]["burned"] == 250

    def test_dao_cancel(self, w: World) -> None:
        from carbonledger.services import dao

        pid = _fund_proposal(w, voting_delay_ms=60_000)
        assert _holder(w, w.alice) == {"available": 199_000, "locked": 1_000}
        with pytest.raises(PermissionDenied, match="only its proposer or the guardian"):
            dao.cancel(w.ledger, w.bob, pid)
        dao.cancel(w.ledger, w.alice, pid)  # Pending: the stake comes back whole
        assert _holder(w, w.alice) == {"available": 200_000, "locked": 0}
        assert dao.proposal_view(w.ledger.state(), pid)["status"] == "Canceled"
        with pytest.raises(Conflict, match="already Canceled"):
            dao.cancel(w.ledger, w.admin, pid)
        with pytest.raises(Conflict, match="voting is closed"):
            dao.vote(w.ledger, w.bob, pid, amount=1, choice="for")

    def test_dao_limited_mode_until_a_proposal_lifts_it(self, w: World) -> None:
        from carbonledger.services import dao

        dao.setup(w.ledger, w.admin, params={**DAO_PARAMS, "limited_mode": True})
        dao.issue_tokens(w.ledger, w.admin, {"globex/bob": 100_000})
        with pytest.raises(PermissionDenied, match="limited mode"):
            _rec(w, 10)
        lift = dao.param_action("limited_mode", False)
        pid = dao.propose(
            w.ledger,
            w.bob,
            title="Open issuance",
            description="Dealers issue again.",
            parts=[dao.Part("lift limited mode", [lift])],
        )
        _wait_for(w.ledger.state().dao[f"proposal:{pid}"]["vote_start"])
        dao.vote(w.ledger, w.bob, pid, amount=99_000, choice="for")
        _wait_for(w.ledger.state().dao[f"proposal:{pid}"]["vote_end"], 1)
        dao.queue(w.ledger, w.bob, pid)
        _wait_for(w.ledger.state().dao[f"proposal:{pid}"]["eta"])
        dao.execute(w.ledger, w.bob, pid)
        assert w.ledger.state().dao["params"]["limited_mode"] is False
        tid = _rec(w, 10)
        assert w.ledger.state().tokens[tid]["issued"] == 10

    def test_verify_holds_after_everything(self, w: World) -> None:
        tid = _rec(w, 5)
        transfer(w.ledger, w.alice, tid, to="globex/bob", amount=5)
        report = w.ledger.verify()
        assert report.ok, report.error
        assert report.entries >= 15
