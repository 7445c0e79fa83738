"""An unmodified ACA-Py agent for the interoperability tests, reached only over HTTP.

The agent runs in its own Python 3.12+ environment (``scripts/ci-acapy.sh`` makes
it): the project's Python never imports ACA-Py. The ``agent`` fixture uses the one
at ``CARBONLEDGER_ACAPY_ADMIN_URL`` (CI starts it), or starts its own from
``CARBONLEDGER_ACAPY_BIN`` / the cache that script fills, and stops it after the
session. With ``CARBONLEDGER_REQUIRE_ACAPY=1`` (CI) a missing agent fails the
tests instead of skipping them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbonledger.services.home import Home
from tests.cli_helpers import PASS, Run

ACAPY_VERSION = "1.7.0"


class Agent:
    """An ACA-Py admin API (insecure mode: loopback only)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, path: str, body: object = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def ok(self, path: str, body: object = None) -> Any:
        status, answer = self.call(path, body)
        assert status in (200, 201), (path, status, answer)
        return answer

    def did_key(self) -> str:
        """A new Ed25519 did:key in the agent's wallet."""
        answer = self.ok(
            "/wallet/did/create", {"method": "key", "options": {"key_type": "ed25519"}}
        )
        did: str = answer["result"]["did"]
        return did

    def issue_ld(self, credential: dict[str, Any], proof_type: str) -> dict[str, Any]:
        """Issue at ``/vc/credentials/issue`` (Ed25519Signature2020 / 2018)."""
        answer = self.ok(
            "/vc/credentials/issue",
            {"credential": credential, "options": {"proofType": proof_type}},
        )
        vc: dict[str, Any] = answer["verifiableCredential"]
        return vc

    def add_proof_di(self, document: dict[str, Any], did: str) -> dict[str, Any]:
        """Secure at ``/vc/di/add-proof`` with eddsa-jcs-2022."""
        method = f"{did}#{did.split(':')[2]}"
        options = {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-jcs-2022",
            "proofPurpose": "assertionMethod",
            "verificationMethod": method,
        }
        answer = self.ok("/vc/di/add-proof", {"document": document, "options": options})
        secured: dict[str, Any] = answer["securedDocument"]
        return secured

    def verify_ld(self, vc: dict[str, Any]) -> dict[str, Any]:
        """ACA-Py's W3C endpoint; the answer has ``verified`` and any ``errors``."""
        status, answer = self.call(
            "/vc/credentials/verify", {"verifiableCredential": vc, "options": {}}
        )
        return (
            answer
            if isinstance(answer, dict)
            else {"verified": False, "status": status, "errors": [answer]}
        )

    def verify_di(self, vc: dict[str, Any]) -> dict[str, Any]:
        """ACA-Py's Data Integrity endpoint."""
        status, answer = self.call("/vc/di/verify", {"securedDocument": vc})
        if not isinstance(answer, dict):
            return {"verified": False, "status": status, "errors": [answer]}
        result: dict[str, Any] = answer["verificationResults"]
        return result


def missing(reason: str) -> None:
    """Fail in CI (``CARBONLEDGER_REQUIRE_ACAPY=1``), skip elsewhere."""
    if os.environ.get("CARBONLEDGER_REQUIRE_ACAPY") == "1":
        pytest.fail(f"ACA-Py agent required (CARBONLEDGER_REQUIRE_ACAPY=1): {reason}")
    pytest.skip(reason=f"{reason}; run `source scripts/ci-acapy.sh` to install and start one")


def _ready(agent: Agent) -> bool:
    status, answer = agent.call("/status/ready")
    return status == 200 and isinstance(answer, dict) and answer.get("ready") is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _binary() -> Path | None:
    explicit = os.environ.get("CARBONLEDGER_ACAPY_BIN")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "carbonledger"
    for candidate in (explicit, cache / f"acapy-{ACAPY_VERSION}" / "bin" / "aca-py"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """The CI agent, or one started for this session."""
    url = os.environ.get("CARBONLEDGER_ACAPY_ADMIN_URL")
    if url:
        running = Agent(url)
        try:
            up = _ready(running)
        except OSError as exc:
            up, url = False, f"{url} ({exc})"
        if not up:
            missing(f"no ready ACA-Py agent at {url}")
        yield running
        return
    binary = _binary()
    if binary is None:
        missing(f"no ACA-Py {ACAPY_VERSION} installed and CARBONLEDGER_ACAPY_ADMIN_URL unset")
        return
    home = tmp_path_factory.mktemp("acapy")
    admin, inbound = _free_port(), _free_port()
    args = [
        str(binary), "start", "--no-ledger", "--wallet-type", "askar",
        "--wallet-name", "tests", "--wallet-key", "tests", "--auto-provision",
        "--admin", "127.0.0.1", str(admin), "--admin-insecure-mode",
        "--inbound-transport", "http", "127.0.0.1", str(inbound),
        "--outbound-transport", "http", "--endpoint", f"http://127.0.0.1:{inbound}",
        "--label", "carbonledger-tests", "--log-level", "warning",
    ]  # fmt: skip
    log = (home / "agent.log").open("wb")
    process = subprocess.Popen(args, env={**os.environ, "HOME": str(home)}, stdout=log, stderr=log)
    started = Agent(f"http://127.0.0.1:{admin}")
    try:
        for _ in range(240):
            if process.poll() is not None:
                break
            try:
                if _ready(started):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        if process.poll() is not None or not _ready(started):
            missing(f"ACA-Py did not start: {(home / 'agent.log').read_text()[-2000:]}")
        yield started
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def home_cli(cli: Run, tmp_path: Path) -> Run:
    """The CLI on a fresh ledger home (the ``cli`` fixture's home, initialised)."""
    Home(tmp_path / "home").init(PASS, scrypt_n=2**10)
    return cli
