"""Helpers for CLI tests: run the app in-process with a home and passphrase."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from carbonledger.cli import app

PASS = "cli-test-passphrase"
Run = Callable[..., Result]


def _clean(text: str) -> str:
    return " ".join(text.split())


def _ok(res: Result, code: int = 0) -> Result:
    assert res.exit_code == code, (res.stdout, res.stderr, res.exception)
    # a clear error is an exit, never an uncaught exception with a traceback
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.stdout + res.stderr
    return res


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("CARBONLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARBONLEDGER_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "500")  # rich must not wrap the messages under test
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return invoke


def acme_home(path: Path, cli: Run) -> Path:
    """An initialised home (cheap scrypt) with org acme and US site hq (ZIP 60601, ComEd)."""
    from carbonledger.services.home import Home

    Home(path).init(PASS, scrypt_n=2**10)
    _ok(cli("org", "add", "acme", "--name", "Acme Corp", "--country", "US"))
    _ok(cli("site", "add", "hq", "--org", "acme", "--name", "HQ", "--country", "US",
            "--zip", "60601", "--utility", "4110"))  # fmt: skip
    return path
