"""The API's contract as a client reads it: the OpenAPI document, /docs offline, /api/v1, 405.

Each assertion is about what a client generator or an integrator relies on.
"""

from __future__ import annotations

import re

import pytest

from tests.api_helpers import Served, served

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return served(tmp_path_factory.mktemp("contract") / "home")


@pytest.fixture(scope="module")
def doc(api: Served) -> dict:
    res = api.client.get("/openapi.json")
    assert res.status_code == 200
    return res.json()


def _operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def test_bearer_security_scheme_on_every_operation_that_needs_a_caller(
    api: Served, doc: dict
) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    secured = {(p, m) for p, m, op in _operations(doc) if op.get("security")}
    assert ("/api/v1/records", "get") in secured
    assert ("/api/v1/auth/challenge", "post") not in secured
    # every operation the document marks secured refuses a request without credentials
    for path, method in secured:
        if "{" in path or method != "get":
            continue
        res = api.client.request(method.upper(), path)
        assert res.status_code == 401, (path, res.text)
        assert res.headers["content-type"] == PROBLEM


def test_every_operation_documents_its_problems(doc: dict) -> None:
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail",
    ]  # fmt: skip
    for path, method, op in _operations(doc):
        for status in ("400", "403", "404", "409", "422"):
            content = op["responses"][status]["content"]
            assert list(content) == [PROBLEM], (path, method, status)
        if path.startswith("/api/v1/utilityemissionchannel/"):
            assert "412" in op["responses"], (path, method)
        if op.get("security"):
            assert "401" in op["responses"], (path, method)


def test_opentaps_routes_have_typed_responses(doc: dict) -> None:
    ops = {(p, m): op for p, m, op in _operations(doc)}
    base = "/api/v1/utilityemissionchannel/emissionscontract"
    record = ops[(f"{base}/recordEmissions", "post")]["responses"]["201"]
    ref = record["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"uuid", "emissionsAmount", "renewableEnergyUseAmount", "md5", "thruDate"} <= set(
        schema["properties"]
    )
    listed = ops[(f"{base}/getAllEmissionsData/{{utilityId}}/{{partyId}}", "get")]
    items = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert items["type"] == "array"
    assert items["items"]["$ref"] == ref


def test_405_names_every_allowed_method(api: Served) -> None:
    res = api.client.request("PUT", "/api/v1/organisations")
    assert res.status_code == 405
    assert res.headers["allow"] == "GET, POST"
    assert res.headers["content-type"] == PROBLEM
    assert api.client.delete("/api/v1/status").headers["allow"] == "GET"


def test_a_repeated_or_unknown_query_parameter_is_refused(api: Served) -> None:
    res = api.client.get("/api/v1/records?limit=1&limit=2")
    assert res.status_code == 422
    assert res.json()["detail"] == "limit: give each query parameter once"
    typo = api.client.get("/api/v1/records?limt=1")
    assert typo.status_code == 422
    assert typo.json()["detail"] == "unknown query parameter 'limt'"


def test_api_index(api: Served, doc: dict) -> None:
    res = api.client.get("/api/v1")
    assert res.status_code == 200
    index = res.json()
    assert index["openapi"] == "/openapi.json"
    assert index["docs"] == "/docs"
    assert set(index["paths"]) == set(doc["paths"]) - {"/api/v1"}


def test_docs_load_swagger_ui_from_this_server(api: Served) -> None:
    page = api.client.get("/docs").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, page
    assert all(s.startswith("/") for s in sources), sources  # nothing from another host
    for asset in sources:
        res = api.client.get(asset)
        assert res.status_code == 200, asset
        assert res.content  # a real file, not an empty answer
    assert "SwaggerUIBundle" in api.client.get("/docs/assets/swagger-ui-bundle.js").text
