"""Running the CLI and servers as their own processes on a home, as a second party would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

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
