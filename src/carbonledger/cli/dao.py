"""``dao``: the governance token, proposals, quadratic votes, timelock and execution.

Times are ledger time (UTC): a proposal's status is what the next ledger entry
would see. Tokens are whole units; votes are shown to 7 decimal places.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from carbonledger.cli.common import AsOption, HomeOption, console, home_of, open_ledger, print_json
from carbonledger.cli.ids import proposal_id
from carbonledger.cli.tables import Rows
from carbonledger.errors import InvalidInput

__all__ = ["register"]

app = typer.Typer(
    help="DAO governance: token, proposals, quadratic votes, timelock, execution.",
    no_args_is_help=True,
)
JsonOption = typer.Option(False, "--json", help="Print JSON.")
ProposalArg = typer.Argument(..., help="Proposal id (or a unique prefix).")


def _pair(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise InvalidInput(f"{what}: give NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _read(home: Path | None) -> Any:
    return home_of(home).ledger()


# -- token ----------------------------------------------------------------------
@app.command("setup")
def setup_cmd(
    name: str = typer.Option("carbonledger DAO", help="Governance token name."),
    symbol: str = typer.Option("dCL", help="Governance token symbol."),
    param: list[str] = typer.Option(
        [],
        "--param",
        help="NAME=VALUE over the defaults (durations 1500, 2s, 3d; quorum in votes).",
    ),
    home: Path | None = HomeOption,
) -> None:
    """Set the DAO up (network admin, once)."""
    from carbonledger.services.dao import parse_param, setup

    params = {}
    for text in param:
        pname, value = _pair(text, "--param")
        params[pname] = parse_param(pname, value)
    ledger, key = open_ledger(home_of(home))
    receipt = setup(ledger, key, name=name, symbol=symbol, params=params)
    console.print(f"DAO set up (entry {receipt.seq})")


@app.command("issue")
def issue_cmd(
    allocations: list[str] = typer.Argument(..., help="WHO=TOKENS: ORG/NAME, 0x... or treasury."),
    home: Path | None = HomeOption,
) -> None:
    """Issue governance tokens (network admin)."""
    from carbonledger.services.dao import issue_tokens

    alloc = {}
    for text in allocations:
        who, amount = _pair(text, "allocation")
        try:
            alloc[who] = int(amount)
        except ValueError as exc:
            raise InvalidInput(f"{text}: tokens are a whole number") from exc
    ledger, key = open_ledger(home_of(home))
    receipt = issue_tokens(ledger, key, alloc)
    console.print(
        f"issued {sum(alloc.values()):,} tokens to {len(alloc)} holders (entry {receipt.seq})"
    )


@app.command("transfer")
def transfer_cmd(
    to: str = typer.Option(..., "--to", help="ORG/NAME, 0x... or treasury."),
    amount: int = typer.Option(..., help="Tokens (whole)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Transfer available (unlocked) governance tokens."""
    from carbonledger.services.dao import transfer_tokens

    ledger, key = open_ledger(home_of(home), acting)
    receipt = transfer_tokens(ledger, key, to=to, amount=amount)
    console.print(f"transferred {amount:,} tokens to {to} (entry {receipt.seq})")


@app.command("holders")
def holders_cmd(home: Path | None = HomeOption, json: bool = JsonOption) -> None:
    """The token's supply and distribution."""
    from carbonledger.services.dao import holders

    view = holders(_read(home).state())
    if json:
        print_json(view)
        return
    token = view["token"]
    console.print(
        f"{token['name']} ({token['symbol']}): {view['outstanding']:,} outstanding"
        f" ({view['issued']:,} issued, {view['burned']:,} burned)"
    )
    table = Table("holder", "name", "available", "locked", "share")
    for row in view["holders"]:
        table.add_row(
            row["holder"], row["name"], f"{row['available']:,}", f"{row['locked']:,}", row["share"]
        )
    console.print(table)


@app.command("params")
def params_cmd(home: Path | None = HomeOption, json: bool = JsonOption) -> None:
    """The governance parameters (durations in ms of ledger time)."""
    from carbonledger.core.dao.model import PARAMS
    from carbonledger.services.dao import params_view

    view = params_view(_read(home).state())
    if json:
        print_json(view)
        return
    table = Table("parameter", "value", "meaning")
    for name, spec in PARAMS.items():
        value = view["quorum_votes"] + " votes" if name == "quorum" else str(view[name])
        table.add_row(name, value, spec[3])
    console.print(table)


# -- proposals --------------------------------------------------------------------
@app.command("propose")
def propose_cmd(
    title: str = typer.Option(..., help="Title."),
    description: str = typer.Option(..., help="What and why."),
    file: Path | None = typer.Option(
        None, "--file", help="JSON: [{title, actions: [...]}, ...], one entry per part."
    ),
    offset: str | None = typer.Option(None, help="Issue offsets of this directory project."),
    tonnes: int | None = typer.Option(None, help="With --offset: t CO2e to issue."),
    vintage: int | None = typer.Option(None, help="With --offset: vintage year."),
    to: str | None = typer.Option(None, "--to", help="With --offset: recipient ORG/NAME or 0x..."),
    serial_prefix: str | None = typer.Option(None, help="With --offset: registry serial prefix."),
    serial_start: int = typer.Option(1, help="With --offset: first serial."),
    fund: list[str] = typer.Option([], "--fund", help="WHO=TOKENS paid from the treasury."),
    set_param: list[str] = typer.Option([], "--set", help="NAME=VALUE: change a parameter."),
    project: list[str] = typer.Option([], "--project", help="Name a directory project."),
    one_part: bool = typer.Option(
        False, "--one-part", help="Put the command-line actions in one part (default: a part each)."
    ),
    proposal_id: str | None = typer.Option(None, "--id", help="Proposal id (default: generated)."),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Make a proposal, staking the proposal threshold. Each part is voted separately."""
    from carbonledger.services import dao
    from carbonledger.services.offsets import open_directory

    h = home_of(home)
    directory = open_directory(h.path)
    ledger, key = open_ledger(h, acting)
    state = ledger.state()
    parts: list[dao.Part] = []
    if file is not None:
        try:
            spec = jsonlib.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{file}: {exc}") from exc
        if not isinstance(spec, list):
            raise InvalidInput(f"{file}: a JSON list of parts")
        parts.extend(dao.parts_from_spec(state, directory, spec))
    actions: list[tuple[str, dict[str, Any]]] = []
    if offset is not None:
        if tonnes is None or vintage is None or to is None:
            raise InvalidInput("--offset needs --tonnes, --vintage and --to")
        action = dao.offset_action(
            state,
            directory,
            project=offset,
            to=to,
            tonnes=tonnes,
            vintage=vintage,
            serial_prefix=serial_prefix or f"{offset}-{vintage}-",
            serial_start=serial_start,
        )
        actions.append((f"issue {tonnes:,} t of {offset} (vintage {vintage})", action))
    for text in fund:
        who, amount = _pair(text, "--fund")
        named = offset or (project[0] if project else None)
        actions.append(
            (f"fund {who} {amount} tokens", dao.fund_action(state, to=who, amount=int(amount),
                                                            project=named))
        )  # fmt: skip
    for text in set_param:
        name, value = _pair(text, "--set")
        actions.append(
            (f"set {name} = {value}", dao.param_action(name, dao.parse_param(name, value)))
        )
    if one_part and actions:
        parts.append(dao.Part("; ".join(t for t, _ in actions), [a for _, a in actions]))
    else:
        parts.extend(dao.Part(t, [a]) for t, a in actions)
    if not parts:
        raise InvalidInput("a proposal needs an action: --offset, --fund, --set or --file")
    projects = [dao.project_ref(directory, p) for p in project if p != offset]
    pid = dao.propose(
        ledger,
        key,
        title=title,
        description=description,
        parts=parts,
        projects=projects,
        proposal_id=proposal_id,
    )
    p = ledger.state().dao[f"proposal:{pid}"]
    console.print(
        f"proposal {pid} made: {len(parts)} part(s), stake {p['stake']:,} tokens;"
        f" voting {p['vote_start']} to {p['vote_end']} (ledger time)"
    )


@app.command("vote")
def vote_cmd(
    proposal: str = ProposalArg,
    amount: int = typer.Option(..., help="Tokens to lock: votes = their square root."),
    choice: list[str] = typer.Option(
        ..., "--choice", help="for, against or abstain: once for every part, or once per part."
    ),
    home: Path | None = HomeOption,
    acting: str | None = AsOption,
) -> None:
    """Vote, locking tokens until voting ends."""
    from carbonledger.services.dao import preview_votes, vote

    ledger, key = open_ledger(home_of(home), acting)
    proposal = proposal_id(ledger.state(), proposal)
    receipt = vote(
        ledger, key, proposal, amount=amount, choice=choice[0] if len(choice) == 1 else choice
    )
    console.print(
        f"voted {', '.join(choice)} on {proposal} with {preview_votes(amount)} votes"
        f" ({amount:,} tokens locked; entry {receipt.seq})"
    )


def _simple(name: str, doc: str, done: str) -> None:
    def command(
        proposal: str = ProposalArg,
        home: Path | None = HomeOption,
        acting: str | None = AsOption,
    ) -> None:
        from carbonledger.services import dao

        ledger, key = open_ledger(home_of(home), acting)
        proposal = proposal_id(ledger.state(), proposal)
        receipt = getattr(dao, name)(ledger, key, proposal)
        console.print(f"{proposal} {done} (entry {receipt.seq}, ledger time {receipt.ledger_time})")

    command.__doc__ = doc
    app.command(name.replace("_vote", ""))(command)


_simple("withdraw_vote", "Withdraw your ballot within its cancel window.", "ballot withdrawn")
_simple("cancel", "Cancel a proposal (its proposer in the window, or the guardian).", "canceled")
_simple("queue", "Queue a Succeeded proposal: executable after the timelock.", "queued")
_simple("execute", "Execute a Queued proposal whose timelock has run out.", "executed")
_simple("settle", "Settle the stake of a QuorumFailed, Defeated or Expired proposal.", "settled")
_simple("release", "Release your tokens locked in a proposal whose voting ended.", "released")


@app.command("list")
def list_cmd(
    status: str | None = typer.Option(None, help="Only proposals in this state."),
    home: Path | None = HomeOption,
    json: bool = JsonOption,
) -> None:
    """Proposals, oldest first, with their state now."""
    from carbonledger.services.dao import list_proposals

    rows = list_proposals(_read(home).state(), status=status)
    if json:
        print_json(rows)
        return
    table = Rows(
        "id", "status", "title", "parts", "votes", "quorum", "voters", "voting ends",
        keep=("id", "status", "votes"), right=("parts", "votes", "quorum", "voters"),
    )  # fmt: skip
    for r in rows:
        table.add_row(
            r["id"], r["status"], r["title"][:50], str(r["parts"]), r["votes"], r["quorum"],
            str(r["voters"]), r["vote_end"],
        )  # fmt: skip
    table.print(console)


@app.command("show")
def show_cmd(
    proposal: str = ProposalArg, home: Path | None = HomeOption, json: bool = JsonOption
) -> None:
    """A proposal: state, windows, votes per part, and each project's registry data."""
    from carbonledger.services.dao import proposal_view
    from carbonledger.services.offsets import open_directory

    h = home_of(home)
    state = h.ledger().state()
    view = proposal_view(state, proposal_id(state, proposal), directory=open_directory(h.path))
    if json:
        print_json(view)
        return
    console.print(f"[bold]{view['id']}[/bold]: {view['title']}  [{view['status']}]")
    console.print(view["description"])
    console.print(
        f"proposer {view['proposer']}, stake {view['stake']:,}; voting {view['vote_start']}"
        f" to {view['vote_end']}; eta {view['eta'] or '-'} (ledger time, as of {view['as_of']})"
    )
    console.print(
        f"votes {view['votes_text']} of quorum {view['quorum_text']} from {view['voters']}"
        f" voter(s), {view['locked']:,} tokens locked"
    )
    table = Table("part", "actions", "for", "against", "abstain")
    for n, part in enumerate(view["parts"], start=1):
        acts = "; ".join(_describe(a) for a in part["actions"])
        v = part["votes"]
        table.add_row(f"{n}. {part['title']}", acts, v["for"], v["against"], v["abstain"])
    console.print(table)
    if view["projects"]:
        projects = Table(
            "project", "name", "registry", "status", "type", "country/state", "issued t",
            "retired t", "remaining t", "vintages", title="projects (offsets directory)",
        )  # fmt: skip
        for p in view["projects"]:
            reg = p["registry_data"] or {}
            projects.add_row(
                p["id"], str(p["name"])[:40], p["registry"], p["status"], p["type"],
                f"{p['country']}/{reg.get('state', '')}", f"{reg.get('issued', '?'):,}",
                f"{reg.get('retired', '?'):,}", f"{reg.get('remaining', '?'):,}",
                ", ".join(reg.get("vintages", {})) or "-",
            )  # fmt: skip
        console.print(projects)


def _describe(action: dict[str, Any]) -> str:
    kind = action["type"]
    if kind in ("issue_offset", "issue_rec"):
        tok = action["token"]
        what = tok.get("project", {}).get("id") if kind == "issue_offset" else tok["grid_region"]
        return f"{kind} {tok['amount']:,} ({what}) to {tok['to'][:10]}... as {tok['id']}"
    if kind == "fund":
        return f"fund {action['to'][:10]}... {action['amount']:,} tokens" + (
            f" for {action['project']}" if action.get("project") else ""
        )
    return f"set {action['name']} = {action['value']}"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dao")
