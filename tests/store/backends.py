"""Store backends for tests: SQLite in tmp_path, and PostgreSQL in a database made for this
test session (one per xdist worker) with one schema per test, dropped at the end."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("TRILAT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
_schemas = itertools.count()


def _pg_base(url: str) -> str:
    return url.rsplit("/", 1)[0]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A uniquely named database for this session/worker; skips when PostgreSQL is down."""
    psycopg = pytest.importorskip("psycopg")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"trilat_test_{worker}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{_pg_base(PG_ADMIN)}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_postgres_url(database_url: str) -> str:
    """A URL whose connections see an empty schema of their own."""
    import psycopg

    schema = f"s{next(_schemas)}_{secrets.token_hex(3)}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return f"{database_url}?options=-csearch_path%3D{schema}"


def store_url_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return fresh_postgres_url(request.getfixturevalue("postgres_database"))
