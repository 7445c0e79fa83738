"""The REST API and web UI (FastAPI), served by ``carbonledger serve``."""

from __future__ import annotations

from carbonledger.api.app import create_app

__all__ = ["create_app"]
