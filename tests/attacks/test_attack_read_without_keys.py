"""A reader with the ledger file and no key at all (no passphrase in the environment,
stdin not a terminal): every read command answers with the public fields, and no
sealed amount appears."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.cli_helpers import Run, _ok, acme_home

AMOUNT = "123457"


def test_read_commands_work_without_any_key_and_show_nothing_sealed(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme_home(tmp_path / "home", cli)
    bills = tmp_path / "bills.csv"
    bills.write_text(
        f"site,account,start,end,amount,unit\nhq,A1,2023-01-01,2023-01-31,{AMOUNT},kWh\n"
    )
    _ok(cli("bills", "import", str(bills)))
    rid = orjson.loads(_ok(cli("records", "list", "--json")).stdout)[0]["id"]
    monkeypatch.delenv("CARBONLEDGER_PASSPHRASE")
    monkeypatch.delenv("CARBONLEDGER_USER_PASSPHRASE", raising=False)
    for command in (
        ["status"],
        ["verify"],
        ["records", "list"],
        ["records", "show", rid],
        ["records", "show", rid, "--json"],
        ["proof", rid],
        ["report", "net", "--org", "acme", "--year", "2023"],
    ):
        res = _ok(cli(*command))
        assert AMOUNT not in res.stdout + res.stderr, command
