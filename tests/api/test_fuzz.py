"""Fuzz every operation of the OpenAPI schema (schemathesis) with every one of its checks.

Requests are generated from the schema and sent in-process to the ASGI app, signed
in as the network admin with a session key (so write operations run their real
code), over a small ledger. Every check schemathesis has is applied: no 5xx; each
status, content type (``application/problem+json`` for errors), header and body
as documented; operations that need a caller refuse a request without one; 405
names the allowed methods in ``Allow``; schema-violating requests are refused.

Two statuses are added to what two checks expect, because the API documents them:
412, opentaps SEAS's own status for a missing or invalid field (a schema-violating
request to an opentaps route answers 412, as the original did), and for a request
the schema allows, 400, 412 or 422 when a rule beyond the schema refuses it (an
unknown unit, an empty id, a date that does not exist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import CHECKS, load_all_checks  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402

from carbonledger.api import create_app  # noqa: E402
from tests.api_helpers import PASS, served  # noqa: E402

load_all_checks()
ALL_CHECKS = CHECKS.get_all()
EXPECTED: dict[str, Any] = {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": [
                    "2xx", "3xx", "400", "401", "403", "404", "409", "412", "422", "429",
                ]
            },
            "negative_data_rejection": {
                "expected-statuses": [
                    "400", "401", "403", "404", "405", "406", "409", "412", "415", "422",
                    "428", "429",
                ]
            },
        }
}  # fmt: skip

HOME = Path(__import__("tempfile").mkdtemp(prefix="carbonledger-fuzz-")) / "home"
SERVED = served(HOME)
APP = create_app(SERVED.ctx)
TOKEN = SERVED.sign_in(SERVED.admin, PASS)["Authorization"].removeprefix("Bearer ")
# The session token is schemathesis's own bearer credential: it signs in every request
# and knows it did, so a request it makes without credentials (or with bad ones, to
# check that they are refused) is not silently given the token afterwards.
CONFIG = SchemathesisConfig.from_dict(
    {**EXPECTED, "auth": {"openapi": {"bearer": {"bearer": TOKEN}}}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


def test_every_check_is_applied() -> None:
    names = {c.__name__ for c in ALL_CHECKS}
    assert {
        "not_a_server_error", "status_code_conformance", "content_type_conformance",
        "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
        "positive_data_acceptance", "missing_required_header", "unsupported_method",
        "allow_header_conformance", "ignored_auth", "use_after_free",
        "ensure_resource_availability",
    } <= names  # fmt: skip


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_meets_its_contract(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=ALL_CHECKS)
