"""A node rebuilding its store after a reorganisation keeps answering: old state or new.

Two homes on one anvil chain, each with its own ``carbonledger serve`` process; the
second attached with ``chain attach`` (its store in SQLite or in PostgreSQL). A
reorganisation takes a recorded bill away, so both nodes rebuild their stores from
the chain; meanwhile a reader asks each node for its records and status in a loop.
Every answer is 200, and every listing is the one before the reorganisation or the
one after it, never a store half refilled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from carbonledger.services.home import Home
from tests.api_helpers import PASS
from tests.evm.test_follow_serve import _post_bill, _rpc, _signed_in
from tests.evm_homes import cli_json, cli_ok, evm_home, write_bills
from tests.process_helpers import free_port, serving, until


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The attached node's store: its home's SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    from tests.conformance.pg import fresh_database, server_url

    databases = fresh_database(server_url())
    yield next(databases)
    databases.close()


def _listing(url: str, auth: dict[str, str]) -> tuple[int, Any]:
    """What a reader sees: the status code and (when 200) the record ids and site count."""
    res = httpx.get(f"{url}/api/v1/records", params={"limit": 1000}, headers=auth, timeout=60)
    if res.status_code != 200:
        return res.status_code, res.text
    status = httpx.get(f"{url}/api/v1/status", timeout=60)
    if status.status_code != 200:
        return status.status_code, status.text
    return 200, ([r["id"] for r in res.json()["items"]], status.json()["sites"])


def test_readers_see_the_old_or_the_new_store_while_a_reorg_rebuilds_it(
    tmp_path: Path, node: Any, store: str | None
) -> None:
    first = evm_home(tmp_path / "first", node.url, 12, passphrase=PASS).path
    out = cli_ok(first, "service-account", "create", "erp", "--org", "bench", "--roles", "member")
    token = "clk_" + out.split("clk_", 1)[1].split()[0]
    # Many entries, so that refilling a store takes a while: 12 sites x 12 months of
    # bills, imported in six files (each file its own entry).
    for n in range(6):
        csv = write_bills(tmp_path / f"bills{n}.csv", 12, 12)
        text = csv.read_text().splitlines()
        csv.write_text("\n".join([text[0], *text[1 + n * 24 : 1 + (n + 1) * 24]]) + "\n")
        cli_json(first, "bills", "import", str(csv))
    contract = cli_json(first, "chain", "status")["contract"]
    second = tmp_path / "second"
    extra = ["--db", store] if store else []
    port = free_port()  # the first node's server: the second's peer for sealed blobs
    peer = ["--peer", f"http://127.0.0.1:{port}"]
    cli_ok(second, "chain", "attach", "--rpc", node.url, "--contract", contract, *extra, *peer)
    erp = Home(first).user_key("bench", "erp", PASS)
    with serving(first, port=port) as url_a, serving(second) as url_b:
        auth = {url_a: _signed_in(url_a, erp), url_b: _signed_in(url_b, erp)}
        snapshot = _rpc(node, "evm_snapshot")
        taken_away = _post_bill(url_a, token, 1)  # 2024: a year no import has
        until(
            "the record on the second node",
            lambda: taken_away in (_listing(url_b, auth[url_b])[1] or [[]])[0],
        )
        old = {url: _listing(url, auth[url]) for url in (url_a, url_b)}
        for got in old.values():
            assert got[0] == 200
            assert taken_away in got[1][0]

        answers: list[tuple[str, tuple[int, Any]]] = []
        stop = threading.Event()

        def read(url: str) -> None:
            while not stop.is_set():
                answers.append((url, _listing(url, auth[url])))

        readers = [threading.Thread(target=read, args=(u,)) for u in (url_a, url_b)]
        for reader in readers:
            reader.start()
        try:
            assert _rpc(node, "evm_revert", snapshot) is True
            for _ in range(3):
                _rpc(node, "evm_mine")
            for url in (url_a, url_b):
                until(
                    f"the reorganised record undone on {url}",
                    lambda url=url: taken_away not in _listing(url, auth[url])[1][0],
                )
        finally:
            stop.set()
            for reader in readers:
                reader.join()
        new = {url: _listing(url, auth[url]) for url in (url_a, url_b)}
        for url in (url_a, url_b):
            # The new listing is the old one without the record the chain no longer has.
            assert new[url][0] == 200
            assert new[url][1][0] == [r for r in old[url][1][0] if r != taken_away]
            assert new[url][1][1] == old[url][1][1] == 12
        assert len(answers) > 10  # the readers ran through the rebuilds
        for url, got in answers:
            assert got in (old[url], new[url]), f"{url} answered {got!r:.300}"

    for home in (first, second):
        assert cli_json(home, "verify")["ok"] is True
        chain = cli_json(home, "chain", "status")
        assert chain["entries_on_chain"] == chain["entries_off_chain"]


def test_a_database_role_that_cannot_make_the_rebuild_schema_is_named() -> None:
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    from carbonledger.adapters.evm.recovery import store_beside
    from carbonledger.adapters.sqlstore import SqlLedger
    from carbonledger.errors import ConfigurationError
    from tests.conformance.pg import admin_params, fresh_database, server_url

    databases = fresh_database(server_url())
    url = make_url(next(databases))
    role = "cl_norebuild_" + uuid.uuid4().hex[:8]
    admin = admin_params(url.render_as_string(hide_password=False))
    try:
        # A role that may use its store's schema but create no other schema.
        with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
            conn.execute(f'REVOKE CREATE ON DATABASE "{url.database}" FROM PUBLIC')
            conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
        store = SqlLedger(url.set(username=role, password="pw").render_as_string(False))
        try:
            with (
                pytest.raises(ConfigurationError, match="cannot create: grant it CREATE"),
                store_beside(store, None),
            ):
                pass
        finally:
            store.close()
    finally:
        databases.close()
        with psycopg.connect(**{**admin, "dbname": "postgres"}) as conn:  # type: ignore[arg-type]
            conn.execute(f"DROP ROLE IF EXISTS {role}")
