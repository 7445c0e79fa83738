"""Peak memory of a Green Button file's trip to bills, for files of any size.

    python benchmarks/greenbutton_memory.py            # 200 MB
    python benchmarks/greenbutton_memory.py --mb 20 60

A valid file of the asked size is made from the shipped Coastal sample (a year
of hourly electricity readings) by repeating its interval blocks, each copy a
year later, so the readings never overlap. Each size is measured in a fresh
process (``ru_maxrss``: the process's own peak).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COASTAL = (
    ROOT / "tests" / "data" / "greenbutton"
    / "Coastal_Multi_Family_Jan_1_2011_to_Jan_1_2012_RetailCustomer_5.xml"
)  # fmt: skip
_YEAR = 365 * 86400
_START = re.compile(r"<start>(\d+)</start>")
_BLOCK_HREF = re.compile(r"(IntervalBlock/)(\d+)")


def scaled_coastal(path: Path, megabytes: float) -> int:
    """Write a valid Green Button file of about ``megabytes`` MB; the number of readings."""
    text = COASTAL.read_text()
    first = text.rindex("<entry>", 0, text.index("<IntervalBlock"))
    last = text.index("</entry>", text.rindex("</IntervalBlock>")) + len("</entry>")
    head, blocks, tail = text[:first], text[first:last], text[last:]
    if "<UsagePoint" in blocks or "<MeterReading" in blocks:
        raise RuntimeError("the sample's interval blocks are not contiguous")
    per_copy = len(blocks.encode())
    copies = max(1, round(megabytes * 1e6 / per_copy))
    readings = blocks.count("<IntervalReading>")
    with path.open("w") as fh:
        fh.write(head)
        for k in range(copies):
            fh.write(_copy(blocks, k))
        fh.write(tail)
    return readings * copies


def _copy(blocks: str, k: int) -> str:
    """The interval blocks ``k`` years later, with hrefs of their own."""
    shift = k * _YEAR
    moved = _START.sub(lambda m: f"<start>{int(m.group(1)) + shift}</start>", blocks)
    return _BLOCK_HREF.sub(lambda m: f"{m.group(1)}{k}-{m.group(2)}", moved)


_MEASURE = """
import resource, sys
from carbonledger.greenbutton import parse_file, summarise, to_bills
doc = parse_file(sys.argv[1], max_bytes=1 << 30)
bills = to_bills(doc, site="hq", timezone="utc")
total = summarise(doc).usage_points[0].consumption
print(len(bills.bills), total, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_mb(path: Path) -> tuple[int, str, float]:
    """(bills, total kWh, peak MB) of parsing, summarising and billing ``path`` in a new process."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
    )  # fmt: skip
    if out.returncode:
        raise RuntimeError(out.stderr)
    bills, total, peak = out.stdout.split()
    return int(bills), total, int(peak) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="+", default=[200.0])
    args = parser.parse_args()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        for mb in args.mb:
            path = Path(tmp) / f"coastal-{mb:g}mb.xml"
            readings = scaled_coastal(path, mb)
            bills, total, peak = peak_mb(path)
            size = path.stat().st_size / 1e6
            print(
                f"{size:7.1f} MB, {readings:,} readings -> {bills} bills, {total} kWh:"
                f" peak {peak:.0f} MB (this runner {base:.0f} MB)"
            )
            path.unlink()


if __name__ == "__main__":
    main()
