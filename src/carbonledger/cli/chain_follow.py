"""A node keeps following its chain: ``carbonledger chain follow`` in the foreground, and
the follower ``carbonledger serve`` runs beside the API on an EVM home.

Both bring the off-chain store to the chain every ``interval`` seconds, taking only
blocks the home's confirmation depth below the latest (``"confirmations"`` in the
``evm`` section of config.json, set by ``chain attach --confirmations N``; 0 unless
set); a block taken and then reorganised away is undone, as ``chain sync`` does.
"""

from __future__ import annotations

import json as jsonlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from carbonledger.cli.common import HomeOption, console, err, home_of, passphrase
from carbonledger.errors import CarbonLedgerError, ConfigurationError
from carbonledger.services.backends import EVM, open_evm
from carbonledger.services.home import Home

__all__ = ["DEFAULT_INTERVAL_S", "background_follower", "follow_cmd", "home_confirmations"]

#: How often a node asks its chain for new blocks (seconds).
DEFAULT_INTERVAL_S = 1.0
#: The longest wait between two attempts while the chain node cannot be reached or
#: an entry cannot be followed (the server goes on serving what its store holds).
_MAX_BACKOFF_S = 30.0


def home_confirmations(home: Home) -> int:
    """The home's confirmation depth: how many blocks below the latest its node follows."""
    value = home.config().get("evm", {}).get("confirmations", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigurationError(
            f"{home.config_file}: evm.confirmations must be a whole number >= 0, got {value!r}"
        )
    return value


def follow_cmd(
    confirmations: int | None = typer.Option(
        None,
        "--confirmations",
        min=0,
        help="take only blocks this many below the latest (default: the home's depth, set"
        " by chain attach --confirmations, else 0)",
    ),
    interval: float = typer.Option(
        DEFAULT_INTERVAL_S, "--interval", min=0.1, max=3600, help="seconds between two looks"
    ),
    json: bool = typer.Option(False, "--json", help="one JSON object a line"),
    home: Path | None = HomeOption,
) -> None:
    """Follow the chain until stopped (Ctrl-C or SIGTERM): take each new block's entries
    into the store; print the block followed to whenever it moves."""
    h = home_of(home)
    depth = home_confirmations(h) if confirmations is None else confirmations
    ledger = open_evm(h, h.key(passphrase()))
    stop = threading.Event()
    shown = [-1]  # the block of the last line printed

    def show(round_: Followed) -> None:
        if shown[0] == round_.block and not round_.taken:
            return  # a line when the block followed moves or entries come in
        shown[0] = round_.block
        if json:
            line = {"block": round_.block, "taken": round_.taken, "entries": round_.entries}
            typer.echo(jsonlib.dumps(line))
        else:
            console.print(
                f"block {round_.block}: {round_.taken} entries taken; {round_.entries} in the store"
            )

    from carbonledger.adapters.evm.follow import Followed
    from carbonledger.adapters.evm.rpc import NodeUnreachable

    def transient(exc: CarbonLedgerError) -> bool:
        # A chain node that cannot be reached may come back; anything else stops here.
        if not isinstance(exc, NodeUnreachable):
            return False
        err.print(f"[yellow]warning[/]: {exc}; trying again")
        return True

    try:
        with _stopped_by_signals(stop):
            ledger.follow(
                stop,
                confirmations=depth,
                interval=interval,
                report=show,
                on_error=transient,
            )
    finally:
        ledger.close()
    err.print("stopped following the chain")


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the round under way finishes) instead of
    interrupting a write to the store."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def background_follower(home: Home, ledger: Any) -> Callable[[], None]:
    """Follow the chain in a thread beside a server, if ``home`` is on the EVM backend;
    returns the function that stops it. ``ledger`` is the server's (its group commit
    catches up with what the follower takes). Errors are printed once each; the
    follower goes on trying, less often, while they last."""
    if home.backend != EVM:
        return lambda: None
    inner = getattr(ledger, "inner", ledger)  # the group commit wraps the backend
    follow = getattr(inner, "follow", None)
    if follow is None:
        return lambda: None
    depth = home_confirmations(home)
    stop = threading.Event()
    failing: list[str] = []  # the errors since the last round that went through

    def on_error(exc: CarbonLedgerError) -> bool:
        if str(exc) not in failing:
            err.print(f"[yellow]warning[/]: following the chain: {exc}")
        failing.append(str(exc))
        # Less often while it lasts: the server goes on serving what its store holds.
        stop.wait(min(_MAX_BACKOFF_S, 2.0 ** min(len(failing), 5)))
        return True

    def run() -> None:
        follow(
            stop,
            confirmations=depth,
            interval=DEFAULT_INTERVAL_S,
            report=lambda _: failing.clear(),
            on_error=on_error,
        )

    thread = threading.Thread(target=run, name="chain-follower", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=30)

    return halt
