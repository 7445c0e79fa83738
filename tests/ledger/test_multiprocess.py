"""Many processes on one ledger file: a server, CLI writes, readers opening mid-commit.

Each test runs real processes on a real file: ``carbonledger serve`` and the
CLI as subprocesses, a committer in a loop in another process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.errors import IntegrityError
from carbonledger.services.home import Home
from tests.api_helpers import PASS, post_opentaps, served
from tests.process_helpers import env_for, run_cli, serving

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A home with acme (sites hq, plant), its service account, and a real server on it."""
    api = served(tmp_path / "home")
    api.ctx.ledger.close()
    with serving(api.home.path) as url:
        yield api.home.path, url, api.erp_token


def test_cli_writes_while_the_server_runs_do_not_break_api_writes(
    server: tuple[Path, str, str], tmp_path: Path
) -> None:
    home, url, token = server
    assert post_opentaps(url, token, 1).status_code == 201
    for n in range(3):
        # a CLI write in another process: the admin registers a site...
        added = run_cli(
            home, "site", "add", f"depot{n}", "--org", "acme", "--name", f"Depot {n}",
            "--country", "US", "--zip", "60601",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        # ...and a member imports a bill through the CLI
        bills = tmp_path / f"bills{n}.csv"
        bills.write_text(
            f"site,account,start,end,amount,unit\ndepot{n},D{n},2023-0{n + 1}-01,"
            f"2023-0{n + 1}-28,500,kWh\n"
        )
        imported = run_cli(home, "bills", "import", str(bills), "--as", "acme/alice")
        assert imported.returncode == 0, imported.stderr
        # the server takes in both and keeps accepting writes (a 409 here would be
        # read by opentaps as "already recorded")
        res = post_opentaps(url, token, n + 2)
        assert res.status_code == 201, res.text
        sites = {s["id"] for s in httpx.get(f"{url}/api/v1/sites", timeout=30).json()}
        assert f"depot{n}" in sites
    # the same bill again is still a duplicate: 409 means what it says
    assert post_opentaps(url, token, 2).status_code == 409
    verified = run_cli(home, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    records = run_cli(home, "records", "list", "--json", "--limit", "0")
    # 4 opentaps bills + 3 CLI bills, each once
    assert records.stdout.count('"kind": "emissions_record"') == 7


_COMMITTER = """
import sys
from carbonledger.core.domain import Organisation
from carbonledger.services.home import Home
from carbonledger.services.registry import register_orgs
from pathlib import Path
home = Home(Path(sys.argv[1]))
key = home.key(sys.argv[2])
ledger = home.ledger(key)
print("ready", flush=True)
for n in range(int(sys.argv[3])):
    register_orgs(ledger, ledger.channels, key, [Organisation(f"org{n}", f"Org {n}")])
"""


def test_opening_while_another_process_commits_never_reports_damage(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.init(PASS, scrypt_n=2**10)
    commits = 150
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_COMMITTER), str(home.path), PASS, str(commits)],
        env=env_for(home.path),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    opens, damaged, sizes = 0, [], set()
    while proc.poll() is None:
        ledger = SqliteLedger(home.ledger_file)
        try:
            sizes.add(ledger.state().size)
        except IntegrityError as exc:
            damaged.append(str(exc))
        finally:
            ledger.close()
        opens += 1
    proc.stdout.close()
    assert proc.returncode == 0
    assert damaged == [], f"{len(damaged)} of {opens} opens: {damaged[0]}"
    # the race was run: the opens saw the ledger at many different sizes
    assert len(sizes) > 20, sizes
    final = SqliteLedger(home.ledger_file)
    assert len(final.state().orgs) == commits
    assert final.verify().ok
    final.close()
