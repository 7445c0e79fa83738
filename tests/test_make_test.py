"""`make test` on a fresh machine: the services it starts, and the one paragraph at the end
naming what was skipped and the command that enables it.

A real pytest run (a subprocess) over tests that skip the way this suite's do, and the
services script sourced by bash with fake PostgreSQL tools on its PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SKIPPING = """
import pytest

@pytest.mark.parametrize("n", range(2))
def test_evm(n):
    pytest.skip("anvil not found: run `npm ci` in contracts/ (or set CARBONLEDGER_ANVIL)")

def test_hardhat():
    pytest.skip("hardhat not found: run `npm ci` in contracts/ (or set CARBONLEDGER_HARDHAT)")

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
        "6 tests skipped: 3 need anvil, Hardhat or solc (npm); 2 need PostgreSQL;"
        " 1 needs ACA-Py (Python 3.12+ only). To run them:"
        " `sudo bash scripts/ci-services.sh`, then `make test`."
    )
    assert "1 passed, 6 skipped" in lines[-1]


def test_no_paragraph_without_skips(tmp_path: Path) -> None:
    out = _run(tmp_path, "def test_runs():\n    assert True\n")
    assert "- skipped -" not in out


# -- scripts/test-services.sh: what `make test` starts before the suite ---------------------


def _fake_bin(tmp_path: Path, tools: dict[str, str]) -> Path:
    """A PATH of its own: ``dirname`` and ``id`` from the system plus the given fake tools."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for real in ("dirname", "id", "head", "cat", "touch", "grep"):
        found = shutil.which(real)
        assert found is not None
        (bin_dir / real).symlink_to(found)
    for name, body in tools.items():
        script = bin_dir / name
        script.write_text("#!/bin/bash\n" + body + "\n")
        script.chmod(0o755)
    return bin_dir


SOURCE_AND_REPORT = '. scripts/test-services.sh; echo "rc=$? url=${CARBONLEDGER_TEST_POSTGRES:-}"'


def _source_services(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bin_dir), "HOME": str(bin_dir.parent)}
    return subprocess.run(
        ["/bin/bash", "-c", SOURCE_AND_REPORT],
        capture_output=True, text=True, env=env, cwd=REPO, check=False,
    )  # fmt: skip


def test_services_script_starts_an_installed_but_stopped_postgresql(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip(reason="starting a cluster needs root (or sudo -n); CI runs as root")
    flag, log = tmp_path / "running", tmp_path / "calls"
    bin_dir = _fake_bin(
        tmp_path,
        {
            "pg_lsclusters": 'echo "15 main 5432 down postgres /var/lib/x /var/log/x"',
            "pg_isready": f'[ -e "{flag}" ]',
            "pg_ctlcluster": f'echo "pg_ctlcluster $*" >> "{log}"; touch "{flag}"',
            "su": f'echo "su $1" >> "{log}"',
        },
    )
    res = _source_services(bin_dir)
    assert res.returncode == 0, res.stderr
    assert "make test: started PostgreSQL 15 (main)" in res.stdout
    assert log.read_text().splitlines() == ["pg_ctlcluster 15 main start", "su postgres"]
    assert res.stdout.splitlines()[-1] == (
        "rc=0 url=postgresql+psycopg://carbonledger:carbonledger@127.0.0.1:5432/postgres"
    )


def test_services_script_without_services_changes_nothing(tmp_path: Path) -> None:
    res = _source_services(_fake_bin(tmp_path, {}))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["rc=0 url="]
    assert res.stderr == ""


# -- the two locks: `make demo` installs the runtime only -----------------------------------


def _pins(name: str) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for line in (REPO / name).read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            package, version = line.split("==")
            pins[canonicalize_name(package)] = version.strip()
    return pins


def test_the_runtime_lock_is_exactly_what_the_package_needs() -> None:
    import tomllib
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    closure: set[str] = set()
    todo = [Requirement(d).name for d in project["dependencies"]]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in closure:
            continue
        closure.add(name)
        for text in distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    runtime = _pins("requirements.lock")
    assert set(runtime) == closure
    for tool in (
        "playwright",
        "mypy",
        "ruff",
        "schemathesis",
        "eth-account",
        "pytest",
        "hypothesis",
    ):
        assert tool not in runtime


def test_the_dev_lock_adds_the_tools_and_the_extras() -> None:
    text = (REPO / "requirements-dev.lock").read_text()
    assert "-r requirements.lock" in text.splitlines()
    dev, runtime = _pins("requirements-dev.lock"), _pins("requirements.lock")
    assert not set(dev) & set(runtime)  # each package pinned once
    for tool in ("playwright", "mypy", "ruff", "schemathesis", "eth-account", "pytest", "psycopg"):
        assert tool in dev
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet -r requirements.lock" in makefile
    assert "pip install --quiet -r requirements-dev.lock" in makefile
    assert re.search(r"^demo: \$\(RUNTIME\)$", makefile, re.M)
    assert re.search(r"^test: \$\(DEV\)$", makefile, re.M)
    assert re.search(r"^lint: \$\(DEV\)$", makefile, re.M)
