"""The ``carbonledger`` command line."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from carbonledger.errors import CarbonLedgerError

__all__ = ["app", "main"]


class _Group(TyperGroup):
    """Turns every carbonledger error into one clear line and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        from carbonledger.services.home import closing_ledgers

        try:
            # the command's ledgers are closed when it ends, not left to the garbage collector
            with closing_ledgers():
                return super().invoke(ctx)
        except CarbonLedgerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        except Exception as exc:  # no input may end in a traceback: one line, exit 2
            from carbonledger.cli.common import DEBUG_ENV, describe_failure

            # the command line's own exits, aborts and usage errors go their usual way
            if type(exc).__module__.split(".")[0] in ("typer", "click"):
                raise
            if os.environ.get(DEBUG_ENV):
                raise
            typer.echo(f"error: {describe_failure(exc)}", err=True)
            raise typer.Exit(2) from exc


app = typer.Typer(
    cls=_Group,
    help="Open carbon accounting: utility bills to emissions on a tamper-evident ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from carbonledger.cli import (
        audit,
        bills,
        chain,
        channels,
        dao,
        demo,
        ledger,
        org,
        serve,
        tokens,
        travel,
        users,
    )
    from carbonledger.cli import credentials as credentials_cli
    from carbonledger.cli.calc import calc
    from carbonledger.cli.factors import app as factors_app
    from carbonledger.cli.greenbutton import app as greenbutton_app
    from carbonledger.cli.witness import witness_app

    ledger.register(app)
    org.register(app)
    bills.register(app)
    users.register(app)
    channels.register(app)
    audit.register(app)
    credentials_cli.register(app, audit_app=audit.audit_app)
    serve.register(app)
    tokens.register(app)
    dao.register(app)
    chain.register(app)
    demo.register(app)
    travel.register(app)
    app.command("calc", help="Calculate emissions for an amount at a location, with its trace.")(
        calc
    )
    app.add_typer(factors_app, name="factors", help="Emission factor editions: list, show, load.")
    app.add_typer(greenbutton_app, name="greenbutton", help="Green Button (ESPI) usage files.")
    app.add_typer(witness_app, name="witness")


_register()


def main() -> None:
    """Console entry point."""
    sys.exit(app())
