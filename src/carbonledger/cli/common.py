"""Shared CLI plumbing: the ledger home, the passphrase, output.

Passphrases come from the environment (``CARBONLEDGER_PASSPHRASE`` for the admin,
``CARBONLEDGER_USER_PASSPHRASE`` for ``--as ORG/NAME``) or, only when stdin is a
terminal, a prompt; otherwise one line names the variable to set. Read commands
never need the admin key: without a key they show what anyone may read.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console

from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import ConfigurationError, InvalidInput, NotFound
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.home import PASSPHRASE_ENV, USER_PASSPHRASE_ENV, Home, default_home

__all__ = [
    "DEBUG_ENV",
    "DEMO_PASSPHRASE",
    "AsOption",
    "HomeOption",
    "ask_secret",
    "console",
    "describe_failure",
    "err",
    "home_of",
    "is_demo",
    "open_ledger",
    "passphrase",
    "print_json",
    "read_ledger",
    "reader_key",
    "unlock",
    "unlock_hint",
]

#: Set to show the traceback of an unexpected failure instead of one line.
DEBUG_ENV = "CARBONLEDGER_DEBUG"
#: The passphrase ``carbonledger demo`` uses unless CARBONLEDGER_PASSPHRASE is set;
#: published, so a demo ledger must never hold real data.
DEMO_PASSPHRASE = "demo"  # noqa: S105 - the demo's published passphrase

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


def _interactive() -> bool:
    stdin = sys.stdin
    return stdin is not None and not stdin.closed and stdin.isatty()


def ask_secret(label: str, how: str, why: str, *, confirm: bool = False) -> str:
    """Prompt for a hidden value on a terminal; otherwise one clear error saying ``how``
    to give it (e.g. "set CARBONLEDGER_PASSPHRASE")."""
    if not _interactive():
        raise ConfigurationError(
            f"{why} needs the {label}; {how} (stdin is not a terminal, so it cannot be asked)"
        )
    text = label[0].upper() + label[1:]
    return str(typer.prompt(text, hide_input=True, confirmation_prompt=confirm))


def passphrase(*, confirm: bool = False, why: str = "this command") -> str:
    """The admin key's passphrase: ``CARBONLEDGER_PASSPHRASE``, else a prompt on a terminal."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    return ask_secret("admin key passphrase", f"set {PASSPHRASE_ENV}", why, confirm=confirm)


def is_demo(home: Home) -> bool:
    """Whether ``home`` was made by ``carbonledger demo`` (its keys use :data:`DEMO_PASSPHRASE`)."""
    return (home.path / "demo.json").exists()


def unlock_hint(home: Home, channel: str) -> str:
    """How to read what is sealed in ``channel`` (one sentence, for a caller without a key)."""
    demo = f" (this demo's passphrase is `{DEMO_PASSPHRASE}`)" if is_demo(home) else ""
    return (
        f"is sealed in channel {channel!r}: to read it add --as ORG/NAME (a member"
        f" or granted auditor enrolled from this home) with {USER_PASSPHRASE_ENV} set, or set"
        f" {PASSPHRASE_ENV} to read as the admin{demo}"
    )


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
    if not home.user_keystore(org, name).exists():  # before asking for its passphrase
        here = sorted(f"{p.parent.name}/{p.stem}" for p in (home.path / "keys").glob("*/*.json"))
        raise NotFound(
            f"unknown user {acting!r}: no key of it was enrolled from this home"
            f" (users here: {', '.join(here) or 'none'})"
        )
    value = os.environ.get(USER_PASSPHRASE_ENV) or os.environ.get(PASSPHRASE_ENV)
    if not value:
        how = f"set {USER_PASSPHRASE_ENV}"
        value = ask_secret(f"passphrase of {acting}", how, f"--as {acting}")
    return home.user_key(org, name, value)


def reader_key(home: Home, acting: str | None) -> PrivateKey | None:
    """Who reads: ``--as ORG/NAME``, else the admin when ``CARBONLEDGER_PASSPHRASE`` is set,
    else nobody (public fields only). Never prompts for the admin key."""
    home.config()
    if acting is not None:
        return unlock(home, acting)
    value = os.environ.get(PASSPHRASE_ENV)
    return home.key(value) if value else None


def read_ledger(home: Home, key: PrivateKey | None) -> LedgerPort:
    """The ledger opened for reading by ``key``.

    An auditor's read is recorded on the ledger before decryption, a write whose
    checkpoint the embedded ledger's operator signs: then the admin's passphrase
    is needed too (as on a shared server, where the operator is the server).
    """
    ledger = home.ledger()
    if key is None:
        return ledger
    state = ledger.state()
    if key.address == state.admin:
        ledger.close()
        return home.ledger(key)
    if "auditor" in state.identities.get(key.address, {}).get("roles", ()):
        operator = home.key(passphrase(why="recording an auditor's read on the ledger"))
        ledger.close()
        return home.ledger(operator)
    return ledger


def open_ledger(home: Home, acting: str | None = None) -> tuple[LedgerPort, PrivateKey]:
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
