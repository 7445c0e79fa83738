"""A node catching up reads each EVM transaction's calldata from the chain once.

A node that misses an entry's sealed blobs reads the announcements in the entries it
has not taken yet (:mod:`carbonledger.adapters.evm.ahead`), then takes those entries,
reading their calldata again. Both now share what was read. The node here attaches
through a JSON-RPC proxy that counts the requests for each EVM transaction.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.evm.test_blobs import ROWS, _first
from tests.evm_homes import cli_json, cli_ok
from tests.process_helpers import serving


class _Counting:
    """JSON-RPC to ``upstream``, counting each ``eth_getTransactionByHash`` by hash."""

    def __init__(self, upstream: str) -> None:
        self.asked: Counter[str] = Counter()
        counting = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls = json.loads(body)
                for c in calls if isinstance(calls, list) else [calls]:
                    if c["method"] == "eth_getTransactionByHash":
                        counting.asked[str(c["params"][0])] += 1
                answer = httpx.post(
                    upstream, content=body, headers={"Content-Type": "application/json"}
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def counting(node: Any) -> Iterator[_Counting]:
    proxy = _Counting(node.url)
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


def test_a_node_behind_reads_each_evm_transaction_once(
    tmp_path: Path, node: Any, counting: _Counting
) -> None:
    first, contract = _first(tmp_path, node.url)  # sealed entries in several EVM txs
    third = tmp_path / "third"
    with serving(first) as url:
        # Announced after the sealed entries: the node reads ahead to find it.
        cli_ok(first, "chain", "announce", url, "--org", "bench")
        cli_ok(
            third, "chain", "attach", "--rpc", counting.url, "--contract", contract,
            "--allow-private-peers",
        )  # fmt: skip
    status = cli_json(third, "chain", "status")
    assert status["entries_off_chain"] == status["entries_on_chain"]
    assert len(cli_json(third, "records", "list", "--limit", "0")) == ROWS
    # The node read ahead (it found the announcement) and took every entry after it.
    assert len(counting.asked) >= 3, counting.asked
    assert set(counting.asked.values()) == {1}, counting.asked
