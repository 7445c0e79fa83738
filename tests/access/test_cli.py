"""Reads from the command line: grants checked at read time, no unexplained prompts.

The no-prompt attacks run the real program in a child process with stdin closed
and no passphrase in the environment, on a home made by ``carbonledger demo``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from carbonledger.demo.story import run_demo
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.home import Home
from tests.cli_helpers import Run, _clean, _ok
from tests.identity.test_cli import _enroll
from tests.identity.test_cli import world as world  # noqa: PLC0414 - the fixture, re-exported

NO_KEYS = ("CARBONLEDGER_PASSPHRASE", "CARBONLEDGER_USER_PASSPHRASE")


def _reads(home: Path) -> list[dict[str, Any]]:
    ledger = Home(home).ledger()
    try:
        return [s.item for s in ledger.items(ItemQuery(kind="channel_read"))]
    finally:
        ledger.close()


def test_expired_auditor_is_refused_by_every_read_command(
    cli: Run, world: Path, tmp_path: Path
) -> None:
    dana = _enroll(cli, "audits", "dana", "auditor")
    end = datetime.now(UTC) + timedelta(seconds=10)  # room for a loaded machine
    _ok(cli("channel", "grant", "acme", dana, "--role", "auditor",
            "--until", end.isoformat(timespec="seconds").replace("+00:00", "Z")))  # fmt: skip
    first = json.loads(_ok(cli("records", "list", "--json")).stdout)[0]
    shown = json.loads(_ok(cli("records", "show", first["id"], "--as", "audits/dana",
                               "--json")).stdout)  # fmt: skip
    assert shown["billed"]["amount"] == "1000"  # tests/cli/test_cli.py BILLS, first row
    assert [r["channel"] for r in _reads(world)] == ["acme"]  # recorded before it was read
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 1.2)  # past its end
    later = tmp_path / "later.csv"
    later.write_text("account,start,end,amount,unit\nE1,2023-04-01,2023-04-30,1300,kWh\n")
    _ok(cli("bills", "import", str(later), "--site", "hq"))  # billed after the grant ended
    records = json.loads(_ok(cli("records", "list", "--json")).stdout)
    assert len(records) == 4
    for record in records:
        res = _ok(cli("records", "show", record["id"], "--as", "audits/dana"), 2)
        assert "ended at" in _clean(res.stderr)
        assert "1300" not in res.stdout
    res = _ok(cli("report", "scope2", "--org", "acme", "--year", "2023", "--as", "audits/dana"), 2)
    assert "ended at" in _clean(res.stderr)
    res = _ok(cli("proof", records[-1]["id"], "--reveal", "--as", "audits/dana"), 2)
    assert "ended at" in _clean(res.stderr)
    assert len(_reads(world)) == 1  # refused reads leave no entry
    assert _ok(cli("verify")).stdout.startswith("OK")


# -- no prompts --------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo") / "home"
    run_demo(Home(home), "demo")  # the demo's default, published passphrase
    return home


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NO_KEYS}
    return {**env, "CARBONLEDGER_HOME": str(home), "COLUMNS": "500"}


def _closed_stdin(*args: str) -> list[str]:
    """The program run with its stdin closed (as from cron, CI or `< &-`)."""
    return ["sh", "-c", 'exec "$0" "$@" <&-', sys.executable, "-m", "carbonledger", *args]


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        _closed_stdin(*args), env=_env(home), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    out = res.stdout + res.stderr
    prompts = ("Admin key passphrase:", "Passphrase of")
    for sign in ("Traceback", "GetPassWarning", "Aborted", *prompts):
        assert sign not in out, (args, out)
    return res


def _record_id(home: Path) -> str:
    ledger = Home(home).ledger()
    try:
        stored = next(iter(ledger.items(ItemQuery(kind="emissions_record", limit=1))))
    finally:
        ledger.close()
    return str(stored.item["id"])


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("verify",),
        ("records", "list", "--limit", "3"),
        ("report", "net", "--org", "northwind", "--year", "2023"),
    ],
    ids=" ".join,
)
def test_read_commands_need_no_key_and_never_prompt(demo_home: Path, args: tuple[str, ...]) -> None:
    res = _run(demo_home, *args)
    assert res.returncode == 0, res.stderr


def test_records_show_without_a_key_shows_public_fields_and_how_to_unlock(
    demo_home: Path,
) -> None:
    rid = _record_id(demo_home)
    res = _run(demo_home, "records", "show", rid, "--json")
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["id"] == rid
    assert "billed" not in shown
    assert "amount" not in shown
    hint = shown["sealed"]
    for words in ("--as ORG/NAME", "CARBONLEDGER_USER_PASSPHRASE", "CARBONLEDGER_PASSPHRASE",
                  "`demo`"):  # fmt: skip
        assert words in hint
    text = _run(demo_home, "records", "show", rid)
    assert "sealed in channel 'northwind'" in _clean(text.stdout)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("report", "scope2", "--org", "northwind", "--year", "2023"), "CARBONLEDGER_PASSPHRASE"),
        (("records", "show", "RID", "--as", "northwind/carol"), "CARBONLEDGER_USER_PASSPHRASE"),
        (("org", "add", "acme", "--name", "Acme"), "CARBONLEDGER_PASSPHRASE"),
        (("user", "enroll", "zoe", "--org", "northwind"), "pass --secret"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_commands_that_need_a_key_say_which_variable_in_one_line(
    demo_home: Path, args: tuple[str, ...], names: str
) -> None:
    args = tuple(_record_id(demo_home) if a == "RID" else a for a in args)
    res = _run(demo_home, *args)
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert names in line


def test_records_show_with_the_demo_passphrase_reads_the_bill(demo_home: Path) -> None:
    rid = _record_id(demo_home)
    env = {**_env(demo_home), "CARBONLEDGER_PASSPHRASE": "demo"}
    res = subprocess.run(
        _closed_stdin("records", "show", rid, "--json"), env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["recomputed"]["kg_co2e"] is not None
    assert shown["billed"]["unit"] == "kWh"


# -- serve ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(demo_home: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    proc = subprocess.Popen(
        _closed_stdin("serve", "--port", str(port)), env=_env(demo_home),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_on_the_demo_home_starts_with_no_passphrase_and_says_who_signs_in(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = server
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:  # the server prints its address, then who may sign in
        lines.append(line)
        if "sign in at" in line:
            break
    said = _clean("".join(lines))
    assert f"http://127.0.0.1:{port}/signin" in said
    assert "admin" in said
    assert "greenaudit/dana" in said
    assert "northwind/alice" not in said  # revoked in the demo story
    assert "'demo'" in said
    status = None
    for _ in range(100):  # uvicorn binds just after the banner
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status") as res:
                status = json.loads(res.read())
            break
        except OSError:
            time.sleep(0.1)
    assert status is not None, "".join(lines)
    assert status["leaves"] > 0
