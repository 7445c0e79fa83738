"""The tamper tests on the other backends: rows of the SQLAlchemy store edited in
PostgreSQL, and rows of the EVM backend's off-chain mirror edited beside the chain.

(The embedded file's variant is ``tests/ledger/test_tamper.py``.) PostgreSQL and
anvil are required under ``CARBONLEDGER_REQUIRE_EVM=1``, as in the rest of the suite.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from carbonledger.ports.ledger import VerifyReport
from tests.conformance.tamper import KEY, FileDb, TamperConformance, build, tampered_report
from tests.ledger_helpers import LEDGER_ID


# -- PostgreSQL ---------------------------------------------------------------------
class PgDb:
    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(**self.params)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as con:
            return [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in con.execute(sql.replace("?", "%s"), params).fetchall()
            ]

    def change(self, *statements: tuple[str, tuple[Any, ...]]) -> bool:
        import psycopg

        with self._connect() as con:
            try:
                with con.transaction():
                    for sql, params in statements:
                        con.execute(sql.replace("?", "%s"), params)
            except psycopg.errors.IntegrityError:
                return False
        return True


class PgCopy:
    def __init__(self, url: str, params: dict[str, Any]) -> None:
        self.url = url
        self.db = PgDb(params)

    def tampered(self) -> VerifyReport:
        from carbonledger.adapters.sqlstore import SqlLedger

        return tampered_report(lambda: closing(SqlLedger(self.url)))


def _pg_params(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return {
        "host": u.host,
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "dbname": u.database,
    }


@pytest.fixture(scope="module")
def pg_original() -> Iterator[str]:
    """A database holding the ledger, used as the template of every copy."""
    from carbonledger.adapters.sqlstore import SqlLedger
    from tests.conformance.pg import fresh_database, server_url

    databases = fresh_database(server_url())
    url = next(databases)
    ledger = SqlLedger(url, operator=KEY)
    build(ledger)
    ledger.close()
    yield url
    databases.close()


class TestSqlStorePostgresTamper(TamperConformance):
    @pytest.fixture
    def tamper_copy(self, pg_original: str) -> Iterator[Callable[[], PgCopy]]:
        import psycopg
        from sqlalchemy.engine import make_url

        template = make_url(pg_original)
        server = {**_pg_params(pg_original), "dbname": "postgres", "autocommit": True}
        made: list[str] = []

        def drop_all() -> None:
            with psycopg.connect(**server) as admin:
                while made:
                    admin.execute(f'DROP DATABASE IF EXISTS "{made.pop()}" WITH (FORCE)')

        def copy() -> PgCopy:
            drop_all()  # the previous example's copy
            name = "cl_tamper_" + uuid.uuid4().hex[:16]
            with psycopg.connect(**server) as admin:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
            made.append(name)
            url = template.set(database=name).render_as_string(hide_password=False)
            return PgCopy(url, _pg_params(url))

        yield copy
        drop_all()


# -- EVM: the off-chain mirror beside the chain ---------------------------------------
class MirrorCopy:
    def __init__(self, chain: dict[str, Any], path: Path) -> None:
        self.chain = chain
        self.db = FileDb(path)

    def tampered(self) -> VerifyReport:
        from carbonledger.adapters.evm import EvmLedger

        c = self.chain
        return tampered_report(
            lambda: closing(
                EvmLedger(c["rpc"], c["address"], self.db.path, KEY, deploy_block=c["block"])
            )
        )


@pytest.fixture(scope="module")
def evm_original(anvil_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from carbonledger.adapters.evm import EvmLedger, Rpc, deploy

    rpc = Rpc(anvil_url)
    info = deploy(rpc, KEY, LEDGER_ID)
    mirror = tmp_path_factory.mktemp("tamper-evm") / "offchain.db"
    ledger = EvmLedger(rpc, info["address"], mirror, KEY, deploy_block=info["block"])
    build(ledger)
    ledger.close()
    return {"rpc": rpc, "address": info["address"], "block": info["block"], "mirror": mirror}


class TestEvmMirrorTamper(TamperConformance):
    @pytest.fixture
    def tamper_copy(self, evm_original: dict[str, Any], tmp_path: Path) -> Callable[[], MirrorCopy]:
        def copy() -> MirrorCopy:
            target = Path(tempfile.mkdtemp(dir=tmp_path)) / "offchain.db"
            src, dst = sqlite3.connect(evm_original["mirror"]), sqlite3.connect(target)
            with closing(src), closing(dst):
                src.backup(dst)
            return MirrorCopy(evm_original, target)

        return copy
