"""Shared helpers for the attack tests: real ``carbonledger serve`` processes on a home."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.process_helpers import env_for, free_port, run_cli

__all__ = ["Start", "env_for", "free_port", "run_cli", "serve", "stop"]

Start = Callable[[Path], str]


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
