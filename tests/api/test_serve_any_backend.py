"""``carbonledger serve`` on every backend, as its own process, used over HTTP only.

The same story on each home: the embedded ledger, the EVM backend on anvil (its
off-chain store in the home) and the EVM backend with the store in PostgreSQL.
Bills go in through the API (a signed-in member, concurrent requests, the ERP
service account), come back through the API and the web UI's pages, and the
ledger verifies, on the chain too. With ``CARBONLEDGER_REQUIRE_EVM=1`` a missing
anvil or PostgreSQL fails the EVM cases instead of skipping them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from carbonledger.crypto.keys import PrivateKey
from tests.api_helpers import (
    PASS,
    post_opentaps,
    records_over_http,
    served,
    sign_in_over_http,
)
from tests.conformance.test_evm import _need_evm
from tests.process_helpers import run_cli, serving

pytestmark = pytest.mark.slow

# eGRID2023 rev. 2, subregion RFCW (ZIP 60601 + utility 4110, the site "hq"):
# 916.054 lb CO2e/MWh (subregions_egrid2023r2.csv). 1,000 kWh = 1 MWh, and
# 916.054 lb x 0.45359237 kg/lb = 415.51510493... kg, rounded half-even to 1e-6.
HQ_1000_KWH_KG = "415.515105"


@pytest.fixture(params=["embedded", "evm", "evm-postgres"])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A home with acme (sites hq, plant), alice and the ERP account (its API token),
    on each backend."""
    api = served(tmp_path / "home")
    api.ctx.ledger.close()
    path = api.home.path
    if request.param == "embedded":
        yield path, api.erp_token
        return
    anvil = _need_evm().Anvil()
    databases: Iterator[str] | None = None
    try:
        extra: list[str] = []
        if request.param == "evm-postgres":
            from tests.conformance.pg import fresh_database, server_url

            databases = fresh_database(server_url())
            extra = ["--db", next(databases)]
        deployed = run_cli(path, "chain", "deploy", "--rpc", anvil.url, *extra)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert json.loads((path / "config.json").read_text())["backend"] == "evm"
        yield path, api.erp_token
    finally:
        if databases is not None:
            databases.close()
        anvil.stop()


def _alice(home: Path) -> PrivateKey:
    from carbonledger.services.home import Home

    return Home(home).user_key("acme", "alice", PASS)


def _bill(site: str, account: str, month: int, kwh: int) -> dict[str, str]:
    return {
        "site": site,
        "account": account,
        "start": f"2023-{month:02d}-01",
        "end": f"2023-{month:02d}-28",
        "amount": str(kwh),
        "unit": "kWh",
    }


def _web_sign_in(url: str) -> httpx.Client:
    """A browser session: the sign-in form with alice's keystore passphrase."""
    client = httpx.Client(base_url=url, timeout=60)
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]*)"', form)
    assert csrf is not None
    res = client.post(
        "/signin/keystore",
        data={"who": "acme/alice", "passphrase": PASS, "csrf_token": csrf.group(1)},
    )
    assert res.status_code == 303, res.text
    return client


def test_serve_records_reads_and_verifies_on_every_backend(home: tuple[Path, str]) -> None:
    path, erp_token = home
    with serving(path) as url:
        auth = sign_in_over_http(url, _alice(path))

        # One request with two bills, signed by the server with alice's session key.
        res = httpx.post(
            f"{url}/api/v1/bills",
            json=[_bill("hq", "E1", 1, 1000), _bill("plant", "P1", 1, 500)],
            headers=auth,
            timeout=120,
        )
        assert res.status_code == 201, res.text
        first = res.json()
        assert (first["recorded"], first["duplicates"], first["rejected"]) == (2, 0, [])

        # Concurrent requests (group commit shares their commits on every backend).
        def post(month: int) -> dict[str, Any]:
            r = httpx.post(
                f"{url}/api/v1/bills",
                json=[_bill("hq", "E1", month, 1000)],
                headers=auth,
                timeout=120,
            )
            assert r.status_code == 201, r.text
            body: dict[str, Any] = r.json()
            return body

        with ThreadPoolExecutor(4) as pool:
            reports = list(pool.map(post, [2, 3, 4, 5]))
        assert [r["recorded"] for r in reports] == [1, 1, 1, 1]

        # The ERP integration's service account (opentaps SEAS), for June.
        assert post_opentaps(url, erp_token, 6).status_code == 201

        # The same bill again is a duplicate, counted once.
        again = httpx.post(
            f"{url}/api/v1/bills", json=[_bill("hq", "E1", 1, 1000)], headers=auth, timeout=120
        ).json()
        assert (again["recorded"], again["duplicates"]) == (0, 1)

        # Read back through the API: every record once, with its result for a member.
        records = records_over_http(url, auth)
        ids = first["record_ids"] + [i for r in reports for i in r["record_ids"]]
        assert set(ids) <= {r["id"] for r in records}
        assert len(records) == 7  # 2 + 4 + 1 (opentaps)
        hq_jan = next(r for r in records if r["id"] == first["record_ids"][0])
        assert (hq_jan["site"], hq_jan["period"]["start"]) == ("hq", "2023-01-01")
        assert hq_jan["kg_co2e"] == HQ_1000_KWH_KG
        one = httpx.get(f"{url}/api/v1/records/{hq_jan['id']}", headers=auth, timeout=60).json()
        assert one["billed"]["amount"] == "1000"
        assert one["recomputed"]["kg_co2e"] == HQ_1000_KWH_KG
        # Reading records needs a signed-in caller.
        anonymous = httpx.get(f"{url}/api/v1/records", timeout=60)
        assert anonymous.status_code == 401

        # Read back through the web UI's pages.
        browser = _web_sign_in(url)
        page = browser.get(f"/records/{hq_jan['id']}")
        assert page.status_code == 200, page.text
        assert f"{HQ_1000_KWH_KG} kg CO2e" in page.text
        assert re.search(r'id="billed">1000 kWh', page.text)
        site = browser.get("/sites/hq")
        assert site.status_code == 200
        # January to May by alice, June by the ERP account (utility 4110 is hq's): 1,000 kWh each
        assert site.text.count(HQ_1000_KWH_KG) == 6
        dashboard = browser.get("/orgs/acme", params={"year": 2023})
        assert dashboard.status_code == 200
        assert re.search(r'id="total-location">[0-9.]+<', dashboard.text)
        explorer = httpx.get(f"{url}/ledger", timeout=60)
        assert explorer.status_code == 200
        listed = re.search(r'<table id="checkpoints">.*?</table>', explorer.text, re.S)
        assert listed is not None
        assert listed.group(0).count("<tr>") > 2  # the heading and the latest checkpoints

        # The API's verify, the web UI's, and the CLI's while the server runs.
        verified = httpx.post(f"{url}/api/v1/verify", headers=auth, timeout=300).json()
        assert verified["ok"] is True, verified
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]*)"', browser.get("/ledger").text)
        assert csrf is not None
        web_verify = browser.post("/ledger/verify", data={"csrf_token": csrf.group(1)})
        assert web_verify.status_code == 200
        assert "The ledger holds." in web_verify.text
        browser.close()
    cli = run_cli(path, "verify", "--json")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    report = json.loads(cli.stdout)
    assert report["ok"] is True
    if json.loads((path / "config.json").read_text())["backend"] == "evm":
        assert any("match the chain's commitments" in n for n in report["notes"])
        status = json.loads(run_cli(path, "chain", "status", "--json").stdout)
        assert status["entries_on_chain"] == status["entries_off_chain"] == report["entries"]
