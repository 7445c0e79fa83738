"""Shared CLI plumbing: the ledger home, the passphrase, output."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console

from carbonledger.adapters.sqlite_ledger import SqliteLedger
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput
from carbonledger.services.home import PASSPHRASE_ENV, USER_PASSPHRASE_ENV, Home, default_home

__all__ = [
    "DEBUG_ENV",
    "AsOption",
    "HomeOption",
    "console",
    "describe_failure",
    "err",
    "home_of",
    "open_ledger",
    "passphrase",
    "print_json",
    "unlock",
]

#: Set to show the traceback of an unexpected failure instead of one line.
DEBUG_ENV = "CARBONLEDGER_DEBUG"

console = Console()
err = Console(stderr=True)

HomeOption = typer.Option(
    None,
    "--home",
    envvar="CARBONLEDGER_HOME",
    show_envvar=True,
    help="Ledger home directory (default: ~/.local/share/carbonledger).",
)


def home_of(path: Path | None) -> Home:
    return Home(path if path is not None else default_home())


def passphrase(*, confirm: bool = False) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    return str(typer.prompt("Admin key passphrase", hide_input=True, confirmation_prompt=confirm))


AsOption = typer.Option(
    None,
    "--as",
    metavar="ORG/NAME",
    help="Act as a user enrolled from this home (default: the admin).",
)


def unlock(home: Home, acting: str | None = None) -> PrivateKey:
    """The admin's key, or with ``acting`` ("org/name") that user's key."""
    home.config()
    if acting is None:
        return home.key(passphrase())
    org, sep, name = acting.partition("/")
    if not sep or not org or not name:
        raise InvalidInput(f"--as takes ORG/NAME, got {acting!r}")
    value = os.environ.get(USER_PASSPHRASE_ENV) or os.environ.get(PASSPHRASE_ENV)
    if not value:
        value = str(typer.prompt(f"Passphrase of {acting}", hide_input=True))
    return home.user_key(org, name, value)


def open_ledger(home: Home, acting: str | None = None) -> tuple[SqliteLedger, PrivateKey]:
    """The ledger opened for writing, and the key of whoever acts.

    The embedded ledger's checkpoints are signed by its operator (the admin), so
    a user acting here also needs the admin's passphrase, as on a shared server.
    """
    key = unlock(home, acting)
    operator = key if acting is None else home.key(passphrase())
    return home.ledger(operator), key


def _default(value: object) -> object:
    return str(value)


def print_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2).decode())


def describe_failure(exc: Exception) -> str:
    """One line for a failure that is not a :class:`CarbonLedgerError` (no traceback).

    The ledger file's own errors are named as such; anything else is named by
    its type, with the variable that shows the traceback.
    """
    if isinstance(exc, sqlite3.DatabaseError):
        return f"the ledger file is damaged or not readable ({exc}); run verify"
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)"
