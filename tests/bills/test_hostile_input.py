"""Hostile files through the CLI: one line naming the problem, no traceback, good rows kept.

Each oversized or ambiguous input is fed to ``bills import`` on both paths (the
serial import and the worker processes); the documented exit code is 1 when
rows were rejected (the good rows are recorded) and 2 for an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli_helpers import PASS, Run, _ok, acme_home

HEAD = "site,account,start,end,amount,unit\n"
GOOD = [
    "hq,E1,2023-01-01,2023-01-31,1000,kWh\n",
    "hq,E1,2023-02-01,2023-02-28,900,kWh\n",
    "hq,E1,2023-03-01,2023-03-31,800,kWh\n",
]
PATHS = ["0", "2"]  # --workers: the serial import, and two worker processes


@pytest.fixture
def home(tmp_path: Path, cli: Run) -> Path:
    """A home with organisation acme and its US site hq (ZIP 60601, ComEd)."""
    return acme_home(tmp_path / "home", cli)


def _import(cli: Run, path: Path, workers: str) -> tuple[dict, list[str]]:
    res = _ok(cli("bills", "import", str(path), "--json", "--workers", workers), 1)
    report = json.loads(res.stdout)
    plain = _ok(cli("bills", "import", str(path), "--workers", workers), 1)  # all duplicates now
    assert "0 recorded" in plain.stdout
    return report, [e.strip() for e in plain.stderr.splitlines() if e.strip()]


def _billed_amounts(cli: Run) -> list[str]:
    records = json.loads(_ok(cli("records", "list", "--json", "--limit", "0")).stdout)
    shown = [json.loads(_ok(cli("records", "show", r["id"], "--json")).stdout) for r in records]
    return sorted(s["billed"]["amount"] for s in shown)


@pytest.mark.parametrize("workers", PATHS)
def test_a_field_over_128_kb_is_one_row_error_and_the_good_rows_are_recorded(
    home: Path, tmp_path: Path, cli: Run, workers: str
) -> None:
    # line 3: a quoted field of 200,000 characters on one line; line 5 starts a quoted
    # field spanning many short lines that adds up to more than the 131,072 limit
    spread = "\n".join(["y" * 100] * 1500)
    text = (
        HEAD + GOOD[0] + f'hq,E2,2023-01-01,2023-01-31,"{"x" * 200_000}",kWh\n' + GOOD[1]
        + f'hq,E3,2023-01-01,2023-01-31,"{spread}",kWh\n' + GOOD[2]
    )  # fmt: skip
    path = tmp_path / "big-field.csv"
    path.write_text(text)
    report, errors = _import(cli, path, workers)
    assert report["recorded"] == 3
    assert [e["line"] for e in report["rejected"]] == [3, 5]
    assert errors == [
        "line 3: row: line is longer than 131,072 characters; not read",
        "line 5: row: a field is longer than 131,072 characters; not read",
    ]
    assert _billed_amounts(cli) == ["1000", "800", "900"]


@pytest.mark.parametrize("workers", PATHS)
def test_bytes_that_are_not_utf8_and_nul_bytes_are_one_row_error_each(
    home: Path, tmp_path: Path, cli: Run, workers: str
) -> None:
    path = tmp_path / "bytes.csv"
    path.write_bytes(
        (HEAD + GOOD[0]).encode()
        + b"hq,E2,2023-01-01,2023-01-31,5\xff\xfe,kWh\n"  # line 3: not UTF-8
        + GOOD[1].encode()
        + b'hq,E3,2023-01-01,2023-01-31,"5\x00",kWh\n'  # line 5: a NUL byte
        + GOOD[2].encode()
    )
    report, errors = _import(cli, path, workers)
    assert report["recorded"] == 3
    assert errors[0] == "line 3: row: is not UTF-8 text (byte 0xff)"
    assert errors[1].startswith("line 5: ")
    assert len(errors) == 2
    assert _billed_amounts(cli) == ["1000", "800", "900"]


_MEASURE = """
import resource, sys
from carbonledger.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(f"maxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} exit={code}",
      file=sys.stderr)
"""


def _peak_import(home: Path, csv_path: Path, workers: str) -> tuple[int, int, str]:
    """Peak resident memory (KB) of a ``bills import`` process, its exit code and stderr."""
    env = {**os.environ, "CARBONLEDGER_HOME": str(home), "CARBONLEDGER_PASSPHRASE": PASS}
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MEASURE), "bills", "import", str(csv_path),
         "--workers", workers],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip
    last = res.stderr.strip().splitlines()[-1]
    fields = dict(f.split("=") for f in last.split())
    return int(fields["maxrss_kb"]), int(fields["exit"]), res.stderr


def _with_long_line(path: Path, length: int) -> None:
    with path.open("w") as fh:
        fh.write(HEAD + GOOD[0])
        fh.write("hq,E9,2023-01-01,2023-01-31,")
        chunk = "9" * (1 << 20)
        for _ in range(length // len(chunk)):
            fh.write(chunk)
        fh.write("9" * (length % len(chunk)) + ",kWh\n")
        fh.write(GOOD[1])


@pytest.mark.slow
@pytest.mark.parametrize("workers", PATHS)
def test_a_200_mb_line_is_refused_in_bounded_memory(
    home: Path, tmp_path: Path, cli: Run, workers: str
) -> None:
    small, huge = tmp_path / "small.csv", tmp_path / "huge.csv"
    _with_long_line(small, 1000)
    _with_long_line(huge, 200 * 1024 * 1024)
    base, code, out = _peak_import(home, small, workers)
    assert code == 1, out
    peak, code, out = _peak_import(home, huge, workers)
    assert code == 1, out
    assert "Traceback" not in out
    assert "line 3: row: line is longer than 131,072 characters" in out
    # the 200 MB line is never held: the peak grows by less than a tenth of it
    assert peak - base < 20 * 1024, (base, peak)
    # the good rows of both files were recorded once (the second run found them)
    assert _billed_amounts(cli) == ["1000", "900"]


@pytest.mark.parametrize("workers", PATHS)
def test_ambiguous_decimal_commas_are_refused(
    home: Path, tmp_path: Path, cli: Run, workers: str
) -> None:
    rows = [
        ("1,5", False),  # 1.5 in Berlin, refused (it was read as 15)
        ("1,234", False),  # 1234 in Chicago, 1.234 in Berlin: refused
        ("1.234,5", False),
        ("12,34", False),
        ("1,234.5", True),  # grouping with a decimal point: 1234.5
        ("2,000,000", True),  # two groups cannot be a decimal comma: 2000000
    ]
    text = HEAD + "".join(
        f'hq,C{n},2023-01-01,2023-01-31,"{amount}",kWh\n' for n, (amount, _) in enumerate(rows)
    )
    path = tmp_path / "commas.csv"
    path.write_text(text)
    report, errors = _import(cli, path, workers)
    assert report["recorded"] == 2
    assert [e["line"] for e in report["rejected"]] == [2, 3, 4, 5]
    assert all("amount" in e and "comma is ambiguous" in e for e in errors), errors
    assert _billed_amounts(cli) == ["1234.5", "2000000"]


@pytest.mark.parametrize("workers", PATHS)
def test_the_amount_cap_applies_after_unit_conversion(
    home: Path, tmp_path: Path, cli: Run, workers: str
) -> None:
    # 999999999999999999 GWh = 9.99...e26 kWh, far over the 1e18 kWh cap although
    # the number itself is below 1e18; 999999 GWh = 9.99999e11 kWh is fine
    path = tmp_path / "huge.csv"
    path.write_text(
        HEAD
        + "hq,G1,2023-01-01,2023-01-31,999999999999999999,GWh\n"
        + "hq,G2,2023-01-01,2023-01-31,999999,GWh\n"
    )
    report, errors = _import(cli, path, workers)
    assert report["recorded"] == 1
    assert errors == [
        "line 2: amount: 999999999999999999 GWh is too large (must be below 1e18 kWh)"
    ]
    res = _ok(cli("calc", "--amount", "999999999999999999", "--unit", "GWh",
                  "--subregion", "RFCW"), 2)  # fmt: skip
    assert res.stderr.strip().splitlines() == [
        "error: amount: 999999999999999999 GWh is too large (must be below 1e18 kWh)"
    ]


@pytest.mark.parametrize(
    "args",
    [("status",), ("verify",), ("records", "list"), ("org", "list")],
)
@pytest.mark.parametrize("size", [0, 1000, 4096 + 100])
def test_a_truncated_ledger_file_is_one_clear_error(
    home: Path, cli: Run, args: tuple[str, ...], size: int
) -> None:
    db = home / "ledger.db"
    _ok(cli("bills", "import", "/dev/null"), 2)  # nothing imported: just a write attempt
    with db.open("r+b") as fh:
        fh.truncate(size)
    for wal in (home / "ledger.db-wal", home / "ledger.db-shm"):
        wal.unlink(missing_ok=True)
    res = cli(*args)
    assert "Traceback" not in res.stdout + res.stderr
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    if args == ("verify",) and res.exit_code == 1:  # it lists every failure it finds
        assert "FAILED" in res.stdout + res.stderr
        assert "were lost" in res.stdout + res.stderr
        return
    assert res.exit_code == 2, (res.stdout, res.stderr)
    lines = [e for e in res.stderr.splitlines() if e.strip()]
    assert len(lines) == 1, res.stderr
    # 0 bytes is a valid empty SQLite file, which the home's remembered checkpoint
    # says held entries; other sizes are not SQLite files at all
    assert "damaged" in lines[0]
