"""Attacks on the bills CSV through `bills import`, on both import paths: a byte-order
mark, CRLF and bare-CR line ends, UTF-16, amounts that are not finite decimals, an
unterminated quote, and an empty file. Every bad row is named and the good rows are
recorded once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import Run, _ok, acme_home

HEAD = "site,account,start,end,amount,unit\n"
GOOD = [
    "hq,E1,2023-01-01,2023-01-31,1000,kWh\n",
    "hq,E1,2023-02-01,2023-02-28,900,kWh\n",
    "hq,E1,2023-03-01,2023-03-31,800,kWh\n",
]
PATHS = ["0", "2"]  # --workers: the serial import, and two worker processes


@pytest.fixture
def home(tmp_path: Path, cli: Run) -> Path:
    return acme_home(tmp_path / "home", cli)


def _billed(cli: Run) -> list[str]:
    records = json.loads(_ok(cli("records", "list", "--json", "--limit", "0")).stdout)
    shown = [json.loads(_ok(cli("records", "show", r["id"], "--json")).stdout) for r in records]
    return sorted(s["billed"]["amount"] for s in shown)


@pytest.mark.parametrize("workers", PATHS)
@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("BOM", lambda text: b"\xef\xbb\xbf" + text.encode()),
        ("CRLF", lambda text: text.replace("\n", "\r\n").encode()),
        ("BOM and CRLF", lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()),
    ],
)
def test_a_bom_or_crlf_file_imports_every_row(
    home: Path, tmp_path: Path, cli: Run, workers: str, name: str, encode: object
) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(encode(HEAD + "".join(GOOD)))  # type: ignore[operator]
    res = _ok(cli("bills", "import", str(path), "--json", "--workers", workers))
    assert json.loads(res.stdout)["recorded"] == 3
    again = _ok(cli("bills", "import", str(path), "--json", "--workers", workers))
    assert json.loads(again.stdout)["recorded"] == 0
    assert _billed(cli) == ["1000", "800", "900"]


@pytest.mark.parametrize("workers", PATHS)
def test_amounts_that_are_not_finite_decimals_are_each_one_bad_row(
    home: Path, tmp_path: Path, cli: Run, workers: str
) -> None:
    # Python's Decimal reads "1_5" as 15 (the ambiguity "1,5" is refused for) and
    # "\u0661\u0660\u0660\u0660" (Arabic-Indic digits) as 1000: neither is a bill's amount
    bad = [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "0x10",
        "\u0661\u0660\u0660\u0660",
        "1_5",
        " ",
        "sNaN",
    ]
    rows = [f"hq,B{n},2023-01-01,2023-01-31,{amount},kWh\n" for n, amount in enumerate(bad)]
    path = tmp_path / "amounts.csv"
    path.write_text(HEAD + GOOD[0] + "".join(rows) + GOOD[1])
    res = _ok(cli("bills", "import", str(path), "--json", "--workers", workers), 1)
    report = json.loads(res.stdout)
    assert report["recorded"] == 2
    assert sorted(e["line"] for e in report["rejected"]) == list(range(3, 3 + len(bad)))
    assert _billed(cli) == ["1000", "900"]


@pytest.mark.parametrize("workers", PATHS)
def test_an_unterminated_quote_is_named_and_the_rows_before_are_kept(
    home: Path, tmp_path: Path, cli: Run, workers: str
) -> None:
    path = tmp_path / "quote.csv"
    path.write_text(HEAD + GOOD[0] + 'hq,E2,2023-02-01,2023-02-28,"900,kWh\n' + GOOD[2])
    res = _ok(cli("bills", "import", str(path), "--json", "--workers", workers), 1)
    # the quote opened on line 3 runs to the end of the file: that one row is rejected,
    # named by the line where it starts and for what is wrong with it
    assert json.loads(res.stdout)["rejected"] == [
        {"line": 3, "field": "row", "reason": "a quote opened in this row is never closed"}
    ]
    # the good row before it is recorded, once, and the import can be re-run
    billed = _billed(cli)
    assert "1000" in billed
    assert "800" not in billed or billed.count("800") == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty", b""),
        ("UTF-16", (HEAD + GOOD[0]).encode("utf-16")),
        ("bare CR", (HEAD + GOOD[0]).replace("\n", "\r").encode()),
    ],
)
def test_files_without_readable_rows_are_one_line(
    home: Path, tmp_path: Path, cli: Run, name: str, content: bytes
) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content)
    res = cli("bills", "import", str(path))
    _ok(res, res.exit_code)
    if res.exit_code == 0:  # read as a valid file: then its row was recorded
        assert _billed(cli) == ["1000"]
    else:
        assert res.exit_code in (1, 2)
        assert len(res.stderr.strip().splitlines()) >= 1
        assert _billed(cli) == []


def test_costs_with_a_decimal_point_keep_their_text_and_bad_ones_are_named(
    home: Path, tmp_path: Path, cli: Run
) -> None:
    # Costs are read directly when they are ASCII digits with at most one point; every
    # other text goes through the full amount rules. Both must agree on what is kept
    # (the text as written, Decimal's form) and on what is refused, with its reason.
    good = {"150.00": "150.00", "5.": "5", "0.5": "0.5", "999999999999999999.99": None}
    bad = {
        "1000000000000000000.0": "too large",  # 1e18: the cap
        "1.2.3": "not a number",
        "\u0661\u0660.5": "not a number",  # Arabic-Indic digits, which Decimal would read
        "1_0.5": "not a number",
        "-1.5": "must be >= 0",
    }
    months = [f"2023-{m:02d}" for m in range(1, 13)]
    rows = [
        f"hq,E1,{months[n]}-01,{months[n]}-28,100,kWh,{cost}\n"
        for n, cost in enumerate([*good, *bad])
    ]
    path = tmp_path / "costs.csv"
    path.write_text("site,account,start,end,amount,unit,cost\n" + "".join(rows))
    report = json.loads(_ok(cli("bills", "import", str(path), "--json"), 1).stdout)
    assert report["recorded"] == len(good)
    assert [(e["line"], e["field"]) for e in report["rejected"]] == [
        (n, "cost") for n in range(2 + len(good), 2 + len(good) + len(bad))
    ]
    for error, reason in zip(report["rejected"], bad.values(), strict=True):
        assert reason in error["reason"], error
    records = json.loads(_ok(cli("records", "list", "--json", "--limit", "0")).stdout)
    shown = [json.loads(_ok(cli("records", "show", r["id"], "--json")).stdout) for r in records]
    costs = sorted(s["billed"]["cost"] for s in shown)
    # Decimal keeps the digits as written: 999999999999999999.99 stays exact.
    assert costs == sorted([*(v for v in good.values() if v), "999999999999999999.99"])
