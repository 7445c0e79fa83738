"""A fresh PostgreSQL database per test, for the off-chain store on PostgreSQL.

The server is ``CARBONLEDGER_TEST_POSTGRES`` (scripts/ci-services.sh exports it),
else the role that script creates on localhost. Absent server: the tests skip
with the reason, unless ``CARBONLEDGER_REQUIRE_EVM=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REQUIRED = os.environ.get("CARBONLEDGER_REQUIRE_EVM") == "1"
DEFAULT_URL = "postgresql+psycopg://carbonledger:carbonledger@127.0.0.1:5432/postgres"


def server_url() -> str:
    """The admin URL of the test server, or skip (fail when required) if it is unreachable."""
    url = os.environ.get("CARBONLEDGER_TEST_POSTGRES") or DEFAULT_URL
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError as exc:  # pragma: no cover - the [evm] extra brings them
        if REQUIRED:
            raise
        pytest.skip(reason=f"PostgreSQL tests need psycopg and SQLAlchemy ({exc})")
    u = make_url(url)
    try:
        with psycopg.connect(
            host=u.host,
            port=u.port or 5432,
            user=u.username,
            password=u.password,
            dbname=u.database or "postgres",
            connect_timeout=3,
        ):
            pass
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL is not reachable at {u.render_as_string(hide_password=True)} ({exc});"
            " run `source scripts/ci-services.sh` or set CARBONLEDGER_TEST_POSTGRES"
        )
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(reason=message)
    return url


def admin_params(url: str) -> dict[str, object]:
    """psycopg's connection arguments for the server and database of ``url``, autocommit."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return {
        "host": u.host,
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "dbname": u.database or "postgres",
        "autocommit": True,
    }


def fresh_database(url: str) -> Iterator[str]:
    """Create an empty database on the server of ``url``; yield its URL; drop it."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = "cl_test_" + uuid.uuid4().hex[:16]
    params = admin_params(url)
    with psycopg.connect(**params) as admin:  # type: ignore[arg-type]
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield u.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(**params) as admin:  # type: ignore[arg-type]
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
