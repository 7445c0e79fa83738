"""Shared helpers for the attack tests: real ``carbonledger serve`` processes on a home."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api_helpers import PASS

Start = Callable[[Path], str]


def env_for(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CARBONLEDGER_HOME": str(home),
        "CARBONLEDGER_PASSPHRASE": PASS,
        "CARBONLEDGER_USER_PASSPHRASE": PASS,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "COLUMNS": "500",
    }


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as its own process (as a second party on the same file would run it)."""
    return subprocess.run(
        [sys.executable, "-m", "carbonledger", *args],
        capture_output=True,
        text=True,
        env=env_for(home),
        check=False,
        timeout=180,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(home: Path, port: int) -> subprocess.Popen[str]:
    """``carbonledger serve`` on ``home`` at ``port``, answering once this returns."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonledger", "serve", "--port", str(port)],
        env=env_for(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/sites", timeout=1)
            return proc
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    if proc.stderr is not None:
        proc.stderr.close()


@pytest.fixture
def start_server() -> Iterator[Start]:
    """Starts ``carbonledger serve`` on a home (as often as asked); returns its URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(home: Path) -> str:
        port = free_port()
        procs.append(serve(home, port))
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc)
