"""Hostile Green Button files through the CLI: one clear line, never a traceback."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_helpers import Run, _ok, acme_home

DATA = Path(__file__).parents[1] / "data" / "greenbutton"
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


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """A 10 MB and a 40 MB file (the Coastal sample's year repeated) peak alike.

    Held as XML elements, 30 MB more of readings cost about 225 MB more; kept as
    integer columns they cost 32 bytes a reading (about 145,000 readings: 5 MB).
    ``benchmarks/greenbutton_memory.py`` measures a 200 MB file.
    """
    from benchmarks.greenbutton_memory import peak_mb, scaled_coastal

    peaks = {}
    for mb in (10, 40):
        path = tmp_path / f"coastal-{mb}.xml"
        readings = scaled_coastal(path, mb)
        copies = readings // 8760
        bills, total, peaks[mb] = peak_mb(path)
        # each copy is the sample's year again: its readings sum to 4,425.305 kWh
        # (an independent pass in test_greenbutton.py), over 12 months back to back
        assert total == str(Decimal("4425.305") * copies)
        assert 12 * copies <= bills <= 12 * copies + 1
        path.unlink()
    assert peaks[40] - peaks[10] < 15, peaks
