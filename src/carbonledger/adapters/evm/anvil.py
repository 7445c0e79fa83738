"""Start and stop a local anvil (npm ``@foundry-rs/anvil``) for tests, benchmarks and demos.

anvil keeps block states under ``$HOME/.foundry/anvil/tmp``, gigabytes after a
few thousand blocks, so each instance gets a temporary home that is removed
when it stops. It runs without auto-mining: the adapter mines after each batch
(or, with ``block_time``, mines on its own clock, as a chain the adapter does not
mine). :class:`LocalNode` is the part shared with Hardhat's node (hardhat.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from carbonledger.errors import ConfigurationError

__all__ = ["Anvil", "LocalNode", "find_anvil"]

_REPO = Path(__file__).resolve().parents[4]


def find_anvil() -> str | None:
    """``$CARBONLEDGER_ANVIL``, else contracts/node_modules/.bin/anvil, else ``anvil`` on PATH."""
    env = os.environ.get("CARBONLEDGER_ANVIL")
    if env:
        return env
    local = _REPO / "contracts" / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    return shutil.which("anvil")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalNode:
    """A JSON-RPC node started here on a free port of 127.0.0.1; ``url`` is its endpoint.

    Subclasses build the command line from ``port`` and call :meth:`_start`; the node
    runs in a temporary home, removed by :meth:`stop`.
    """

    name = "node"

    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None else _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._home = tempfile.mkdtemp(prefix=f"carbonledger-{self.name}-")

    def _start(
        self,
        args: list[str],
        *,
        cwd: Path | None = None,
        wait: float = 20,
        env: dict[str, str] | None = None,
    ) -> None:
        """Run ``args`` (with ``env`` added to the environment) and wait up to ``wait``
        seconds until the node answers."""
        env = {**os.environ, **(env or {}), "HOME": self._home}
        # Its own process group: npm's `anvil` (and `hardhat`) is a node script that starts
        # the real node, and a crash must take both down (see `kill`).
        self._proc = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            args,
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                shutil.rmtree(self._home, ignore_errors=True)
                raise ConfigurationError(f"{self.name} exited: {err.strip()}")
            try:
                httpx.post(
                    self.url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1,
                )
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise ConfigurationError(f"{self.name} did not start within {wait:g} s")

    def kill(self) -> None:
        """Stop at once, as a crash would (no state written on the way out)."""
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self.stop()

    def stop(self) -> None:
        """Stop the node and remove its temporary home."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)  # the script and the node
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> LocalNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Anvil(LocalNode):
    """A running anvil on 127.0.0.1; ``url`` is its JSON-RPC endpoint."""

    name = "anvil"

    def __init__(
        self,
        *,
        state: Path | None = None,
        automine: bool = False,
        block_time: int | None = None,
        chain_id: int | None = None,
        port: int | None = None,
        state_interval: int | None = None,
    ) -> None:
        binary = find_anvil()
        if binary is None:
            raise ConfigurationError("anvil not found: run `npm ci` in contracts/")
        super().__init__(port)
        args = [binary, "--host", "127.0.0.1", "--port", str(self.port), "--silent"]
        args += ["--code-size-limit", "49152", "--gas-limit", "30000000"]
        if block_time is not None:  # a block every block_time seconds, as a real chain
            args += ["--block-time", str(block_time)]
        elif not automine:
            args.append("--no-mining")
        if state is not None:
            args += ["--state", str(state)]
        if state is not None and state_interval is not None:  # also written every N s
            args += ["--state-interval", str(state_interval)]
        if chain_id is not None:
            args += ["--chain-id", str(chain_id)]
        self._start(args)

    def __enter__(self) -> Anvil:
        return self
