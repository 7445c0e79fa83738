"""A JSON-RPC proxy between a node and its chain, for tests that watch or hold calls."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

#: Called with each request's calls and its handler before the request is forwarded;
#: False: not forwarded (the hook answered it, or never will).
Hook = Callable[[list[dict[str, Any]], BaseHTTPRequestHandler], bool]


class RpcProxy:
    """Forwards JSON-RPC requests to ``upstream`` once ``hook`` lets them through."""

    def __init__(self, upstream: str, hook: Hook) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls = json.loads(body)
                if not hook(calls if isinstance(calls, list) else [calls], self):
                    return
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

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
