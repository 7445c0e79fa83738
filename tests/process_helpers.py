"""Running the CLI and servers as their own processes on a home, as a second party would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.api_helpers import PASS


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


def start_server(
    home: Path, *, timeout_s: float = 60, port: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``carbonledger serve`` on ``home`` as its own process, once it answers; the process
    and its base URL (the caller stops it). ``port``: a given one (a node that comes back
    where its peers know it), else a free one."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonledger", "serve", "--port", str(port)],
        env=env_for(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "the server exited")
        try:
            httpx.get(f"{url}/api/v1/status", timeout=1)
            return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError("the server did not start") from None
            time.sleep(0.1)


@contextmanager
def serving(home: Path, *, timeout_s: float = 60, port: int | None = None) -> Iterator[str]:
    """``carbonledger serve`` on ``home`` as its own process; yields its base URL."""
    proc, url = start_server(home, timeout_s=timeout_s, port=port)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def until(what: str, check: Callable[[], Any], *, wait_s: float = 90.0) -> Any:
    """``check()`` once it is truthy, polled within ``wait_s`` seconds (else the test
    fails, naming ``what``): for what a node's server does in its own time."""
    deadline = time.monotonic() + wait_s
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"not within {wait_s:g} s: {what}"
        time.sleep(0.2)
