"""A node keeps following the chain: what another node records appears on this one's API.

Two homes on one anvil chain, each with its own ``carbonledger serve`` process: the
first deployed the ledger, the second attached to it with ``chain attach``. A bill
recorded through the first node's API appears in the second node's API listing with
no ``chain sync`` run by hand; a block reorganised away is undone there; ``chain
follow`` takes blocks only at its confirmation depth and stops cleanly on a signal.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_helpers import PASS
from tests.evm_homes import cli_json, cli_ok, evm_home, write_bills
from tests.process_helpers import env_for, free_port, serving, until

#: Generous bound on how long a node may take to show what the chain holds (it polls
#: about once a second; the machine may be loaded).
WAIT_S = 90.0


def _signed_in(url: str, key: Any) -> dict[str, str]:
    """A bearer token for ``key``'s owner on the node at ``url`` (the challenge signed
    with their own key: the node holds no key of theirs)."""
    from carbonledger.crypto.keys import eip191_digest

    ch = httpx.post(f"{url}/api/v1/auth/challenge", json={"address": key.address}, timeout=30)
    message = ch.json()["message"]
    sig = key.sign_digest(eip191_digest(message.encode())).hex()
    res = httpx.post(
        f"{url}/api/v1/auth/login", json={"message": message, "signature": sig}, timeout=30
    )
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


def _record_ids(url: str, auth: dict[str, str]) -> list[str]:
    """The emissions records a node lists, in ledger order."""
    res = httpx.get(f"{url}/api/v1/records", params={"limit": 1000}, headers=auth, timeout=30)
    assert res.status_code == 200, res.text
    return [r["id"] for r in res.json()["items"]]


def _rpc(node: Any, method: str, *params: Any) -> Any:
    """A call straight to the chain's JSON-RPC node (as its operator would make it)."""
    from carbonledger.adapters.evm import Rpc

    return Rpc(node.url).call(method, *params)


def _two_homes(tmp_path: Path, rpc: str) -> tuple[Path, Path, str, int]:
    """A deployed home with a service account (its API token returned), and a home
    attached to its contract with the CLI, whose peer is the first node's server at the
    port returned (sealed blobs come from there)."""
    first = evm_home(tmp_path / "first", rpc, 2, passphrase=PASS).path
    out = cli_ok(first, "service-account", "create", "erp", "--org", "bench", "--roles", "member")
    token = re.search(r"clk_[A-Za-z0-9_\-]+", out)
    assert token is not None, out
    contract = cli_json(first, "chain", "status")["contract"]
    second = tmp_path / "second"
    port = free_port()
    peer = f"http://127.0.0.1:{port}"
    cli_ok(second, "chain", "attach", "--rpc", rpc, "--contract", contract, "--peer", peer)
    return first, second, token.group(0), port


def _bill(month: int) -> list[dict[str, str]]:
    return [
        {
            "site": "site0",
            "account": "site0-E1",
            "start": f"2024-{month:02d}-01",
            "end": f"2024-{month:02d}-28",
            "amount": "1000",
            "unit": "kWh",
        }
    ]


def _post_bill(url: str, token: str, month: int) -> str:
    res = httpx.post(
        f"{url}/api/v1/bills",
        json=_bill(month),
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert res.status_code == 201, res.text
    (record_id,) = res.json()["record_ids"]
    return str(record_id)


def test_a_record_made_on_one_node_appears_on_the_other_nodes_api(
    tmp_path: Path, node: Any
) -> None:
    from carbonledger.services.home import Home

    first, second, token, port = _two_homes(tmp_path, node.url)
    erp = Home(first).user_key("bench", "erp", PASS)  # the service account's own key
    with serving(first, port=port) as url_a, serving(second) as url_b:
        auth_a, auth_b = _signed_in(url_a, erp), _signed_in(url_b, erp)
        a, b = (url_a, auth_a), (url_b, auth_b)
        assert _record_ids(*b) == _record_ids(*a) == []

        one = _post_bill(url_a, token, 1)
        assert until("the first record on the second node", lambda: one in _record_ids(*b))
        two = _post_bill(url_a, token, 2)  # the second node goes on following
        until("the second record on the second node", lambda: two in _record_ids(*b))
        assert _record_ids(*b) == _record_ids(*a) == [one, two]  # each once, in chain order

        # A block reorganised away (the chain goes back to before it and moves on
        # without it) is undone on the node that followed it.
        snapshot = _rpc(node, "evm_snapshot")
        three = _post_bill(url_a, token, 3)
        until("the third record on the second node", lambda: three in _record_ids(*b))
        assert _rpc(node, "evm_revert", snapshot) is True
        for _ in range(3):
            _rpc(node, "evm_mine")
        until("the reorganised record undone", lambda: _record_ids(*b) == [one, two])
        until("... on the first node too", lambda: _record_ids(*a) == [one, two])
        status = httpx.get(f"{url_b}/api/v1/status", timeout=30).json()
        assert status["sites"] == 2

    for home in (first, second):
        assert cli_json(home, "verify")["ok"] is True
        chain = cli_json(home, "chain", "status")
        assert chain["entries_on_chain"] == chain["entries_off_chain"]


def _follow(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "carbonledger", "chain", "follow", "--json", *args],
        env=env_for(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _next_line(proc: subprocess.Popen[str], until: Callable[[dict[str, Any]], bool]) -> Any:
    """The first line the follower prints that satisfies ``until`` (one JSON object a
    line: the block it followed to, the entries taken, the store's entries)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, f"the follower stopped: {proc.stderr.read() if proc.stderr else ''}"
        got = json.loads(line)
        if until(got):
            return got
    raise AssertionError(f"no such line within {WAIT_S:g} s")


def _stopped(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_chain_follow_keeps_its_depth_and_stops_on_a_signal(
    tmp_path: Path, node: Any, stop: signal.Signals
) -> None:
    first, second, _, port = _two_homes(tmp_path, node.url)
    proc = _follow(second, "--confirmations", "2")
    with serving(first, port=port), contextlib.ExitStack() as done:
        done.callback(_stopped, proc)
        start = _next_line(proc, lambda _: True)
        cli_json(first, "bills", "import", str(write_bills(tmp_path / "bills.csv", 2, 3)))
        after = cli_json(first, "chain", "status")
        latest, total = after["block"], after["entries_on_chain"]
        assert total > start["entries"]
        # Two blocks below the latest: the import's last block is not taken yet...
        seen = _next_line(proc, lambda got: got["block"] == latest - 2)
        assert seen["entries"] < total
        _rpc(node, "evm_mine")
        seen = _next_line(proc, lambda got: got["block"] == latest - 1)
        assert seen["entries"] < total
        _rpc(node, "evm_mine")  # ... until it is two blocks deep
        seen = _next_line(proc, lambda got: got["block"] == latest)
        assert seen["entries"] == total
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped following" in err
    assert cli_json(second, "verify")["ok"] is True
    assert len(cli_json(second, "records", "list", "--limit", "0")) == 6
