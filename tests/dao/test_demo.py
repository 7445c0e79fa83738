"""The DAO demo story on a ledger that has had the token story's setting: real time."""

from __future__ import annotations

from pathlib import Path

from carbonledger.crypto.keys import PrivateKey
from carbonledger.demo.dao import run_dao_demo
from tests.tokens.tokens_helpers import PASS, _user, build_template


def test_the_dao_demo_runs_a_proposal_to_execution(tmp_path: Path) -> None:
    world = build_template(tmp_path / "home")

    def enroll(org: str, name: str, roles: list[str]) -> PrivateKey:
        return _user(world.home, world.ledger, world.admin, org, name, roles)

    try:
        summary = run_dao_demo(
            world.ledger,
            world.store,
            world.admin,
            world.home,
            PASS,
            enroll=enroll,
            orgs=("acme", "dealers", "audits"),
        )
        assert summary["status"] == "Executed"
        assert summary["project"]["id"] == "ACR411"
        assert summary["issued_t_co2e"] == 500
        assert summary["votes"]["parts"][0]["for"] == "1079.6691275"  # 447.2135955 + 2 x 316.227766
        assert "already voted" in summary["refused_double_vote"]
        assert summary["holders"]["outstanding"] == 820_000
        assert all(h["locked"] == 0 for h in summary["holders"]["holders"])
        assert len(summary["steps"]) == 6
        assert world.ledger.verify().ok
    finally:
        world.ledger.close()
