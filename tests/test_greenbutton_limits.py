"""Hostile Green Button files through the CLI: one clear line, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli_helpers import Run, _ok, acme_home

DATA = Path(__file__).parent / "data" / "greenbutton"
GAS = DATA / "gas_direct.xml"
COASTAL = DATA / "Coastal_Multi_Family_Jan_1_2011_to_Jan_1_2012_RetailCustomer_5.xml"


@pytest.fixture
def home(tmp_path: Path, cli: Run) -> Path:
    return acme_home(tmp_path / "home", cli)


def _edited(src: Path, dst: Path, pattern: str, repl: str, count: int = 1) -> Path:
    text, n = re.subn(pattern, repl, src.read_text(), count=count)
    assert n == count, f"{pattern} not found in {src.name}"
    dst.write_text(text)
    return dst


@pytest.mark.parametrize(
    ("src", "pattern", "repl", "message"),
    [
        # a 40-digit reading (ESPI values are Int48: below 2**47 = 140,737,488,355,328)
        (GAS, r"<value>\d+</value>", "<value>" + "9" * 40 + "</value>",
         "value 999999999999...999999 (40 digits) is out of range"),
        (COASTAL, r"<value>\d+</value>", "<value>140737488355328</value>",
         "value 140737488355328 is out of range"),
        (GAS, r"<cost>\d+</cost>", "<cost>-" + "1" * 30 + "</cost>",
         "cost -11111111111...111111 (31 digits) is out of range"),
        # a scale no ESPI ReadingType has: 10**400 would overflow every total
        (COASTAL, r"<powerOfTenMultiplier>0</powerOfTenMultiplier>",
         "<powerOfTenMultiplier>400</powerOfTenMultiplier>",
         "powerOfTenMultiplier 400 is not an ESPI multiplier"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["show", "import"])
def test_out_of_range_numbers_are_one_line_naming_them(
    home: Path, tmp_path: Path, cli: Run, src: Path, pattern: str, repl: str, message: str,
    command: str,
) -> None:  # fmt: skip
    bad = _edited(src, tmp_path / src.name, pattern, repl)
    args = ["greenbutton", command, str(bad)] + (["--site", "hq"] if command == "import" else [])
    res = _ok(cli(*args), 2)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert message in lines[0]
    assert lines[0].startswith(f"error: {bad}")
    listed = _ok(cli("records", "list", "--json"))
    assert listed.stdout.strip() == "[]"  # nothing recorded from a refused file


def test_the_largest_int48_reading_at_the_largest_scale_is_refused_by_the_amount_cap(
    home: Path, tmp_path: Path, cli: Run
) -> None:
    # 140737488355327 Wh x 10**12 per hour, summed over a month, is about 1e26 kWh:
    # the file parses, and every monthly bill is over the 1e18 kWh cap
    bad = _edited(COASTAL, tmp_path / "big.xml", r"<value>\d+</value>",
                  "<value>140737488355327</value>", count=8760)  # fmt: skip
    bad = _edited(bad, bad, r"<powerOfTenMultiplier>0</powerOfTenMultiplier>",
                  "<powerOfTenMultiplier>12</powerOfTenMultiplier>")  # fmt: skip
    res = _ok(cli("greenbutton", "import", str(bad), "--site", "hq"), 1)
    assert "Traceback" not in res.stdout + res.stderr
    assert "is too large (must be below 1e18 kWh)" in res.stdout + res.stderr
    assert _ok(cli("records", "list", "--json")).stdout.strip() == "[]"
