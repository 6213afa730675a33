"""PostgreSQL store (psycopg 3): writers serialise on a transaction-scoped advisory lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import psycopg

from trilat.core.errors import StoreError
from trilat.store._sql import SqlStore
from trilat.store.schema import POSTGRES_MIGRATIONS

WRITER_LOCK: Final = 0x7472696C6174  # "trilat": one writer at a time per database


class PostgresStore(SqlStore):
    """A node store in a PostgreSQL database."""

    migrations = POSTGRES_MIGRATIONS
    _integrity_errors = (psycopg.errors.IntegrityError,)
    _database_errors = (psycopg.Error,)

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        try:
            self._connection = psycopg.connect(url, autocommit=False)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from exc
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def _bytewise(self, column: str) -> str:
        return f'({column} COLLATE "C")'

    def _cursor(self) -> Any:
        return self._connection.cursor()

    def _end_read(self, *, failed: bool = False) -> None:
        self._connection.rollback()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._connection.transaction():
            cursor = self._connection.cursor()
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            yield cursor

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()
