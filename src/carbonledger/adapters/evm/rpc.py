"""A small Ethereum JSON-RPC client: one keep-alive connection, batched calls.

web3.py's defaults (a few requests and a receipt poll per transaction) cap a
client at under ten transactions a second; sending pre-signed transactions in
one batched request and mining explicitly is what a local chain can take.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Sequence
from typing import Any

import httpx

from carbonledger.errors import CarbonLedgerError, ConfigurationError

__all__ = ["NodeUnreachable", "Rpc", "RpcError"]


class RpcError(CarbonLedgerError, RuntimeError):
    """The node answered with an error (``code`` as the node gave it; ``data``, a revert's
    return data as a hex string where the node gave one)."""

    def __init__(self, message: str, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class NodeUnreachable(ConfigurationError):
    """The node did not answer (not running, wrong URL, network down)."""


class Rpc:
    #: Bounds of one request (calls, and bytes of JSON): see :meth:`batch_raw`.
    max_calls = 500
    max_bytes = 1_000_000

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def _post(self, payload: Any) -> Any:
        try:
            response = self._http.post(self.url, json=payload)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise NodeUnreachable(f"JSON-RPC node at {self.url} is unreachable: {exc}") from exc
        try:
            return response.json()
        except ValueError as exc:
            raise RpcError(f"the node at {self.url} answered with no JSON: {exc}") from exc

    @staticmethod
    def _result(answer: dict[str, Any]) -> Any:
        if "error" in answer:
            err = answer["error"]
            data = err.get("data")
            # Hardhat's node nests a revert's return data ({"message", "data": "0x.."});
            # anvil gives the hex string itself.
            if isinstance(data, dict) and isinstance(data.get("data"), str):
                data = data["data"]
            raise RpcError(str(err.get("message")), err.get("code"), data)
        return answer.get("result")

    def call(self, method: str, *params: Any) -> Any:
        return self._result(
            self._post(
                {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
            )
        )

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls, as few requests as the bounds allow; answers in call order
        (the first error raised)."""
        return [self._result(a) for a in self.batch_raw(calls)]

    def batch_raw(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
        """Like :meth:`batch`, but each answer as the node gave it (errors not raised).

        A request holds at most ``max_calls`` calls and about ``max_bytes`` bytes (nodes
        refuse larger ones: anvil answers a few MB with "Invalid request"); longer
        batches go out as several requests, in order.
        """
        out: list[dict[str, Any]] = []
        part: list[dict[str, Any]] = []
        size = 0
        for method, params in calls:
            call = {
                "jsonrpc": "2.0",
                "id": next(self._ids),
                "method": method,
                "params": list(params),
            }
            cost = len(json.dumps(call))
            if part and (len(part) >= self.max_calls or size + cost > self.max_bytes):
                out += self._send_batch(part)
                part, size = [], 0
            part.append(call)
            size += cost
        if part:
            out += self._send_batch(part)
        return out

    def _send_batch(self, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = self._post(payload)
        if not isinstance(answer, list):  # the node refused the request as a whole
            err = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise RpcError(
                f"the node at {self.url} refused a request of {len(payload)} calls:"
                f" {err.get('message', answer)}",
                err.get("code"),
                err.get("data"),
            )
        answers = {a.get("id"): a for a in answer if isinstance(a, dict)}
        missing = {"error": {"message": "the node gave no answer to this call"}}
        return [answers.get(c["id"], missing) for c in payload]

    def close(self) -> None:
        self._http.close()

    def __del__(self) -> None:
        # Read-only callers (CLI commands) may drop the ledger without closing it.
        http = getattr(self, "_http", None)
        if http is not None:
            with contextlib.suppress(Exception):  # nothing to report at interpreter exit
                http.close()
