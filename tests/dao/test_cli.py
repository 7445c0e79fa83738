"""The ``dao`` commands, end to end on a real home, at ledger times the test sets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from carbonledger.adapters.sqlite import ledger as sqlite_ledger
from carbonledger.cli import app
from carbonledger.cli import dao as dao_cli
from carbonledger.services import dao as dao_service
from tests.dao.test_ledger import Clock
from tests.tokens.tokens_helpers import PASS, World, build_template, copy_world

if not any(g.name == "dao" for g in app.registered_groups):  # until cli/__init__ registers it
    dao_cli.register(app)

Run = Callable[..., Result]
COMMANDS = (
    "setup", "issue", "transfer", "holders", "params", "propose", "vote", "withdraw", "cancel",
    "queue", "execute", "settle", "release", "list", "show",
)  # fmt: skip


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_template(tmp_path_factory.mktemp("dao-cli") / "home")
    yield world
    world.ledger.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sqlite_ledger, "utc_now", clock)
    monkeypatch.setattr(dao_service, "utc_now", clock)  # the status "now" of list and show
    return clock


@pytest.fixture
def run(template: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Run:
    world = copy_world(template, tmp_path / "home")
    world.ledger.close()
    monkeypatch.setenv("CARBONLEDGER_HOME", str(world.home.path))
    monkeypatch.setenv("CARBONLEDGER_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        res = runner.invoke(app, ["dao", *args])
        assert res.exit_code == code, (res.stdout, res.stderr, res.exception)
        assert "Traceback" not in res.stdout + res.stderr
        return res

    invoke("setup", "--param", "voting_delay_ms=1s", "--param", "voting_period_ms=10s",
           "--param", "timelock_ms=5000", "--param", "quorum=100",
           "--param", "proposal_threshold=1000")  # fmt: skip
    invoke("issue", "acme/alice=200000", "globex/bob=100000", "dealers/offsets=5000",
           "treasury=10000")  # fmt: skip
    return invoke


def _proposal(run: Run, pid: str) -> dict:  # type: ignore[type-arg]
    return json.loads(run("show", pid, "--json").stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    res = CliRunner().invoke(app, ["dao", command, "--help"])
    assert res.exit_code == 0
    assert "Usage" in res.stdout


def test_holders_and_params(run: Run) -> None:
    out = run("holders").stdout
    assert "315,000 outstanding" in out
    assert "acme/alice" in out
    assert "treasury" in out
    assert "63.49%" in out
    params = json.loads(run("params", "--json").stdout)
    assert params["voting_period_ms"] == 10_000
    assert params["quorum_votes"] == "100"
    assert "100 votes" in run("params").stdout
    run("setup", code=2)  # once


def test_propose_vote_queue_execute(run: Run, clock: Clock) -> None:
    out = run("propose", "--as", "dealers/offsets", "--title", "Back ACR411",
              "--description", "Steuben County landfill offsets", "--offset", "ACR411",
              "--tonnes", "500", "--vintage", "2019", "--to", "acme/alice",
              "--fund", "globex/bob=2000", "--id", "p1").stdout  # fmt: skip
    assert "proposal p1 made: 2 part(s), stake 1,000 tokens" in out
    shown = run("show", "p1").stdout
    assert "Pending" in shown
    assert "Steuben County Bath Landfill" in shown
    assert "NEW YORK" in shown  # the registry's data beside the votes
    assert "2018, 2019" in shown

    p = _proposal(run, "p1")
    res = run("vote", "p1", "--as", "acme/alice", "--amount", "10", "--choice", "for", code=2)
    assert "voting opens at" in res.stderr
    clock.at(p["vote_start"])
    out = run("vote", "p1", "--as", "acme/alice", "--amount", "200000", "--choice", "for").stdout
    assert "447.2135955 votes" in out
    out = run("vote", "p1", "--as", "globex/bob", "--amount", "100000",
              "--choice", "for", "--choice", "abstain").stdout  # fmt: skip
    assert "316.227766 votes" in out
    res = run("vote", "p1", "--as", "acme/alice", "--amount", "1", "--choice", "for", code=2)
    assert "already voted" in res.stderr
    assert _proposal(run, "p1")["parts"][1]["votes"]["abstain"] == "316.227766"

    clock.at(p["vote_end"])
    assert json.loads(run("list", "--json").stdout)[0]["status"] == "Succeeded"
    run("queue", "p1", "--as", "globex/bob")
    eta = _proposal(run, "p1")["eta"]
    clock.at(eta, -1)
    assert "timelock runs until" in run("execute", "p1", code=2).stderr
    clock.at(eta)
    assert "p1 executed" in run("execute", "p1").stdout
    assert "already executed" in run("execute", "p1", code=2).stderr
    rows = json.loads(run("list", "--status", "Executed", "--json").stdout)
    assert [r["id"] for r in rows] == ["p1"]
    assert "Executed" in run("list").stdout
    run("release", "p1", "--as", "acme/alice")
    assert "globex/bob" in run("holders").stdout


def test_transfer_withdraw_cancel_settle(run: Run, clock: Clock) -> None:
    run("transfer", "--as", "acme/alice", "--to", "globex/bob", "--amount", "5")
    run("propose", "--as", "dealers/offsets", "--title", "t", "--description", "d",
        "--set", "burn_bps=100", "--set", "voting_period_ms=2d", "--one-part",
        "--id", "p1")  # fmt: skip
    run("propose", "--as", "dealers/offsets", "--title", "t", "--description", "d",
        "--set", "transferable=false", "--id", "p2")  # fmt: skip
    assert len(_proposal(run, "p1")["parts"]) == 1
    run("cancel", "p2", "--as", "dealers/offsets")
    assert _proposal(run, "p2")["status"] == "Canceled"
    p = _proposal(run, "p1")
    clock.at(p["vote_start"])
    run("vote", "p1", "--as", "acme/alice", "--amount", "100", "--choice", "for")
    run("withdraw", "p1", "--as", "acme/alice")
    run("vote", "p1", "--as", "globex/bob", "--amount", "100", "--choice", "for")
    clock.at(p["vote_end"])
    assert _proposal(run, "p1")["status"] == "QuorumFailed"
    assert "p1 settled" in run("settle", "p1").stdout
    assert "(315,000 issued, 250 burned)" in run("holders").stdout  # 25% of the stake
    assert json.loads(run("holders", "--json").stdout)["burned"] == 250


def test_bad_input_is_one_clear_line(run: Run, tmp_path: Path) -> None:
    assert "needs an action" in run("propose", "--title", "t", "--description", "d",
                                    code=2).stderr  # fmt: skip
    assert "unknown parameter" in run("setup", "--param", "speed=1", code=2).stderr
    assert "NAME=VALUE" in run("issue", "acme/alice", code=2).stderr
    bad = tmp_path / "parts.json"
    bad.write_text('[{"title": "x", "actions": [{"type": "teleport"}]}]')
    res = run("propose", "--as", "dealers/offsets", "--title", "t", "--description", "d",
              "--file", str(bad), code=2)  # fmt: skip
    assert "unknown action type 'teleport'" in res.stderr


def test_a_proposal_file_with_several_parts(run: Run, tmp_path: Path) -> None:
    spec = [
        {"title": "offsets", "actions": [{"type": "issue_offset", "project": "ACR411",
                                          "tonnes": 10, "vintage": 2018, "to": "acme/alice",
                                          "serial_prefix": "ACR-ACR411-2018-",
                                          "serial_start": 1}]},
        {"title": "recs", "actions": [{"type": "issue_rec", "to": "acme/alice", "mwh": 5,
                                       "facility": "Altamont", "grid_region": "CAMX",
                                       "generation": ["2023-01-01", "2023-12-31"],
                                       "registry": "WREGIS", "serial_prefix": "W-",
                                       "serial_start": 1}]},
        {"title": "params", "actions": [{"type": "set_param", "name": "timelock_ms",
                                         "value": "1d"},
                                        {"type": "set_param", "name": "limited_mode",
                                         "value": True}]},
    ]  # fmt: skip
    path = tmp_path / "parts.json"
    path.write_text(json.dumps(spec))
    run("propose", "--as", "dealers/offsets", "--title", "t", "--description", "d",
        "--file", str(path), "--id", "p1")  # fmt: skip
    view = _proposal(run, "p1")
    assert [p["title"] for p in view["parts"]] == ["offsets", "recs", "params"]
    assert view["parts"][2]["actions"][0]["value"] == 86_400_000
    assert "set limited_mode = True" in run("show", "p1").stdout
