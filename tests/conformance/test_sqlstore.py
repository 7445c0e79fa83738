"""The SQLAlchemy off-chain store: the conformance suite on it (SQLite, and PostgreSQL when
present), its alembic migrations, its channel store and its verify catching tampering."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from carbonledger.adapters.sqlstore import SqlLedger, make_engine, upgrade
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import IntegrityError, NotFound
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from tests.conformance.backend import BackendConformance
from tests.conformance.world import Backend, build_world

TABLES = {"meta", "tx", "leaf", "node", "checkpoint", "channel_key", "blob", "alembic_version"}


class TestSqlStoreOnSqlite(BackendConformance):
    """The store as a ledger of its own (the embedded ledger's rules on SQLAlchemy)."""

    @pytest.fixture
    def backend(self) -> Backend:
        def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
            ledger = SqlLedger(f"sqlite:///{path / 'store.db'}", operator=admin)
            return ledger, ledger.channels

        return open_ledger


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests.conformance.pg import fresh_database, server_url

    yield from fresh_database(server_url())


class TestSqlStoreOnPostgres(BackendConformance):
    @pytest.fixture
    def backend(self, pg_url: str) -> Backend:
        def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
            ledger = SqlLedger(pg_url, operator=admin)
            return ledger, ledger.channels

        return open_ledger


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        from tests.conformance.pg import fresh_database, server_url

        yield from fresh_database(server_url())


def test_migrations_create_the_schema_once(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    engine.dispose()


def test_a_store_made_before_the_listing_indexes_gains_them_and_keeps_its_records(
    url: str, tmp_path: Path
) -> None:
    engine = make_engine(url)
    upgrade(engine, "0001")  # a store as the first release made it
    engine.dispose()
    world = build_world(lambda key, _: _ledger(url, key), tmp_path)
    assert isinstance(world.ledger, SqlLedger)
    sites = [i.item["id"] for i in world.ledger.items(ItemQuery(kind="site"))]
    world.ledger.close()

    again = SqlLedger(url, operator=world.admin)  # opening upgrades it
    indexes = {i["name"]: i["column_names"] for i in inspect(again.engine).get_indexes("leaf")}
    assert indexes["leaf_site_kind"] == ["site", "kind", "idx"]
    assert indexes["leaf_org_kind"] == ["org", "kind", "idx"]
    assert [i.item["id"] for i in again.items(ItemQuery(kind="site"))] == sites
    assert again.verify().ok
    if url.startswith("postgresql"):
        # With scans priced out (the tables are tiny), the planner must be able to read a
        # site's records in ledger order from the index alone, with no sort.
        with again.engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(
                row[0]
                for row in conn.execute(
                    text(
                        "EXPLAIN SELECT idx, seq, data FROM leaf WHERE site = 'x'"
                        " AND kind = 'emissions_record' ORDER BY idx LIMIT 100"
                    )
                )
            )
        assert "leaf_site_kind" in plan, plan
        assert "Sort" not in plan, plan
    again.close()


def _ledger(url: str, key: PrivateKey) -> tuple[LedgerPort, ChannelStore]:
    ledger = SqlLedger(url, operator=key)
    return ledger, ledger.channels


def test_channel_store(url: str) -> None:
    ledger = SqlLedger(url)
    store = ledger.channels
    store.put_keys("acme", 0, {"0xabc": b"wrapped"})
    store.put_keys("acme", 0, {"0xabc": b"wrapped"})  # stored by content: no conflict
    import hashlib

    digest = hashlib.sha256(b"wrapped").hexdigest()
    assert store.wrapped_key("acme", 0, "0xabc", digest) == b"wrapped"
    with pytest.raises(NotFound):
        store.wrapped_key("acme", 1, "0xabc", digest)
    blob_id = hashlib.sha256(b"sealed").hexdigest()
    store.put_blob(blob_id, "acme", 0, b"sealed")
    assert store.blob(blob_id) == b"sealed"
    assert [b for b, _ in store.blob_ids()] == [blob_id]
    with pytest.raises(IntegrityError):
        store.put_blob("00" * 32, "acme", 0, b"other")
    ledger.close()


def test_reopened_store_continues_and_verify_catches_tampering(url: str, tmp_path: Path) -> None:
    world = build_world(lambda key, _: _ledger(url, key), tmp_path)
    assert isinstance(world.ledger, SqlLedger)
    size = world.ledger.state().size
    world.ledger.close()
    again = SqlLedger(url, operator=world.admin)
    assert again.state().size == size
    assert again.verify().ok
    site = next(iter(again.items(ItemQuery(kind="site"))))
    with again.engine.begin() as conn:
        conn.execute(
            text("UPDATE leaf SET site = 'elsewhere' WHERE idx = :i"), {"i": site.leaf_index}
        )
    report = again.verify()
    assert not report.ok
    assert report.error is not None
    assert "query columns differ" in report.error
    again.close()
