"""A small Ethereum JSON-RPC client: one keep-alive connection, batched calls.

web3.py's defaults (a few requests and a receipt poll per transaction) cap a
client at under ten transactions a second; sending pre-signed transactions in
one batched request and mining explicitly is what a local chain can take.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

import httpx

from carbonledger.errors import CarbonLedgerError, ConfigurationError

__all__ = ["Rpc", "RpcError"]


class RpcError(CarbonLedgerError, RuntimeError):
    """The node answered with an error (``code`` as the node gave it; ``data``, a revert's
    return data as a hex string where the node gave one)."""

    def __init__(self, message: str, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class Rpc:
    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def _post(self, payload: Any) -> Any:
        try:
            response = self._http.post(self.url, json=payload)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ConfigurationError(f"JSON-RPC node at {self.url} is unreachable: {exc}") from exc
        return response.json()

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
        """Several calls in one request; answers in call order (errors raised)."""
        if not calls:
            return []
        first = next(self._ids)
        payload = [
            {"jsonrpc": "2.0", "id": first + n, "method": m, "params": list(p)}
            for n, (m, p) in enumerate(calls)
        ]
        for _ in range(len(calls) - 1):
            next(self._ids)
        answers = {a["id"]: a for a in self._post(payload)}
        return [self._result(answers[first + n]) for n in range(len(calls))]

    def batch_raw(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
        """Like :meth:`batch`, but each answer as the node gave it (errors not raised)."""
        if not calls:
            return []
        first = next(self._ids)
        payload = [
            {"jsonrpc": "2.0", "id": first + n, "method": m, "params": list(p)}
            for n, (m, p) in enumerate(calls)
        ]
        for _ in range(len(calls) - 1):
            next(self._ids)
        answers = {a["id"]: a for a in self._post(payload)}
        return [answers[first + n] for n in range(len(calls))]

    def close(self) -> None:
        self._http.close()

    def __del__(self) -> None:
        # Read-only callers (CLI commands) may drop the ledger without closing it.
        http = getattr(self, "_http", None)
        if http is not None:
            with contextlib.suppress(Exception):  # nothing to report at interpreter exit
                http.close()
