"""The DAO part of the demo: a proposal from creation to execution, in ledger time.

Called by the demo after the token story, on the demo ledger. The network admin
sets the DAO up with demo-length windows (voting opens after 0.2 s, lasts 1.2 s;
0.5 s timelock) and distributes the governance token; a GreenMarkets member
proposes to back a real project of the offsets directory (ACR411, Steuben County
Bath Landfill, New York): part 1 issues 500 t of its 2019 offsets to Northwind on
behalf of the DAO, part 2 funds the project's desk from the treasury. Three
members vote quadratically (200,000 tokens give 447.2135955 votes, 100,000 give
316.227766); once voting ends the proposal is queued, executed when the timelock
has run, and the proposer's stake comes back with its reward. The demo waits
for ledger time to pass (about two seconds in all).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from carbonledger.core.dao.model import ledger_ms
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services import dao
from carbonledger.services.home import Home
from carbonledger.services.offsets import package_directory, register_directory

__all__ = ["DEMO_PARAMS", "DEMO_PROJECT", "run_dao_demo"]

DEMO_PROJECT = ("ACR411", 2019, 500)  # project, vintage, tonnes
DEMO_PARAMS = {
    "voting_delay_ms": 200,
    "voting_period_ms": 1_200,
    "timelock_ms": 500,
    "grace_ms": 86_400_000,
    "quorum": 632 * 10**7,
    "proposal_threshold": 10_000,
}


OPEN_PERIOD_MS = 7 * 86_400_000


def _wait_until(ledger_time: str) -> None:
    """Sleep until the next ledger entry's time (the wall clock, UTC) reaches ``ledger_time``."""
    now = ledger_ms(datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    wait = ledger_ms(ledger_time) - now
    if wait > 0:
        time.sleep(wait / 1000 + 0.005)


def run_dao_demo(
    ledger: LedgerPort,
    store: ChannelStore,
    admin_key: PrivateKey,
    home: Home,
    passphrase: str,
    *,
    enroll: Callable[[str, str, list[str]], PrivateKey],
    orgs: tuple[str, str, str] = ("northwind", "greenmarkets", "greenaudit"),
) -> dict[str, Any]:
    """Run the DAO story on ``ledger``; returns a summary (strings and numbers) to print.

    ``orgs``: the consumer organisation, the market and the audit firm whose
    members take part (they must be registered).
    """
    del store, home, passphrase  # the DAO needs no channel, CA or keystore beyond enroll
    consumer, market, auditors = orgs
    steps: list[str] = []
    frank = enroll(consumer, "frank", ["member"])
    grace = enroll(market, "grace", ["member"])
    heidi = enroll(auditors, "heidi", ["member"])
    desk = enroll(market, "projects", ["member"])
    dao.setup(ledger, admin_key, name="Carbon DAO", symbol="dCARB", params=DEMO_PARAMS)
    dao.issue_tokens(
        ledger,
        admin_key,
        {frank.address: 200_000, grace.address: 100_000, heidi.address: 100_000,
         desk.address: 20_000, "treasury": 400_000},
    )  # fmt: skip
    steps.append(
        "the network admin sets up the DAO and issues 820,000 dCARB: 200,000 to"
        f" {consumer}/frank, 100,000 each to {market}/grace and {auditors}/heidi, 20,000 to"
        f" {market}/projects, 400,000 to the treasury"
    )

    directory = package_directory()
    register_directory(ledger, admin_key, directory)
    project, vintage, tonnes = DEMO_PROJECT
    found = directory.get(project)
    state = ledger.state()
    pid = dao.propose(
        ledger,
        desk,
        title=f"Back {project} {found.name}",
        description=(
            f"Issue {tonnes} t of {project}'s {vintage} offsets to {consumer} on behalf of the"
            " DAO, and fund the project desk with 25,000 dCARB from the treasury."
        ),
        parts=[
            dao.Part(
                f"issue {tonnes} t of {project} (vintage {vintage})",
                [
                    dao.offset_action(
                        state,
                        directory,
                        project=project,
                        to=frank.address,
                        tonnes=tonnes,
                        vintage=vintage,
                        serial_prefix=f"{found.registry}-{project}-{vintage}-",
                        serial_start=1,
                        token_id=f"dao-offset-{project.lower()}",
                    )
                ],
            ),
            dao.Part(
                "fund the project desk with 25,000 dCARB",
                [dao.fund_action(state, to=desk.address, amount=25_000, project=project)],
            ),
            dao.Part(
                "from now on, vote for 7 days, opening at once",
                [
                    dao.param_action("voting_period_ms", OPEN_PERIOD_MS),
                    dao.param_action("voting_delay_ms", 0),
                ],
            ),
        ],
        proposal_id=f"back-{project.lower()}",
    )
    proposal = ledger.state().dao[f"proposal:{pid}"]
    steps.append(
        f"{market}/projects proposes {pid} ({found.name}, {found.registry}, {found.state},"
        f" {found.country}), staking {proposal['stake']:,} dCARB; 2 parts, voted separately"
    )

    _wait_until(proposal["vote_start"])
    dao.vote(ledger, frank, pid, amount=200_000, choice="for")
    dao.vote(ledger, grace, pid, amount=100_000, choice="for")
    dao.vote(ledger, heidi, pid, amount=100_000, choice=["for", "against", "for"])
    try:
        dao.vote(ledger, frank, pid, amount=1, choice="for")
        refused = ""
    except CarbonLedgerError as exc:  # the demo prints why the rules said no
        refused = str(exc)
    view = dao.proposal_view(ledger.state(), pid)
    tallies = [p["votes"] for p in view["parts"]]
    steps.append(
        f"frank locks 200,000 dCARB (447.2135955 votes), grace and heidi 100,000 each"
        f" (316.227766 votes): part 1 for {tallies[0]['for']}, part 2 for {tallies[1]['for']}"
        f" against {tallies[1]['against']}; frank's second vote is refused"
    )

    _wait_until(proposal["vote_end"])
    dao.queue(ledger, heidi, pid)
    eta = ledger.state().dao[f"proposal:{pid}"]["eta"]
    steps.append(f"voting ends; the proposal Succeeded and is queued: executable from {eta}")
    _wait_until(eta)
    dao.execute(ledger, heidi, pid)
    for voter in (frank, grace, heidi):
        dao.release(ledger, voter, pid)
    state = ledger.state()
    done = state.dao[f"proposal:{pid}"]
    token = state.tokens[done["issued"][0]]
    steps.append(
        f"executed: offset token {token['id']} ({token['issued']} t of {project}, issuer"
        f" {token['issuer']!r}) held by {consumer}/frank; 25,000 dCARB paid to the desk;"
        f" the stake refunded with a {done['settled']['reward']:,} dCARB reward"
    )
    final = dao.proposal_view(state, pid)
    # A second proposal under the new rules stays open for votes (in the web UI, say).
    state = ledger.state()
    open_pid = dao.propose(
        ledger,
        desk,
        title="Fund monitoring at the Steuben County landfill",
        description="Pay the project desk 10,000 dCARB from the treasury for methane monitoring.",
        parts=[
            dao.Part(
                "fund monitoring with 10,000 dCARB",
                [dao.fund_action(state, to=desk.address, amount=10_000, project=project)],
            )
        ],
        projects=[dao.project_ref(directory, project)],
        proposal_id="fund-monitoring",
    )
    steps.append(
        f"{market}/projects opens {open_pid} under the new rules: voting is open for 7"
        " days (vote in the web UI after `carbonledger serve`)"
    )
    return {
        "steps": steps,
        "proposal": pid,
        "status": final["status"],
        "project": found.to_dict(),
        "votes": {"parts": [p["votes"] for p in final["parts"]], "total": final["votes_text"]},
        "quorum": final["quorum_text"],
        "offset_token": token["id"],
        "issued_t_co2e": token["issued"],
        "refused_double_vote": refused,
        "holders": dao.holders(state),
        "open_proposal": open_pid,
    }
