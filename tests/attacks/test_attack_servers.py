"""Attacks through real ``carbonledger serve`` processes: two servers on one ledger file,
and request bodies no client should send (huge, deeply nested, not UTF-8, not JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.api_helpers import post_opentaps, served
from tests.attacks.conftest import Start, run_cli

pytestmark = pytest.mark.slow


def _home(tmp_path: Path) -> tuple[Path, str]:
    api = served(tmp_path / "home")
    api.ctx.ledger.close()
    return api.home.path, api.erp_token


def test_two_servers_on_one_file_both_keep_accepting_and_409_means_duplicate(
    tmp_path: Path, start_server: Start
) -> None:
    home, token = _home(tmp_path)
    first, second = start_server(home), start_server(home)
    for month in range(1, 7):
        url = first if month % 2 else second
        res = post_opentaps(url, token, month)
        assert res.status_code == 201, (month, res.text)
    # a bill recorded through one server is a duplicate through the other
    assert post_opentaps(second, token, 1).status_code == 409
    assert post_opentaps(first, token, 2).status_code == 409
    # both serve the same, latest, checkpoint
    notes = [httpx.get(f"{u}/api/v1/checkpoints/latest", timeout=30).text for u in (first, second)]
    assert notes[0] == notes[1]
    verified = run_cli(home, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    records = run_cli(home, "records", "list", "--json", "--limit", "0")
    assert records.stdout.count('"kind": "emissions_record"') == 6  # months 1..6, each once


def _bodies() -> dict[str, bytes]:
    return {
        "20 MB of JSON": b'{"tx": "' + b"a" * (20 * 1024 * 1024) + b'"}',
        "nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
        "not UTF-8": b'{"tx": "\xff\xfe\xfa"}',
        "not JSON": b"\x00\x01 hello",
        "huge number": b'{"tx": 1' + b"0" * 100_000 + b"}",
        "duplicate keys": b'{"tx": {}, "tx": {}}',
        "empty": b"",
    }


@pytest.mark.parametrize("name", list(_bodies()))
def test_hostile_bodies_to_the_transactions_route_are_4xx_and_the_server_lives(
    tmp_path: Path, start_server: Start, name: str
) -> None:
    home, token = _home(tmp_path)
    url = start_server(home)
    res = httpx.post(
        f"{url}/api/v1/transactions",
        content=_bodies()[name],
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    assert 400 <= res.status_code < 500, (res.status_code, res.text[:300])
    assert res.headers["content-type"].startswith("application/problem+json"), res.headers
    assert "Traceback" not in res.text
    orjson.loads(res.content)  # a problem document, not an HTML error page
    # the server still answers and still accepts a good write
    assert post_opentaps(url, token, 1).status_code == 201


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, start_server: Start
) -> None:
    """65 MiB sent to a real server, once with its length declared and once chunked
    (no length: the server learns the size only by reading): both are 413, the
    server's memory does not take the body, and it keeps accepting writes."""
    from carbonledger.api.limits import API_MAX_BODY

    home, token = _home(tmp_path)
    url = start_server(home)
    size = API_MAX_BODY + 1024 * 1024
    declared = httpx.post(
        f"{url}/api/v1/transactions",
        content=b"x" * size,
        headers={"content-type": "application/json"},
        timeout=120,
    )
    assert declared.status_code == 413, declared.text[:200]
    assert declared.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:
        for _ in range(size // (1024 * 1024)):
            yield b"x" * (1024 * 1024)

    try:
        chunked = httpx.post(f"{url}/api/v1/transactions", content=chunks(), timeout=120)
        assert chunked.status_code == 413, chunked.text[:200]
    except httpx.HTTPError:
        pass  # the server may close the connection once it has answered mid-upload
    assert post_opentaps(url, token, 1).status_code == 201
