"""``carbonledger serve`` options, through the command a user runs.

By default the server prints no line per request (under load the access log costs
more CPU than some requests); ``--access-log`` prints one per request, naming it.
The application reports no OpenTelemetry spans, even in a process with a provider.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from carbonledger.services.home import PASSPHRASE_ENV
from tests.api_helpers import PASS, served


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    api = served(tmp_path_factory.mktemp("serve-options") / "home")
    api.ctx.ledger.close()  # the server process opens the ledger itself
    return api.home.path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_and_get(home: Path, *options: str) -> str:
    """Start ``serve`` with ``options``, GET /api/v1/status once, stop it; what it printed."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonledger", "serve", "--home", str(home),
         "--port", str(port), *options],
        env={**os.environ, PASSPHRASE_ENV: PASS},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                res = httpx.get(f"http://127.0.0.1:{port}/api/v1/status?probe=1", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        assert res.status_code == 422  # the probe's unknown parameter, refused
        ok = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=10)
        assert ok.status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out, out
    return out


def test_no_line_per_request_by_default(home: Path) -> None:
    out = _serve_and_get(home)
    assert "carbonledger on http://" in out
    assert "/api/v1/status" not in out


def test_access_log_prints_a_line_per_request(home: Path) -> None:
    out = _serve_and_get(home, "--access-log")
    lines = [line for line in out.splitlines() if "/api/v1/status" in line]
    assert any('"GET /api/v1/status HTTP/1.1" 200' in line for line in lines), out
    assert any("probe=1" in line and " 422" in line for line in lines), out


_SPANS = """
import sys
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace

started = []


class Recording(trace.NoOpTracer):
    def start_span(self, name, *args, **kwargs):
        started.append(name)
        return super().start_span(name, *args, **kwargs)

    def start_as_current_span(self, name, *args, **kwargs):
        started.append(name)
        return super().start_as_current_span(name, *args, **kwargs)


class Provider(trace.TracerProvider):
    def get_tracer(self, *args, **kwargs):
        return Recording()


trace.set_tracer_provider(Provider())
plain = FastAPI()
plain.get("/ping")(lambda: {"ok": True})
TestClient(plain).get("/ping")
print(len(started))  # the framework's default: spans for an application that wants them
started.clear()

from tests.api_helpers import PASS, served

api = served(Path(sys.argv[1]))
alice = api.sign_in(api.users["alice"], PASS)
api.client.get("/api/v1/status")
api.client.get("/api/v1/records", headers=alice)
api.client.get("/api/v1/factors", headers=alice)
print(len(started))
"""


def test_the_api_reports_no_telemetry_even_where_a_provider_is_set(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SPANS, str(tmp_path / "home")],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    framework_default, ours = (int(n) for n in done.stdout.split())
    assert framework_default > 0  # the recorder sees the framework's spans where they are on
    assert ours == 0
