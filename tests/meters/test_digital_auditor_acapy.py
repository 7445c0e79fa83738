"""A digital audit of a site whose bills a utility's ACA-Py agent issued (the README example).

The utility runs an unmodified ACA-Py agent: it issues its bills through the
agent's admin API (``/vc/credentials/issue`` with Ed25519Signature2020, and
``/vc/di/add-proof`` with eddsa-jcs-2022) and keeps them in the agent's wallet.
The organisation's ledger takes them in with ``vc import`` (from the agent's
URL and from an exported file) and the digital audit checks its records
against them, over HTTP only: this Python never imports ACA-Py. A meter's agent
adds a month of hourly readings the same way.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from carbonledger.credentials import meter_readings_credential, utility_bill_credential
from carbonledger.demo.meters import hourly_readings
from tests.acapy_helpers import Agent, agent, home_cli  # noqa: F401  (fixtures)
from tests.cli_helpers import Run, _ok

BILLS = """account,start,end,amount,unit
E1,2023-01-01,2023-01-31,1000,kWh
E1,2023-02-01,2023-02-28,1100,kWh
E1,2023-03-01,2023-03-31,1200,kWh
"""


def _bill(did: str, start: date, end: date, kwh: str) -> dict[str, Any]:
    return {
        **utility_bill_credential(
            issuer=did, account="E1", site_id="hq", period_start=start, period_end=end,
            amount=kwh, unit="kWh", cost="0", currency="USD",
            valid_from=datetime(end.year, end.month, end.day, tzinfo=UTC),
        ),
        "id": f"urn:uuid:{uuid.uuid4()}",
    }  # fmt: skip


def _di(did: str) -> dict[str, str]:
    """ACA-Py's /vc/di/add-proof options for an eddsa-jcs-2022 proof by ``did``."""
    return {
        "type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022",
        "proofPurpose": "assertionMethod", "verificationMethod": f"{did}#{did.split(':')[2]}",
    }  # fmt: skip


def test_a_utility_agents_bills_drive_the_digital_audit(
    home_cli: Run,  # noqa: F811
    agent: Agent,  # noqa: F811
    tmp_path: Path,
) -> None:
    cli = home_cli
    _ok(cli("org", "add", "acme", "--name", "Acme Corp", "--country", "US"))
    _ok(cli("site", "add", "hq", "--org", "acme", "--name", "HQ", "--country", "US",
            "--zip", "60601", "--utility", "4110"))  # fmt: skip
    (tmp_path / "bills.csv").write_text(BILLS)
    _ok(cli("bills", "import", str(tmp_path / "bills.csv"), "--site", "hq", "--json"))

    # The utility: a did:key in its agent's wallet, registered on the ledger for EIA 4110.
    utility = agent.did_key()
    _ok(cli("utility", "register", "comed", "--did", utility, "--name", "ComEd", "--eia", "4110"))

    # January as billed, March at 1,350 kWh where the organisation recorded 1,200.
    for start, end, kwh in ((date(2023, 1, 1), date(2023, 1, 31), "1000"),
                            (date(2023, 3, 1), date(2023, 3, 31), "1350")):  # fmt: skip
        vc = agent.issue_ld(_bill(utility, start, end, kwh), "Ed25519Signature2020")
        agent.ok("/vc/credentials/store", {"verifiableCredential": vc})
    # February through the Data Integrity endpoint, handed over as the agent's answer.
    february = agent.ok(
        "/vc/di/add-proof",
        {
            "document": _bill(utility, date(2023, 2, 1), date(2023, 2, 28), "1100"),
            "options": _di(utility),
        },
    )  # fmt: skip
    # January's meter runs an agent too: its readings, through the Data Integrity endpoint.
    meter = agent.did_key()
    _ok(cli("meter", "register", "m1", "--site", "hq", "--meter", "E1", "--did", meter,
            "--from", "2023-01-01"))  # fmt: skip
    readings = meter_readings_credential(
        issuer=meter, meter_id="E1", site_id="hq", interval_seconds=3600,
        readings=hourly_readings(date(2023, 1, 1), date(2023, 1, 31), Decimal(1000)),
        valid_from=datetime(2023, 2, 1, tzinfo=UTC),
    )  # fmt: skip
    meter_answer = agent.ok("/vc/di/add-proof", {"document": readings, "options": _di(meter)})
    (tmp_path / "january-readings.json").write_text(json.dumps(meter_answer))
    exported = tmp_path / "february.json"
    exported.write_text(json.dumps(february))

    # A forged copy (the amount changed after the agent signed) is refused, nothing posted.
    forged = json.loads(json.dumps(february))
    forged["securedDocument"]["credentialSubject"]["amount"] = "1000"
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    refused = orjson.loads(
        _ok(cli("vc", "import", str(tmp_path / "forged.json"), "--json"), 1).stdout
    )
    assert refused["posted"] == 0
    assert "signature" in refused["rejected"][0]["reason"]

    checked = _ok(cli("vc", "verify", str(exported))).stdout  # the agent's answer, as saved
    assert "verified" in checked
    assert "(eddsa-jcs-2022 (variant: proof configuration without @context" in checked

    taken = orjson.loads(
        _ok(cli("vc", "import", agent.url, str(exported), "--issuer", utility, "--json")).stdout
    )
    assert (taken["posted"], taken["rejected"]) == (3, [])
    meter_taken = cli("vc", "import", str(tmp_path / "january-readings.json"), "--json")
    assert orjson.loads(_ok(meter_taken).stdout)["posted"] == 1
    again = orjson.loads(_ok(cli("vc", "import", agent.url, "--issuer", utility, "--json")).stdout)
    assert (again["posted"], again["duplicates"]) == (0, 2)  # nothing counted twice

    audit = ("audit", "auto", "--org", "acme", "--start", "2023-01-01", "--end", "2023-12-31")
    out = orjson.loads(_ok(cli(*audit, "--json"), 1).stdout)
    assert out["counts"] == {"verified": 2, "unverifiable": 0, "contradicted": 1}
    by_period = {tuple(f["period"]): f for f in out["findings"]}
    january = by_period[("2023-01-01", "2023-01-31")]
    assert january["verdict"] == "verified"
    assert len(january["evidence"]) == 2  # the meter's readings and the utility's bill
    assert by_period[("2023-02-01", "2023-02-28")]["verdict"] == "verified"
    march = by_period[("2023-03-01", "2023-03-31")]
    assert march["verdict"] == "contradicted"
    assert "1350" in march["reason"]


class _WalletWithKey(BaseHTTPRequestHandler):
    """An admin API that answers GET /vc/credentials only with the right X-API-Key."""

    answer: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        ok = self.path == "/vc/credentials" and self.headers.get("X-API-Key") == "s3cret"
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(self.answer if ok else b"{}")

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


def test_import_sends_the_agents_api_key(
    home_cli: Run,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = home_cli
    _WalletWithKey.answer = json.dumps(
        {"results": [{"type": ["VerifiableCredential"], "credentialSubject": {}}]}
    ).encode()
    server = HTTPServer(("127.0.0.1", 0), _WalletWithKey)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert "answered HTTP 401" in _ok(cli("vc", "import", url), 2).stderr
        monkeypatch.setenv("CARBONLEDGER_ACAPY_API_KEY", "s3cret")
        # With the key the wallet is read; it holds no bill or reading credential.
        assert "no bill or reading credentials" in _ok(cli("vc", "import", url), 2).stderr
    finally:
        server.shutdown()
        server.server_close()


def test_import_names_what_is_wrong(home_cli: Run, tmp_path: Path) -> None:  # noqa: F811
    cli = home_cli
    (tmp_path / "empty.json").write_text('{"results": []}')
    result = _ok(cli("vc", "import", str(tmp_path / "empty.json")), 2)
    assert "no bill or reading credentials" in result.stderr
    result = _ok(cli("vc", "import", "http://127.0.0.1:9"), 2)  # nothing listens on port 9
    assert "cannot reach the agent" in result.stderr
