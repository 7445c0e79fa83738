"""A node catching up reads each EVM transaction's calldata from the chain once.

A node that misses an entry's sealed blobs reads the announcements in the entries it
has not taken yet (:mod:`carbonledger.adapters.evm.ahead`), then takes those entries,
reading their calldata again. Both now share what was read. The node here attaches
through a JSON-RPC proxy that counts the requests for each EVM transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.evm.rpc_proxy import RpcProxy
from tests.evm.test_blobs import ROWS, _first
from tests.evm_homes import cli_json, cli_ok
from tests.process_helpers import serving


class _Counting(RpcProxy):
    """JSON-RPC to ``upstream``, counting each ``eth_getTransactionByHash`` by hash."""

    def __init__(self, upstream: str) -> None:
        self.asked: Counter[str] = Counter()
        super().__init__(upstream, self._count)

    def _count(self, calls: list[dict[str, Any]], handler: Any) -> bool:
        for c in calls:
            if c["method"] == "eth_getTransactionByHash":
                self.asked[str(c["params"][0])] += 1
        return True


@pytest.fixture
def counting(node: Any) -> Iterator[_Counting]:
    proxy = _Counting(node.url)
    yield proxy
    proxy.close()


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
