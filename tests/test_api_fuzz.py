"""Fuzz every operation of the OpenAPI schema (schemathesis): no input may cause a 500.

Requests are generated from the schema and sent in-process to the ASGI app, signed
in as the network admin with a session key (so write operations run their real
code), over a small ledger. Only the server-error check is applied: 4xx answers to
nonsense are correct; a 5xx is a bug.
"""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from carbonledger.api import create_app  # noqa: E402
from tests.api_helpers import PASS, served  # noqa: E402

HOME = Path(__import__("tempfile").mkdtemp(prefix="carbonledger-fuzz-")) / "home"
SERVED = served(HOME)
APP = create_app(SERVED.ctx)
AUTH = SERVED.sign_in(SERVED.admin, PASS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error])
