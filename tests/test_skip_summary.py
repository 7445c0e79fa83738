"""The end of a test run: one paragraph naming what was skipped and the command to enable it.

A real pytest run (a subprocess) over tests that skip the way this suite's do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SKIPPING = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_evm(n):
    pytest.skip("anvil not found: run `npm ci` in contracts/ (or set CARBONLEDGER_ANVIL)")

@pytest.mark.parametrize("n", range(2))
def test_pg(n):
    pytest.skip("PostgreSQL is not reachable at postgresql+psycopg://x@127.0.0.1:5432/postgres")

def test_acapy():
    pytest.skip("ACA-Py (acapy_agent / aries_cloudagent) is not importable: it needs Python 3.12+")

def test_runs():
    assert True
"""


def _run(tmp_path: Path, body: str) -> str:
    (tmp_path / "test_x.py").write_text(body)
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_terminal_summary\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_skips_end_in_one_paragraph_with_the_command(tmp_path: Path) -> None:
    out = _run(tmp_path, SKIPPING)
    assert out.count("SKIPPED") == 0  # no line per skipped test
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "- skipped -" in line)
    paragraph = lines[start + 1]
    assert paragraph == (
        "6 tests skipped: 3 need anvil or solc (npm); 2 need PostgreSQL;"
        " 1 needs ACA-Py (Python 3.12+ only). To run them:"
        " `sudo bash scripts/ci-services.sh`, then `make test`."
    )
    assert "1 passed, 6 skipped" in lines[-1]


def test_no_paragraph_without_skips(tmp_path: Path) -> None:
    out = _run(tmp_path, "def test_runs():\n    assert True\n")
    assert "- skipped -" not in out
