"""Shared CLI plumbing: the ledger home, the passphrase, output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console

from carbonledger.crypto.keys import PrivateKey
from carbonledger.services.home import PASSPHRASE_ENV, Home, default_home

__all__ = ["HomeOption", "console", "err", "home_of", "passphrase", "print_json", "unlock"]

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


def unlock(home: Home) -> PrivateKey:
    home.config()
    return home.key(passphrase())


def _default(value: object) -> object:
    return str(value)


def print_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2).decode())
