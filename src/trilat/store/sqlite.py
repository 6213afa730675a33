"""SQLite store: WAL journal, ``synchronous=FULL`` so a committed write survives power loss."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trilat.core.errors import StoreError
from trilat.store._sql import SqlStore
from trilat.store.schema import SQLITE_MIGRATIONS


class SqliteStore(SqlStore):
    """A node store in one SQLite file (or ``:memory:``)."""

    migrations = SQLITE_MIGRATIONS
    _integrity_errors = (sqlite3.IntegrityError,)
    _database_errors = (sqlite3.Error,)

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        try:
            self._connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def _cursor(self) -> Any:
        return self._connection.cursor()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        cursor = self._connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            self._connection.rollback()
            raise
        self._connection.commit()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()
